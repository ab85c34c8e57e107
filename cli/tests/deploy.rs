//! The `deploy/` manifests parse as YAML and are the objects the README
//! describes; `shadowtap completions` gives a script for every shell (the
//! bash one passes `bash -n`); `shadowtap man` gives roff pages. That every
//! `shadowtap` command line in deploy/ is a valid invocation is checked by
//! the binary's own unit test (cli/src/deploy_check.rs), where its parser
//! is.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

use common::run;

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(rel)
}

/// Every YAML document of `rel` as `(kind, metadata.name)`.
fn objects(rel: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(deploy(rel)).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            let v = <serde_norway::Value as serde::Deserialize>::deserialize(doc).unwrap();
            let s = |path: &[&str]| -> String {
                let mut at = &v;
                for p in path {
                    at = &at[*p];
                }
                at.as_str()
                    .unwrap_or_else(|| panic!("{rel}: no {path:?}"))
                    .to_owned()
            };
            assert!(!s(&["apiVersion"]).is_empty());
            (s(&["kind"]), s(&["metadata", "name"]))
        })
        .collect()
}

#[test]
fn the_manifests_parse_and_hold_what_they_should() {
    assert_eq!(
        objects("kubernetes/tee-daemonset.yaml"),
        [
            ("DaemonSet".to_owned(), "shadowtap-tee".to_owned()),
            ("Service".to_owned(), "shadowtap-tee-metrics".to_owned()),
        ]
    );
    assert_eq!(
        objects("kubernetes/replay-job.yaml"),
        [("Job".to_owned(), "shadowtap-replay".to_owned())]
    );
}

#[test]
fn the_daemonset_runs_on_the_host_network_with_one_capability_and_limits() {
    let text = std::fs::read_to_string(deploy("kubernetes/tee-daemonset.yaml")).unwrap();
    let docs: Vec<serde_norway::Value> = serde_norway::Deserializer::from_str(&text)
        .map(|d| <serde_norway::Value as serde::Deserialize>::deserialize(d).unwrap())
        .collect();
    let pod = &docs[0]["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"].as_bool(), Some(true));
    let c = &pod["containers"][0];
    let caps = &c["securityContext"]["capabilities"];
    assert_eq!(caps["drop"][0].as_str(), Some("ALL"));
    let added: Vec<&str> = caps["add"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(added, ["NET_RAW"]);
    assert_eq!(
        c["securityContext"]["allowPrivilegeEscalation"].as_bool(),
        Some(false)
    );
    assert_eq!(c["resources"]["limits"]["memory"].as_str(), Some("512Mi"));
    // The Service reaches the port --metrics listens on.
    let args: Vec<&str> = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let at = args.iter().position(|a| *a == "--metrics").unwrap();
    assert_eq!(args[at + 1], "0.0.0.0:9465");
    assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(9465));
    assert_eq!(docs[1]["spec"]["ports"][0]["port"].as_u64(), Some(9465));
}

#[test]
fn the_units_drop_root_for_one_capability() {
    for unit in ["shadowtap-capture.service", "shadowtap-tee.service"] {
        let text = std::fs::read_to_string(deploy(&format!("systemd/{unit}"))).unwrap();
        for line in [
            "User=shadowtap",
            "AmbientCapabilities=CAP_NET_RAW",
            "CapabilityBoundingSet=CAP_NET_RAW",
            "NoNewPrivileges=yes",
            "LogsDirectoryMode=0700",
            "Restart=on-failure",
        ] {
            assert!(text.lines().any(|l| l == line), "{unit} lacks {line}");
        }
    }
}

#[test]
fn completions_for_every_shell_and_bash_accepts_its_script() {
    // Each shell's own form of a script and of replay's --target.
    for (shell, marker, target) in [
        ("bash", "complete -F _shadowtap", "--target"),
        ("zsh", "#compdef shadowtap", "--target"),
        ("fish", "complete -c shadowtap", "-l target"),
        ("powershell", "Register-ArgumentCompleter", "--target"),
        (
            "elvish",
            "edit:completion:arg-completer[shadowtap]",
            "--target",
        ),
    ] {
        let out = run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        // Subcommands and their flags are in it.
        assert!(script.contains(target), "{shell}: no {target:?}");
        assert!(script.contains("completions"), "{shell}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shadowtap.bash");
    std::fs::write(&path, run(&["completions", "bash"]).stdout).unwrap();
    let status = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "bash -n refused the completion script");

    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_pages_are_roff_for_the_cli_and_each_command() {
    let out = run(&["man", "replay"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        page.contains(&format!(".TH SHADOWTAP-REPLAY 1  \"shadowtap {version}\"")),
        "{page}"
    );
    assert!(page.contains(".SH NAME\nshadowtap\\-replay \\-"), "{page}");
    assert!(page.contains("\\fB\\-\\-target\\fR"), "{page}");

    let out = run(&["man"]);
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH SHADOWTAP 1"), "{page}");
    assert!(page.contains("shadowtap\\-completions"), "{page}");

    let out = run(&["man", "report", "merge"]);
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains(".TH SHADOWTAP-REPORT-MERGE 1"));

    let out = run(&["man", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("`shadowtap` has no command `nope`"), "{err}");
}
