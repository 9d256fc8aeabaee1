//! wirelane on tokio (in progress).
