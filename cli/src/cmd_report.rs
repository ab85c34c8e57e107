//! `shadowtap report ...` (to be written).

/// Subcommands of `shadowtap report`.
#[derive(clap::Subcommand, Debug)]
pub enum ReportCommand {}

pub fn run(cmd: ReportCommand) -> anyhow::Result<u8> {
    match cmd {}
}
