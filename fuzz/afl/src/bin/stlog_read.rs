//! AFL++ entry of the `stlog_read` target (see `shadowtap_fuzz::stlog_read`).
fn main() {
    afl::fuzz!(|data: &[u8]| shadowtap_fuzz::stlog_read(data));
}
