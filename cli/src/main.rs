//! `shadowtap`: capture live HTTP/1.x traffic into compact logs and replay it
//! to mirror targets.

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

/// Lines on stderr that never panic: a long run must not die because the
/// terminal or pipe its stderr went to is gone.
/// A progress line on screen is taken off it meanwhile (`progress.rs`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        $crate::progress::suspend(|| {
            let _ = writeln!(std::io::stderr().lock(), $($arg)*);
        });
    }};
}
/// As `say!`, without the newline.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        $crate::progress::suspend(|| {
            let _ = write!(std::io::stderr().lock(), $($arg)*);
        });
    }};
}

mod cmd_capture;
mod cmd_convert;
mod cmd_demo;
mod cmd_diff;
mod cmd_docs;
mod cmd_inspect;
mod cmd_replay;
mod cmd_report;
mod cmd_serve;
mod cmd_tee;
mod exit;
mod progress;
mod show;
mod stderr;

#[cfg(test)]
mod deploy_check;

use shadowtap_cli::units;

/// mimalloc, not glibc malloc: its frees of memory another thread allocated
/// are lock-free. `tee`'s capture thread allocates each request and a mirror
/// thread, possibly at idle priority, frees it; with glibc that free takes
/// the capture thread's arena lock, and a mirror thread preempted while
/// holding it would stall the capture (and the kernel would drop packets).
/// Its 2.x line (the crate's `v2` feature), not 3.x: with 3.x's eager
/// arena commit, replay's peak RSS over the same log was 41 MB against
/// 29 MB with 2.x (`benches/replay_memory.sh`, README).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Capture live HTTP/1.x traffic into compact logs and replay it to mirror
/// targets.
#[derive(Parser, Debug)]
#[command(name = "shadowtap", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Record HTTP/1.x exchanges from an interface or a pcap/pcapng file.
    Capture(cmd_capture::CaptureArgs),
    /// Print one line per exchange of a log.
    Inspect(cmd_inspect::InspectArgs),
    /// Summarise a log: counts, rates, methods, statuses, sizes, flags.
    Stats(cmd_inspect::StatsArgs),
    /// Send the requests of one or more logs to mirror targets.
    Replay(cmd_replay::ReplayArgs),
    /// A fast HTTP/1.1 target for demos, tests and CI; can record what it receives.
    Serve(cmd_serve::ServeArgs),
    /// Mirror live traffic to targets as it happens (and optionally record it).
    Tee(cmd_tee::TeeArgs),
    /// Convert a log between formats (.stlog, .jsonl, .har, GoReplay .gor; curl commands).
    Convert(cmd_convert::ConvertArgs),
    /// Compare the responses of two logs of the same requests.
    Diff(cmd_diff::DiffArgs),
    /// Work with JSON reports (merge reports from several machines).
    #[command(subcommand)]
    Report(cmd_report::ReportCommand),
    /// Replay a bundled sample against a built-in target and print the report.
    Demo(cmd_demo::DemoArgs),
    /// Print a shell completion script on stdout (bash, zsh, fish,
    /// powershell, elvish).
    Completions(cmd_docs::CompletionsArgs),
    /// Print a man page (roff) on stdout: shadowtap's, or one command's.
    Man(cmd_docs::ManArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let result = match cli.command {
        Command::Capture(args) => cmd_capture::run(args),
        Command::Inspect(args) => cmd_inspect::inspect(args),
        Command::Stats(args) => cmd_inspect::stats(args),
        Command::Replay(args) => cmd_replay::run(args),
        Command::Serve(args) => cmd_serve::run(args),
        Command::Report(cmd) => cmd_report::run(cmd),
        Command::Tee(args) => cmd_tee::run(args),
        Command::Demo(args) => cmd_demo::run(args),
        Command::Diff(args) => cmd_diff::run(args),
        Command::Convert(args) => cmd_convert::run(args),
        Command::Completions(args) => cmd_docs::completions(args, Cli::command()),
        Command::Man(args) => cmd_docs::man(args, Cli::command()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) if exit::is_broken_pipe(&err) => ExitCode::from(exit::OK),
        Err(err) => {
            // `say!`, not `eprintln!`: a closed stderr must not turn an
            // error's exit code into a panic's 101.
            say!("shadowtap: error: {err:#}");
            ExitCode::from(exit::code_for(&err))
        }
    }
}
