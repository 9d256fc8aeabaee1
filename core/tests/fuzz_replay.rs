//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) through the fuzz targets'
//! bodies on stable, as a normal test: the bodies are plain functions in
//! `fuzz/src/lib.rs`, included here as a module, so the checks are the same ones libFuzzer
//! runs. A failing input is named in the panic message.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code, unused_imports)]
mod targets;

use std::path::{Path, PathBuf};

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let files = corpus_files(target);
    assert!(!files.is_empty(), "no corpus for {target}");
    for file in &files {
        let data = std::fs::read(file).expect("read corpus file");
        let result = std::panic::catch_unwind(|| targets::run(target, &data));
        if result.is_err() {
            panic!("{target}: {} fails", file.display());
        }
    }
}

#[test]
fn every_target_has_a_test() {
    assert_eq!(
        targets::TARGETS,
        [
            "http_conn",
            "ws_frame",
            "ws_conn",
            "ws_handshake",
            "upgrade_conn",
            #[cfg(feature = "tls")]
            "tls_transport",
            "ws_deflate",
        ]
    );
}

#[test]
fn replay_http_conn() {
    replay("http_conn");
}

#[test]
fn replay_ws_frame() {
    replay("ws_frame");
}

#[test]
fn replay_ws_conn() {
    replay("ws_conn");
}

#[test]
fn replay_ws_handshake() {
    replay("ws_handshake");
}

#[test]
fn replay_upgrade_conn() {
    replay("upgrade_conn");
}

#[cfg(feature = "tls")]
#[test]
fn replay_tls_transport() {
    replay("tls_transport");
}

#[test]
fn replay_ws_deflate() {
    replay("ws_deflate");
}
