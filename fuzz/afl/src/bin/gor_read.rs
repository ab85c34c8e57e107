//! AFL++ entry of the `gor_read` target (see `shadowtap_fuzz::gor_read`).
fn main() {
    afl::fuzz!(|data: &[u8]| shadowtap_fuzz::gor_read(data));
}
