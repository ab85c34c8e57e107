//! AFL++ entry of the `rewrite` target (see `shadowtap_fuzz::rewrite`).
fn main() {
    afl::fuzz!(|data: &[u8]| shadowtap_fuzz::rewrite(data));
}
