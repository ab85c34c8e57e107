//! AFL++ entry of the `units` target (see `shadowtap_fuzz::units`).
fn main() {
    afl::fuzz!(|data: &[u8]| shadowtap_fuzz::units(data));
}
