//! `shadowtap capture` (to be written).

/// Options of `shadowtap capture`.
#[derive(clap::Args, Debug)]
pub struct CaptureArgs {}

pub fn run(_args: CaptureArgs) -> anyhow::Result<u8> {
    crate::exit::usage("capture is not available yet")
}
