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

/// The tunnel seeds (fuzz/seeds.py) decode to the TCP segment they wrap,
/// through the layers they are named for: a seed the decoder skips would
/// start the fuzzer nowhere.
#[test]
fn tunnel_seeds_decode_through_their_layers() {
    use shadowtap_capture::decode::{decode_with, Decap, Layers};
    use shadowtap_capture::LinkType;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/decode");
    let seeds: Vec<PathBuf> = inputs(&dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tunnel-")
        })
        .collect();
    assert!(seeds.len() >= 10, "{seeds:?}");
    for path in seeds {
        let data = fs::read(&path).unwrap();
        let (settings, frame) = (data[0], &data[1..]);
        let link = match settings {
            0 => LinkType::Ethernet,
            0x81 => LinkType::Ppp,
            0x83 => LinkType::CiscoHdlc,
            0x84 => LinkType::Nflog,
            s => panic!("{}: link byte {s:#x}", path.display()),
        };
        let mut layers = Layers::default();
        let p = decode_with(link, frame, frame.len() as u32, &Decap::auto(), &mut layers)
            .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        assert_eq!(p.dst.port(), 80, "{}", path.display());
        assert!(
            p.payload.starts_with(b"GET") || p.payload.starts_with(b"POST"),
            "{}",
            path.display()
        );
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !["tunnel-ppp", "tunnel-chdlc", "tunnel-nflog"].contains(&name.as_str()) {
            assert!(!layers.seen.is_empty(), "{name}: no layer seen");
        }
    }
}
