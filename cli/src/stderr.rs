//! Lines on stderr from the capture thread: they take no lock (not even
//! std's stderr lock, which a mirror thread of lower priority could hold),
//! each goes out in one `write(2)`, and a stderr that went away is ignored
//! (a daemon must not die because its terminal or pipe is gone).

use shadowtap_capture::Notice;

/// Writes `bytes` to file descriptor 2, retrying short writes and EINTR,
/// giving up silently on any other error.
pub fn write_all(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe a live byte slice.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if n == 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// One line (a newline is added).
pub fn line(text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    write_all(line.as_bytes());
}

/// What the capture tells the user, as the lines `capture` and `tee` print.
pub fn notice(n: Notice<'_>) {
    match n {
        Notice::Metrics(addr) => line(&format!("shadowtap: metrics on http://{addr}/metrics")),
        Notice::Started(what) => line(&format!("shadowtap: {what}")),
        Notice::Warning(w) => line(&format!("shadowtap: warning: {w}")),
        Notice::Stats(s) => line(s),
        _ => {}
    }
}
