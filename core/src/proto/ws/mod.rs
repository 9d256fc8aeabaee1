//! WebSocket (in progress).
