//! Replays every committed fuzz input (`fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/`) through its target: deterministic, and
//! fast enough for every `cargo test`. A corpus directory that is missing
//! or empty fails, so this cannot pass by running nothing.

use std::fs;
use std::path::{Path, PathBuf};

use shadowtap_fuzz::TARGETS;

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, run) in TARGETS {
        let corpus = inputs(&root.join("corpus").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name} is missing or empty");
        let regressions = inputs(&root.join("regressions").join(name));
        for path in corpus.iter().chain(&regressions) {
            let data = fs::read(path).expect("a readable input");
            let ok = std::panic::catch_unwind(|| run(&data));
            assert!(ok.is_ok(), "{name}: {} fails", path.display());
        }
    }
}

#[test]
fn every_corpus_directory_has_a_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries {
            let name = e.expect("a directory entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                TARGETS.iter().any(|(t, _)| *t == name),
                "fuzz/{dir}/{name} names no target"
            );
        }
    }
}
