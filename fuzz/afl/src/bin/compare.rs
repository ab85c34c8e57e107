//! AFL++ entry of the `compare` target (see `shadowtap_fuzz::compare`).
fn main() {
    afl::fuzz!(|data: &[u8]| shadowtap_fuzz::compare(data));
}
