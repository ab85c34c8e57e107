//! AFL++ entry of the `decode` target (see `shadowtap_fuzz::decode`).
fn main() {
    afl::fuzz!(|data: &[u8]| shadowtap_fuzz::decode(data));
}
