//! AFL++ entry of the `target` target (see `shadowtap_fuzz::target`).
fn main() {
    afl::fuzz!(|data: &[u8]| shadowtap_fuzz::target(data));
}
