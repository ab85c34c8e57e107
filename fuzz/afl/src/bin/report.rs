//! AFL++ entry of the `report` target (see `shadowtap_fuzz::report`).
fn main() {
    afl::fuzz!(|data: &[u8]| shadowtap_fuzz::report(data));
}
