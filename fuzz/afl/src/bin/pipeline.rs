//! AFL++ entry of the `pipeline` target (see `shadowtap_fuzz::pipeline`).
fn main() {
    afl::fuzz!(|data: &[u8]| shadowtap_fuzz::pipeline(data));
}
