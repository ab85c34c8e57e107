//! `shadowtap serve` (to be written).

/// Options of `shadowtap serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {}

pub fn run(_args: ServeArgs) -> anyhow::Result<u8> {
    crate::exit::usage("serve is not available yet")
}
