//! Shared bits of the peer servers: argument parsing and the current-thread runtime.

use std::net::SocketAddr;

/// `--addr HOST:PORT` (default 127.0.0.1:9001) and `--tuned`; anything else is a usage
/// error.
pub fn addr_arg(name: &str) -> SocketAddr {
    let mut addr: SocketAddr = "127.0.0.1:9001".parse().expect("valid default");
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--tuned" {
            continue;
        }
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

/// Whether `--tuned` was given: the peer is then written the way its maintainers
/// recommend for throughput instead of the way its documentation's first example does.
pub fn tuned() -> bool {
    static TUNED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TUNED.get_or_init(|| std::env::args().any(|a| a == "--tuned"))
}

fn usage(name: &str) -> ! {
    eprintln!("usage: {name} [--addr HOST:PORT] [--tuned]");
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

/// Runs a peer: parses `--addr`, binds on a single-threaded runtime, prints
/// `listening on ADDR`, and spawns `serve(stream)` for every accepted connection
/// (TCP_NODELAY on), forever.
pub fn serve_forever<F, Fut>(name: &str, serve: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let addr = addr_arg(name);
    runtime().block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        println!(
            "listening on {}",
            listener.local_addr().expect("local addr")
        );
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve(stream));
        }
    });
}
