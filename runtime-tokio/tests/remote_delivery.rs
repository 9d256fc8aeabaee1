//! Messages of other processes, handed to a Hub by its backplane on a thread of its own,
//! reach the members on the server's runtime (through one member connection's driver):
//! every message, in order, also while members — perhaps the very driver asked to
//! deliver — come and go.

use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as TMessage;
use wirelane_core::app::backplane::envelope::{self, Envelope};
use wirelane_core::app::backplane::PresenceFuture;
use wirelane_core::app::{Backplane, BackplaneStats, Hub, Inbox, SlowClientPolicy};
use wirelane_core::proto::ws::DataKind;
use wirelane_tokio::{Context, Server, ServerHandle};

/// A backplane that only keeps the inbox, so that the test plays "the other process".
#[derive(Default)]
struct Loopback {
    inbox: Mutex<Option<Inbox>>,
}

impl Backplane for Loopback {
    fn attach(&self, inbox: Inbox) {
        *self.inbox.lock().unwrap() = Some(inbox);
    }
    fn local_members(&self, _topic: &str, _count: usize) {}
    fn publish(&self, _topic: &str, _kind: DataKind, _payload: &Bytes, _except: Option<u64>) {}
    fn member_count(&self, _topic: &str) -> PresenceFuture {
        Box::pin(async { None })
    }
    fn stats(&self) -> BackplaneStats {
        BackplaneStats::default()
    }
}

async fn member(hub: Hub, ctx: Context) {
    let _membership = hub.join("room", ctx.sender());
    while ctx.recv_message().await.is_some() {}
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads `count` text messages and checks they are "0", "1", ... in order.
async fn expect_in_order(ws: &mut Ws, count: usize) {
    for want in 0..count {
        let got = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("connection open")
            .expect("a frame");
        assert_eq!(got, TMessage::Text(want.to_string()), "message {want}");
    }
}

/// A server whose route `/` runs `handler` with a hub on a [`Loopback`] backplane, and
/// `clients` WebSocket clients connected to it, once every one of them has joined.
async fn room<F, Fut>(clients: usize, handler: F) -> (Hub, Arc<Loopback>, ServerHandle, Vec<Ws>)
where
    F: Fn(Hub, Context) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let backplane = Arc::new(Loopback::default());
    let hub = Hub::with_backplane(SlowClientPolicy::DropMessage, backplane.clone());
    let server = Server::new();
    server.port(0).await;
    let h = hub.clone();
    server.route("/", move |ctx| handler(h.clone(), ctx)).await;
    let handle = server.start().await.unwrap();
    let url = format!("ws://{}/", handle.local_addr());
    let mut ws = Vec::new();
    for _ in 0..clients {
        ws.push(tokio_tungstenite::connect_async(&url).await.unwrap().0);
    }
    while hub.members("room") < clients {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (hub, backplane, handle, ws)
}

/// The `i`th message of "the other process": the text `i`.
fn remote(i: usize) -> Envelope {
    let bytes = envelope::encode(7, i as u64, None, DataKind::Text, i.to_string().as_bytes());
    Envelope::decode(Bytes::from(bytes), 1 << 16).unwrap()
}

#[test]
fn remote_messages_reach_every_member_in_order_while_members_leave() {
    const MEMBERS: usize = 12;
    const LEAVING: usize = 4;
    const MESSAGES: usize = 600;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (hub, backplane, handle, mut clients) = room(MEMBERS, member).await;
        // The first members joined first: they are the ones the hub asks to deliver.
        let leaving: Vec<Ws> = clients.drain(..LEAVING).collect();
        let inbox = backplane.inbox.lock().unwrap().clone().unwrap();
        let sender = std::thread::spawn(move || {
            for i in 0..MESSAGES {
                inbox.deliver("room", &remote(i)).expect("the hub is alive");
                if i % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        });
        // Members leave while messages arrive.
        for mut ws in leaving {
            tokio::time::sleep(Duration::from_millis(3)).await;
            ws.close(None).await.unwrap();
        }
        for ws in &mut clients {
            expect_in_order(ws, MESSAGES).await;
        }
        sender.join().unwrap();
        let stats = hub.stats();
        assert_eq!(stats.remote, MESSAGES as u64);
        assert_eq!(stats.dropped_slow, 0);
        assert!(stats.delivered >= ((MEMBERS - LEAVING) * MESSAGES) as u64);
        drop(clients);
        handle.shutdown_and_wait().await;
    });
}

/// A member whose connection is gone while its membership lives on (moved into a task of
/// its own): the hub must not ask its driver, which will never run again, to deliver.
async fn lingering_member(hub: Hub, ctx: Context) {
    let membership = hub.join("room", ctx.sender());
    while ctx.recv_message().await.is_some() {}
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(membership);
    });
}

#[test]
fn remote_messages_are_not_left_with_a_driver_that_is_gone() {
    const LIVE: usize = 3;
    const GONE: usize = 6;
    const MESSAGES: usize = 40;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (hub, backplane, handle, mut clients) = room(GONE + LIVE, lingering_member).await;
        let mut live = clients.split_off(GONE);
        for mut ws in clients {
            ws.close(None).await.unwrap();
            while ws.next().await.is_some() {}
        }
        // Their drivers end; their memberships stay for 2 s.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(hub.members("room"), GONE + LIVE);
        let inbox = backplane.inbox.lock().unwrap().clone().unwrap();
        // One message at a time, each awaited: no later message may rescue one that was
        // handed to a driver that is gone.
        for i in 0..MESSAGES {
            let env = remote(i);
            let inbox = inbox.clone();
            std::thread::spawn(move || inbox.deliver("room", &env))
                .join()
                .unwrap();
            for ws in &mut live {
                let got = tokio::time::timeout(Duration::from_secs(1), ws.next())
                    .await
                    .unwrap_or_else(|_| panic!("message {i} not delivered within 1 s"))
                    .expect("connection open")
                    .expect("a frame");
                assert_eq!(got, TMessage::Text(i.to_string()));
            }
        }
        drop(live);
        handle.shutdown_and_wait().await;
    });
}
