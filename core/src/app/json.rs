//! JSON in and out (feature `json`): typed request bodies, responses and WebSocket
//! messages, with serde and serde_json.
//!
//! Bad input is never dropped silently: [`Context::request_json`] and
//! [`Context::recv_json`] return a [`JsonError`] that carries the parser's message, which
//! the handler can answer with ([`JsonError::respond`] sends `400` and that message), or
//! pass on with `?`.

use super::context::{Context, Mode};
use super::error::SendError;
use super::headers;
use super::sender::Sender;
use crate::proto::ws::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

/// Why a value could not be read from, or written as, JSON.
#[derive(Debug)]
pub enum JsonError {
    /// The request body or message is not valid JSON for the expected type (syntax error,
    /// missing field, wrong type...). The answer is `400 Bad Request`.
    Invalid(serde_json::Error),
    /// The value could not be serialized (a map with non-string keys, a failing
    /// `Serialize` implementation).
    Serialize(serde_json::Error),
    /// The message could not be sent (the connection is closed...).
    Send(SendError),
}

impl JsonError {
    /// The HTTP status this error calls for: `400` for bad input, `500` for a value that
    /// cannot be serialized, `503` when sending failed.
    pub fn status(&self) -> u16 {
        match self {
            JsonError::Invalid(_) => 400,
            JsonError::Serialize(_) => 500,
            JsonError::Send(_) => 503,
        }
    }

    /// Answers the request with [`JsonError::status`] and a JSON body
    /// `{"error": "<message>"}` (for `Invalid`, the parser's message, with line and column).
    /// On a WebSocket, sends that body as a Text message instead, and the connection stays
    /// open.
    pub async fn respond(&self, ctx: &Context) {
        let body = serde_json::json!({ "error": self.to_string() }).to_string();
        if ctx.is_websocket() {
            let _ = ctx.send_message(Message::Text(body)).await;
            return;
        }
        ctx.set_response_status_code(self.status())
            .await
            .set_response_header(headers::CONTENT_TYPE, headers::APPLICATION_JSON)
            .await
            .set_response_body(body)
            .await;
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Invalid(e) => write!(f, "invalid JSON: {e}"),
            JsonError::Serialize(e) => write!(f, "cannot serialize to JSON: {e}"),
            JsonError::Send(e) => write!(f, "cannot send JSON: {e}"),
        }
    }
}

impl std::error::Error for JsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JsonError::Invalid(e) | JsonError::Serialize(e) => Some(e),
            JsonError::Send(e) => Some(e),
        }
    }
}

impl From<SendError> for JsonError {
    fn from(e: SendError) -> Self {
        JsonError::Send(e)
    }
}

fn to_text<T: Serialize + ?Sized>(value: &T) -> Result<String, JsonError> {
    serde_json::to_string(value).map_err(JsonError::Serialize)
}

impl Context {
    /// HTTP: the request body parsed as JSON into `T`. An empty or malformed body, or one
    /// that does not fit `T`, is [`JsonError::Invalid`] with the parser's message.
    /// WebSocket: the next message, as [`Context::recv_json`] (a closed connection reads
    /// as an empty body: `Invalid`).
    pub async fn request_json<T: DeserializeOwned>(&self) -> Result<T, JsonError> {
        let body = self.get_request_body().await;
        serde_json::from_slice(&body).map_err(JsonError::Invalid)
    }

    /// Sets the response body to `value` as JSON, with `content-type: application/json`.
    /// On a WebSocket the body goes out as a Text message on the next `send_body`.
    pub async fn set_response_json<T: Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<&Self, JsonError> {
        let text = to_text(value)?;
        if matches!(self.inner.mode, Mode::Http { .. }) {
            self.set_response_header(headers::CONTENT_TYPE, headers::APPLICATION_JSON)
                .await;
        }
        Ok(self.set_response_body(text).await)
    }

    /// WebSocket: the next message parsed as JSON into `T` (Text or Binary), waiting for
    /// it; `None` once the peer has closed or the connection failed. A message that is not
    /// valid JSON for `T` is `Some(Err(JsonError::Invalid))`: the connection stays open,
    /// and the handler decides (answer it with [`JsonError::respond`], close, skip).
    pub async fn recv_json<T: DeserializeOwned>(&self) -> Option<Result<T, JsonError>> {
        let msg = self.recv_message().await?;
        let parsed = match &msg {
            Message::Text(s) => serde_json::from_str(s),
            Message::Binary(b) => serde_json::from_slice(b),
        };
        Some(parsed.map_err(JsonError::Invalid))
    }

    /// WebSocket: sends `value` as one JSON Text message, waiting while the outgoing queue
    /// is over its limit.
    pub async fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), JsonError> {
        let text = to_text(value)?;
        Ok(self.send_message(Message::Text(text)).await?)
    }
}

impl Sender {
    /// Sends `value` as one JSON Text message, waiting while the outgoing queue is over
    /// its limit.
    pub async fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), JsonError> {
        let text = to_text(value)?;
        Ok(self.send(Message::Text(text)).await?)
    }
}
