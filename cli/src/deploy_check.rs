//! Every `shadowtap` command line in `deploy/` is a valid invocation of
//! this binary: parsed by its own clap parser ([`Cli::try_parse_from`]) and
//! then by the same validation each command does before it starts (the
//! capture configuration, the replay plan), without running anything. A
//! unit test of the binary because the parser is the binary's.
//!
//! Where the lines are: systemd `ExecStart=` lines (continuations joined),
//! the `command` + `args` of every Kubernetes container whose command is
//! the binary (`$(VAR)` expanded as Kubernetes does, to `0`), and the
//! Dockerfile's `ENTRYPOINT` + `CMD` and the `docker run` lines of its
//! comments.

use std::path::{Path, PathBuf};

use clap::Parser as _;

use crate::{cmd_capture, cmd_replay, Cli, Command};

/// The image name the Dockerfile's comments run.
const IMAGE: &str = "shadowtap:0.1.0";
/// Deepest folder nesting under deploy/ that is searched.
const MAX_DEPTH: usize = 4;

/// One command line found, with the file it is in.
#[derive(Debug)]
struct Found {
    file: String,
    argv: Vec<String>,
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// The files under `dir`, sorted, as paths relative to it.
fn files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    assert!(depth <= MAX_DEPTH, "deploy/ nests deeper than {MAX_DEPTH}");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, depth + 1, out);
        } else {
            out.push(p);
        }
    }
}

/// Splits a command line into words as a shell (and systemd) does for
/// these files: blanks separate, `'...'` and `"..."` quote, and a `#`
/// starting a word starts a comment.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            // A comment, as a shell reads one.
            None if c == '#' && !in_word => break,
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unterminated quote in {line:?}");
    if in_word {
        out.push(word);
    }
    out
}

/// The logical lines of `text`: a line ending in `\` continues on the
/// next, whose leading `# ` (a comment's) is dropped when `comments`.
fn joined_lines(text: &str, comments: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        let mut line = raw.trim();
        if comments {
            line = line.trim_start_matches('#').trim();
        }
        let (body, more) = match line.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (line, false),
        };
        let acc = current.get_or_insert_with(String::new);
        if !acc.is_empty() {
            acc.push(' ');
        }
        acc.push_str(body.trim());
        if !more {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

fn systemd_commands(text: &str) -> Vec<Vec<String>> {
    joined_lines(text, false)
        .iter()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .map(words)
        .collect()
}

fn dockerfile_commands(text: &str) -> Vec<Vec<String>> {
    let json_form = |keyword: &str| -> Vec<String> {
        let lines: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix(keyword))
            .collect();
        assert_eq!(lines.len(), 1, "one {keyword} in the Dockerfile");
        serde_json::from_str(lines[0].trim()).unwrap()
    };
    let entrypoint = json_form("ENTRYPOINT ");
    let cmd = json_form("CMD ");
    let mut out = vec![[entrypoint.clone(), cmd.clone()].concat()];
    let comments: String = text
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    for line in joined_lines(&comments, true) {
        if !line.starts_with("docker run ") {
            continue;
        }
        let w = words(&line);
        let at = w
            .iter()
            .position(|x| x == IMAGE)
            .expect("docker run names the image");
        let given = &w[at + 1..];
        let args = if given.is_empty() {
            cmd.clone()
        } else {
            given.to_vec()
        };
        out.push([entrypoint.clone(), args].concat());
    }
    out
}

/// `$(NAME)` as Kubernetes expands it from the container's environment;
/// every variable the manifests use is a number.
fn expand_k8s(arg: &str) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(at) = rest.find("$(") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(')').expect("a closed $(") + at;
        out.push('0');
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn yaml_commands(v: &serde_norway::Value, out: &mut Vec<Vec<String>>) {
    use serde_norway::Value;
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_sequence)
            .map(|s| {
                s.iter()
                    .map(|x| expand_k8s(x.as_str().expect("string arguments")))
                    .collect()
            })
            .unwrap_or_default()
    };
    match v {
        Value::Mapping(m) => {
            let command = strings(m.get("command"));
            if command.first().is_some_and(|c| c.ends_with("/shadowtap")) {
                out.push([command, strings(m.get("args"))].concat());
            }
            for (_, child) in m {
                yaml_commands(child, out);
            }
        }
        Value::Sequence(s) => s.iter().for_each(|c| yaml_commands(c, out)),
        _ => {}
    }
}

fn all_commands() -> Vec<Found> {
    let dir = deploy_dir();
    let mut paths = Vec::new();
    files(&dir, 0, &mut paths);
    let mut found = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).unwrap();
        let name = p.file_name().unwrap().to_str().unwrap();
        let commands = if name.ends_with(".service") {
            systemd_commands(&text)
        } else if name == "Dockerfile" {
            dockerfile_commands(&text)
        } else if name.ends_with(".yaml") {
            let mut out = Vec::new();
            for doc in serde_norway::Deserializer::from_str(&text) {
                let v = <serde_norway::Value as serde::Deserialize>::deserialize(doc).unwrap();
                yaml_commands(&v, &mut out);
            }
            out
        } else {
            Vec::new()
        };
        let file = p.strip_prefix(&dir).unwrap().display().to_string();
        found.extend(commands.into_iter().map(|argv| Found {
            file: file.clone(),
            argv,
        }));
    }
    found
}

/// Parses `argv` (its first word the binary's path) and validates it as
/// the command would before starting.
fn check(argv: &[String]) -> Result<(), String> {
    if !argv.first().is_some_and(|b| b.ends_with("/shadowtap")) {
        return Err(format!("not the shadowtap binary: {argv:?}"));
    }
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    match cli.command {
        Command::Capture(args) => cmd_capture::config(&args)
            .map(drop)
            .map_err(|e| format!("{e:#}")),
        Command::Replay(args) => cmd_replay::Plan::from_args(args)
            .map(drop)
            .map_err(|e| e.to_string()),
        Command::Tee(args) => {
            shadowtap_cli::tee::QueueSize::new(args.queue)
                .map_err(|_| "--queue out of range".to_owned())?;
            cmd_capture::config_from(
                shadowtap_capture::PacketSource::Interface(args.interface),
                args.record,
                &args.capture,
            )
            .map_err(|e| format!("{e:#}"))?;
            cmd_replay::Plan::live(args.mirror, args.report, args.comparison)
                .map(drop)
                .map_err(|e| e.to_string())
        }
        Command::Demo(_) => Ok(()),
        other => Err(format!("no check for {other:?}")),
    }
}

#[test]
fn every_command_in_deploy_is_a_valid_invocation() {
    let found = all_commands();
    let listed: Vec<(&str, &str)> = found
        .iter()
        .map(|f| (f.file.as_str(), f.argv.get(1).map_or("", String::as_str)))
        .collect();
    assert_eq!(
        listed,
        [
            ("Dockerfile", "demo"),
            ("Dockerfile", "demo"),
            ("Dockerfile", "capture"),
            ("kubernetes/replay-job.yaml", "replay"),
            ("kubernetes/tee-daemonset.yaml", "tee"),
            ("systemd/shadowtap-capture.service", "capture"),
            ("systemd/shadowtap-tee.service", "tee"),
        ]
    );
    for f in &found {
        if let Err(e) = check(&f.argv) {
            panic!("{}: {:?}: {e}", f.file, f.argv);
        }
    }
}

#[test]
fn the_job_shards_by_its_completion_index() {
    let found = all_commands();
    let job = found
        .iter()
        .find(|f| f.file == "kubernetes/replay-job.yaml")
        .unwrap();
    assert_eq!(job.argv[2], "/logs/shard-0.stlog");
    assert!(job.argv.contains(&"error_rate<1%".to_owned()));
}

#[test]
fn invalid_lines_are_caught() {
    let unit = "[Service]\nExecStart=/usr/bin/shadowtap capture --interface eth0 \\\n    --port 8080 --no-such-flag -o x.stlog\n";
    let argv = &systemd_commands(unit)[0];
    assert_eq!(argv.len(), 9);
    assert!(check(argv).unwrap_err().contains("--no-such-flag"));
    // Parses, but the capture's own validation refuses it.
    let argv = &systemd_commands("ExecStart=/x/shadowtap capture -i eth0 -o x.stlog --port 0")[0];
    assert!(check(argv).unwrap_err().contains("--port 0"));
    // A value the replay plan refuses.
    let argv = words("/x/shadowtap replay a.stlog --target http://127.0.0.1:1 --sample 150");
    assert!(check(&argv).is_err());
    let argv = words("/bin/sh -c 'shadowtap demo'");
    assert!(check(&argv)
        .unwrap_err()
        .contains("not the shadowtap binary"));
}

#[test]
fn words_and_continuations_split_as_a_shell_would() {
    assert_eq!(
        words(r#"a 'b c' "d'e" f"g h"i x#y # z"#),
        ["a", "b c", "d'e", "fg hi", "x#y"]
    );
    assert_eq!(
        joined_lines("x \\\n  y\nz\n", false),
        ["x y".to_owned(), "z".to_owned()]
    );
    assert_eq!(expand_k8s("/r/shard-$(SHARD).json"), "/r/shard-0.json");
}
