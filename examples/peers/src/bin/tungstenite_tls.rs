//! Peer: tokio-tungstenite over tokio-rustls (ring, as wirelane), echo on one
//! current-thread runtime. The certificate and key come from `TLS_CERT` and `TLS_KEY`
//! (PEM files).
//!
//! Written for throughput the way tungstenite's maintainers recommend: replies are fed
//! into the sink (`feed`, no flush) while more messages are ready, and flushed once the
//! read side has nothing more for now, so a burst of requests is answered with one write
//! (and one TLS record batch) instead of one per message.

use futures_util::{FutureExt, SinkExt, StreamExt};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use wirelane_peers::serve_forever;

fn acceptor() -> TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = std::env::var("TLS_CERT").expect("TLS_CERT: PEM certificate file");
    let key = std::env::var("TLS_KEY").expect("TLS_KEY: PEM key file");
    let chain: Vec<_> = CertificateDer::pem_file_iter(&cert)
        .expect("certificate file")
        .collect::<Result<_, _>>()
        .expect("certificate");
    let key = PrivateKeyDer::from_pem_file(&key).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}

fn main() {
    let acceptor = acceptor();
    serve_forever("tungstenite_tls", move |stream| {
        serve(acceptor.clone(), stream)
    });
}

async fn serve(acceptor: TlsAcceptor, stream: TcpStream) {
    let Ok(tls) = acceptor.accept(stream).await else {
        return;
    };
    let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        let mut next = Some(msg);
        // Feed replies while messages are ready; flush when the read side is drained.
        while let Some(msg) = next.take() {
            if msg.is_close() {
                let _ = ws.close(None).await;
                return;
            }
            if (msg.is_text() || msg.is_binary()) && ws.feed(msg).await.is_err() {
                return;
            }
            if let Some(Some(Ok(m))) = ws.next().now_or_never() {
                next = Some(m);
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}
