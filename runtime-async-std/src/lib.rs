//! wirelane on async-std (in progress).
