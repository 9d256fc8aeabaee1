//! wirelane on smol (in progress).
