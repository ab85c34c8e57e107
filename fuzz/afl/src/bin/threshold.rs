//! AFL++ entry of the `threshold` target (see `shadowtap_fuzz::threshold`).
fn main() {
    afl::fuzz!(|data: &[u8]| shadowtap_fuzz::threshold(data));
}
