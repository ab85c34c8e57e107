//! `shadowtap completions` and `shadowtap man`: shell completion scripts
//! and roff man pages, generated from the same clap parser the binary runs,
//! so they never drift from the flags.
//!
//! Both are rendered into memory first and then written to stdout: the
//! generators' own writers panic on a write error, and a closed pipe
//! (`shadowtap man | head`) must end with exit 0, not a panic.

use std::io::Write as _;

use anyhow::Context as _;

use crate::exit;

/// Options of `shadowtap completions`.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Options of `shadowtap man`.
#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// The command whose page to print (`replay`, or `report merge`); the
    /// page of `shadowtap` itself when not given.
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Prints the completion script for `args.shell` of the parser `cli`.
pub fn completions(args: CompletionsArgs, mut cli: clap::Command) -> anyhow::Result<u8> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cli, "shadowtap", &mut script);
    write_stdout(&script)
}

/// Prints the man page of `args.command` (a path of subcommand names) of
/// the parser `cli`.
pub fn man(args: ManArgs, cli: clap::Command) -> anyhow::Result<u8> {
    let page = render_man(cli, &args.command)?;
    write_stdout(&page)
}

/// The roff page of the subcommand at `path` under `cli`, named as man
/// pages of subcommands are (`shadowtap-replay`, `shadowtap-report-merge`).
fn render_man(mut cli: clap::Command, path: &[String]) -> anyhow::Result<Vec<u8>> {
    // Built, so every subcommand has its full `bin_name` for the synopsis
    // and the propagated version.
    cli.build();
    let mut cmd = cli;
    let mut name = String::from("shadowtap");
    for word in path {
        let Some(sub) = cmd.find_subcommand(word).cloned() else {
            let known: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
            return exit::usage(format!(
                "`{name}` has no command `{word}` (its commands: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        };
        name.push('-');
        name.push_str(sub.get_name());
        cmd = sub;
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .title(name.to_uppercase())
        .section("1")
        // The package, not the subcommand, is what the page documents a
        // version of (the footer's source: `shadowtap 0.1.0`).
        .source(concat!("shadowtap ", env!("CARGO_PKG_VERSION")))
        .render(&mut page)
        .context("rendering the man page")?;
    Ok(page)
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    Ok(exit::OK)
}
