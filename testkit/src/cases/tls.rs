//! TLS cases: what only a TLS listener does (SNI, both ports at once, the handshake
//! timeout, hostile handshakes, close_notify). The rest of the suite also runs over TLS
//! ([`crate::tls::OverTls`]); these run on the plain harness and set TLS up themselves.

use super::hello;
use crate::client::Conn;
use crate::tls::{self, client_config, server_config, SERVER_NAME};
use crate::util::eventually;
use crate::{Harness, TestServer, STEP_TIMEOUT};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wirelane_core::app::Context;

/// Answers `tls=<is_tls> sni=<server name or ->`.
async fn who(ctx: Context) {
    let sni = ctx.tls_server_name().unwrap_or_else(|| "-".into());
    let body = format!("tls={} sni={sni}", ctx.is_tls());
    ctx.set_response_body(body).await;
}

fn tls_server<H: Harness>(timeout: Duration, max_connections: usize) -> TestServer {
    let server = TestServer::start::<H, _, _>(move |s| async move {
        s.tls(server_config().handshake_timeout(timeout)).await;
        s.max_connections(max_connections).await;
        s.route("/", hello).await;
        s.route("/who", who).await;
    });
    tls::register(server.addr());
    server
}

/// The connection count drops back to `n` within the step timeout.
async fn connections_back_to<H: Harness>(server: &TestServer, n: usize, what: &str) {
    let h = server.handle().clone();
    assert!(
        eventually(STEP_TIMEOUT, || h.connections() == n).await,
        "[{}] {what}: {} connections left, {n} expected",
        H::NAME,
        h.connections()
    );
}

/// Raw bytes to `addr`; returns what came back before the server ended the connection.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(bytes).await;
    let mut got = Vec::new();
    let r = tokio::time::timeout(STEP_TIMEOUT, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(r.is_ok(), "the server did not end the connection");
    got
}

/// The handler sees the connection is TLS and the server name the client sent.
pub async fn tls_sni_and_is_tls<H: Harness>() {
    let server = tls_server::<H>(Duration::from_secs(10), 100);
    let mut c = Conn::connect(server.addr()).await;
    c.send("GET /who HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let r = c.read_response(false).await;
    assert_eq!(r.text(), format!("tls=true sni={SERVER_NAME}"));
}

/// One server, a plaintext port and a TLS port, the same routes; one handle for both.
pub async fn tls_plain_and_tls_ports<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.tls_port(0).await;
        s.tls(server_config()).await;
        s.route("/who", who).await;
    });
    let tls_addr = server.handle().tls_local_addr().expect("a TLS address");
    assert_ne!(tls_addr, server.addr());
    let r = crate::client::get(server.addr(), "/who").await;
    assert_eq!(r.text(), "tls=false sni=-");
    tls::register(tls_addr);
    let r = crate::client::get(tls_addr, "/who").await;
    tls::unregister(tls_addr);
    assert_eq!(r.text(), format!("tls=true sni={SERVER_NAME}"));
    // A TLS port without a TLS configuration is refused at start.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        H::block_on(async move {
            let s = wirelane_core::app::Server::with_runtime(H::runtime());
            s.port(0).await;
            s.tls_port(0).await;
            let _ = tx.send(s.start().await.map(|_| ()).map_err(|e| e.to_string()));
        })
    });
    let err = rx.recv_timeout(STEP_TIMEOUT).expect("start result");
    assert!(err.unwrap_err().contains("no TLS configuration"));
}

/// Plaintext HTTP to the TLS port gets a plaintext 400 that says so, then the end.
pub async fn tls_plaintext_http_gets_400<H: Harness>() {
    let server = tls_server::<H>(Duration::from_secs(10), 100);
    let got = raw_exchange(server.addr(), b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(text.contains("HTTPS"), "{text}");
    connections_back_to::<H>(&server, 0, "after plaintext HTTP").await;
}

/// Garbage, a record header announcing an oversized ClientHello, a fatal alert, and
/// random bytes in a handshake record each end in a close (not a hang), and the server
/// serves the next client.
pub async fn tls_hostile_handshakes<H: Harness>() {
    let server = tls_server::<H>(Duration::from_secs(10), 100);
    let mut huge_hello = vec![0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff];
    huge_hello.extend(std::iter::repeat_n(0x41, 100_000));
    let mut random_hs = vec![0x16, 0x03, 0x01, 0x02, 0x00];
    let mut x: u32 = 0x9e37_79b9;
    random_hs.extend((0..512).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    let cases: [(&str, Vec<u8>); 5] = [
        ("garbage", vec![0x00; 64]),
        ("binary junk", (0..=255u8).rev().collect()),
        ("oversized ClientHello", huge_hello),
        (
            "fatal alert",
            vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
        ),
        ("random handshake record", random_hs),
    ];
    for (what, bytes) in cases {
        let t0 = Instant::now();
        let got = raw_exchange(server.addr(), &bytes).await;
        assert!(
            got.is_empty() || got[0] == 0x15,
            "{what}: only an alert may come back, got {got:?}"
        );
        assert!(t0.elapsed() < Duration::from_secs(3), "{what}: slow close");
        connections_back_to::<H>(&server, 0, what).await;
    }
    let r = crate::client::get(server.addr(), "/who").await;
    assert_eq!(r.status, 200);
}

/// A client that stalls in the handshake (nothing, or half a ClientHello) is dropped at
/// the handshake timeout; a handshake counts against `max_connections` until then.
pub async fn tls_handshake_timeout<H: Harness>() {
    let server = tls_server::<H>(Duration::from_millis(400), 1);
    let t0 = Instant::now();
    let mut stalled = TcpStream::connect(server.addr()).await.expect("connect");
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x80, 0x01, 0x00])
        .await
        .expect("write");
    // Served only once the stalled handshake has timed out.
    let r = crate::client::get(server.addr(), "/").await;
    assert_eq!(r.status, 200);
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(350),
        "served while the limit was taken by a handshake ({waited:?})"
    );
    let mut buf = [0u8; 64];
    let end = tokio::time::timeout(STEP_TIMEOUT, stalled.read(&mut buf)).await;
    assert!(
        matches!(end, Ok(Ok(0)) | Ok(Err(_))),
        "stalled handshake not closed: {end:?}"
    );
    connections_back_to::<H>(&server, 0, "after the timeout").await;
}

/// A TLS client that connects with tokio-rustls directly (no test wrapper).
async fn rustls_client(addr: SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(SERVER_NAME).unwrap();
    tokio::time::timeout(
        STEP_TIMEOUT,
        tokio_rustls::TlsConnector::from(client_config()).connect(name, tcp),
    )
    .await
    .expect("handshake in time")
    .expect("handshake")
}

/// A response with `Connection: close` ends with `close_notify` (a clean TLS end, which
/// rustls reports as EOF); ALPN is `http/1.1`.
pub async fn tls_close_notify_and_alpn<H: Harness>() {
    let server = tls_server::<H>(Duration::from_secs(10), 100);
    let tcp = TcpStream::connect(server.addr()).await.expect("connect");
    let mut config = (*client_config()).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(SERVER_NAME).unwrap();
    let mut s = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("handshake");
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut all = Vec::new();
    let r = tokio::time::timeout(STEP_TIMEOUT, s.read_to_end(&mut all)).await;
    let r = r.expect("the server ends the connection");
    assert!(r.is_ok(), "no close_notify: {r:?}");
    assert!(String::from_utf8_lossy(&all).ends_with("Hello, World!"));
}

/// Truncation (TCP end without close_notify) and a reset in the middle of a record
/// end the connection; the server does not wait for the rest.
pub async fn tls_truncation_and_reset<H: Harness>() {
    let server = tls_server::<H>(Duration::from_secs(10), 100);
    // Half a request, then TCP FIN without close_notify.
    let mut s = rustls_client(server.addr()).await;
    s.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    s.flush().await.unwrap();
    let (tcp, _) = s.get_mut();
    tcp.shutdown().await.unwrap();
    connections_back_to::<H>(&server, 0, "after truncation").await;

    // Part of a record, then a reset.
    let s = rustls_client(server.addr()).await;
    let (mut tcp, _) = s.into_inner();
    tcp.write_all(&[0x17, 0x03, 0x03, 0x40, 0x00, 1, 2, 3])
        .await
        .unwrap();
    // SO_LINGER 0: the close sends a reset (socket2, as tokio's setter is deprecated).
    let tcp = tcp.into_std().unwrap();
    socket2::SockRef::from(&tcp)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(tcp);
    connections_back_to::<H>(&server, 0, "after a reset mid-record").await;

    let r = crate::client::get(server.addr(), "/who").await;
    assert_eq!(r.status, 200);
}
