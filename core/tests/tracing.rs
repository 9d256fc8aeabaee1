//! The `tracing` spans and events (feature `tracing`), recorded by a small subscriber on
//! the memory runtime (which runs every task on the test's thread).

// The framework's: nothing to test without it (`--no-default-features`).
#![cfg(feature = "framework")]

mod support;

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use support::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use wirelane_core::app::memory::{Faults, MemRuntime};
use wirelane_core::app::Context;
use wirelane_core::proto::WsLimits;

/// Everything seen, as text lines: `span NAME k=v...`, `record k=v`, `event k=v...`.
#[derive(Clone, Default)]
struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
    next: Arc<AtomicU64>,
    /// Spans by id, and the ones entered (for `Span::current`).
    spans: Arc<Mutex<Vec<&'static Metadata<'static>>>>,
    entered: Arc<Mutex<Vec<Id>>>,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!(" {}={}", field.name(), value));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut f = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut f);
        self.lines.lock().unwrap().push(f.0);
        self.spans.lock().unwrap().push(span.metadata());
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut f = Fields("record".into());
        values.record(&mut f);
        self.lines.lock().unwrap().push(f.0);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields("event".into());
        event.record(&mut f);
        self.lines.lock().unwrap().push(f.0);
    }
    fn enter(&self, id: &Id) {
        self.entered.lock().unwrap().push(id.clone());
    }
    fn exit(&self, _: &Id) {
        self.entered.lock().unwrap().pop();
    }
    fn current_span(&self) -> tracing_core::span::Current {
        match self.entered.lock().unwrap().last() {
            Some(id) => {
                let meta = self.spans.lock().unwrap()[id.into_u64() as usize - 1];
                tracing_core::span::Current::new(id.clone(), meta)
            }
            None => tracing_core::span::Current::none(),
        }
    }
}

async fn hello(ctx: Context) {
    tracing::info!("inside the handler");
    ctx.set_response_status_code(201)
        .await
        .set_response_body("hi")
        .await;
}

async fn ws_echo(ctx: Context) {
    while let Some(m) = ctx.recv_message().await {
        if ctx.send_message(m).await.is_err() {
            break;
        }
    }
}

#[test]
fn connections_requests_and_websocket_events_are_traced() {
    let rec = Recorder::default();
    let lines = rec.lines.clone();
    tracing::subscriber::with_default(rec, || {
        let rt = MemRuntime::new();
        let h = start(&rt, |s| async move {
            s.ws_limits(WsLimits {
                ping_interval: None,
                idle_timeout: None,
                ..WsLimits::default()
            })
            .await;
            s.ws_protocols(&["chat"]).await;
            s.get("/hello", hello).await;
            s.route("/ws", ws_echo).await;
            s
        });
        let c = connect(&rt, &h, Faults::default());
        c.write(&get("/hello"));
        c.write(b"GET / HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n");
        rt.run_until_idle();
        let _ = c.read_available();
        let ws = connect(&rt, &h, Faults::default());
        let mut up = String::from_utf8(upgrade("/ws")).unwrap();
        up.insert_str(up.len() - 2, "Sec-WebSocket-Protocol: chat\r\n");
        ws.write(up.as_bytes());
        ws.write(&text("x"));
        ws.write(&close_frame(1000, "bye"));
        rt.run_until_idle();
        let _ = ws.read_available();
        ws.shutdown_write();
        c.shutdown_write();
        rt.run_until_idle();
        assert_clean(&h);
    });
    let lines = lines.lock().unwrap().clone();
    let text = lines.join("\n");
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(
        has("span connection peer=") && has("protocol=http"),
        "{text}"
    );
    assert!(has("span request method=GET path=/hello"), "{text}");
    assert!(has("event message=inside the handler"), "{text}");
    assert!(has("record status=201"), "{text}");
    assert!(has("duration_us="), "{text}");
    assert!(has("event message=response status=201"), "{text}");
    assert!(has("kind=http_malformed"), "{text}");
    assert!(has("record protocol=websocket"), "{text}");
    assert!(
        has("message=websocket opened path=/ws subprotocol=chat extensions="),
        "{text}"
    );
    assert!(
        has("message=websocket closed code=1000 reason=bye by=peer"),
        "{text}"
    );
}
