//! Shared bits of the peer servers: argument parsing and the current-thread runtime.

use std::net::SocketAddr;

/// `--addr HOST:PORT` (default 127.0.0.1:9001); anything else is a usage error.
pub fn addr_arg(name: &str) -> SocketAddr {
    let mut addr: SocketAddr = "127.0.0.1:9001".parse().expect("valid default");
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match (flag.as_str(), it.next()) {
            ("--addr", Some(v)) => match v.parse() {
                Ok(a) => addr = a,
                Err(_) => usage(name),
            },
            _ => usage(name),
        }
    }
    addr
}

fn usage(name: &str) -> ! {
    eprintln!("usage: {name} [--addr HOST:PORT]");
    std::process::exit(2)
}

/// A single-threaded tokio runtime, as every peer uses.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The `GET /` body every server answers.
pub const HELLO: &str = "Hello, World!";
