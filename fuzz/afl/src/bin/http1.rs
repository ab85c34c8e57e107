//! AFL++ entry of the `http1` target (see `shadowtap_fuzz::http1`).
fn main() {
    afl::fuzz!(|data: &[u8]| shadowtap_fuzz::http1(data));
}
