//! `shadowtap replay` and `shadowtap demo` (to be written).

/// Options of `shadowtap replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {}

/// Options of `shadowtap demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {}

pub fn run(_args: ReplayArgs) -> anyhow::Result<u8> {
    crate::exit::usage("replay is not available yet")
}

pub fn demo(_args: DemoArgs) -> anyhow::Result<u8> {
    crate::exit::usage("demo is not available yet")
}
