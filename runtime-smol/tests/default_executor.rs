//! `Server::new()` runs on smol's global executor: nothing but `smol::block_on` needed.

use std::io::{Read, Write};
use wirelane_smol::*;

async fn hello(ctx: Context) {
    ctx.set_response_body("hello from smol").await;
}

#[test]
fn server_new_serves_on_the_global_executor() {
    smol::block_on(async {
        let server: Server = Server::new();
        server.host("127.0.0.1").await;
        server.port(0).await;
        server.route("/", hello).await;
        let handle = server.start().await.expect("start");
        let addr = handle.local_addr();
        let response = smol::unblock(move || {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .expect("write");
            let mut out = String::new();
            s.read_to_string(&mut out).expect("read");
            out
        })
        .await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("hello from smol"), "{response}");
        handle.shutdown_and_wait().await;
    });
}
