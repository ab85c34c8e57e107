//! The libpcap edge: opening a live interface or a pcap/pcapng file, reading
//! its packets, and saying once why that failed.
//!
//! Everything libpcap hands over leaves this module as a [`Next`]: a frame
//! with its capture time, "nothing yet", the end, or why reading stopped.

use std::os::fd::AsRawFd as _;
use std::path::Path;
use std::time::Duration;

use pcap::{Activated, Capture, Precision};

use super::filter::{attach_socket_filter, is_loopback, kernel_filter};
use super::watch::FilePosition;
use super::{CaptureConfig, CaptureError, PacketSource};
use crate::LinkType;

/// How long a live read waits before the loop looks at its flags.
pub(super) const READ_TIMEOUT_MS: i32 = 100;

/// What a [`PacketReader`] read.
pub(super) enum Next<'a> {
    /// A frame: capture time (ns since the epoch), captured bytes, length
    /// on the wire.
    Packet(u64, &'a [u8], u32),
    /// Nothing to read yet (live capture).
    Idle,
    /// The file ended.
    End,
    /// The file is cut short or damaged here: libpcap's reason. The packets
    /// before it were read.
    Cut(String),
    /// Reading failed (live capture).
    Failed(CaptureError),
}

/// An opened packet source: what the capture loop needs of it.
pub(super) trait PacketReader {
    /// A live capture (wall-clock stops, draining, pacing), not a file.
    fn live(&self) -> bool;
    /// The link type of the frames.
    fn link(&self) -> LinkType;
    /// The next frame, or why there is none.
    fn next(&mut self) -> Next<'_>;
    /// Waits up to `timeout_ms` for something to read; false when nothing
    /// came.
    fn wait_readable(&mut self, timeout_ms: i32) -> bool;
    /// Packets dropped by the kernel and by the interface, when known.
    fn drops(&mut self) -> Option<(u64, u64)>;
}

/// A pcap or pcapng file.
pub(super) struct FileReader {
    cap: Capture<pcap::Offline>,
    link: LinkType,
}

impl FileReader {
    pub(super) fn open(path: &Path) -> Result<FileReader, CaptureError> {
        let fail = |source| CaptureError::OpenPcap {
            path: path.to_path_buf(),
            source,
        };
        // The operating system's reason is clearer than libpcap's retelling.
        std::fs::File::open(path).map_err(|e| fail(OpenPcapError::Io(e)))?;
        let cap = Capture::from_file_with_precision(path, Precision::Nano).map_err(|e| {
            fail(OpenPcapError::Libpcap(libpcap_reason(
                &e,
                &path.to_string_lossy(),
            )))
        })?;
        let link = link_of(&cap)?;
        Ok(FileReader { cap, link })
    }

    /// Where the file is being read, for a watcher on another thread;
    /// `None` when libpcap does not read it through a stdio stream.
    pub(super) fn position(&self) -> Option<FilePosition> {
        // SAFETY: the handle is a live offline capture; pcap_file returns
        // the stdio stream it reads from (or null), which lives as long as
        // the handle; fileno only reads the stream's descriptor.
        let fd = unsafe {
            let file = pcap_file(self.cap.as_ptr().cast());
            if file.is_null() {
                return None;
            }
            libc::fileno(file)
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: the descriptor is open while the handle is, and is
        // borrowed only to be duplicated right here.
        FilePosition::of(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) })
    }
}

// The pcap crate does not wrap it; libpcap is linked through that crate.
extern "C" {
    /// libpcap: the stdio stream an offline capture reads.
    fn pcap_file(p: *mut libc::c_void) -> *mut libc::FILE;
}

impl PacketReader for FileReader {
    fn live(&self) -> bool {
        false
    }

    fn link(&self) -> LinkType {
        self.link
    }

    fn next(&mut self) -> Next<'_> {
        match self.cap.next_packet() {
            Ok(p) => Next::Packet(ts_ns(&p.header.ts, true), p.data, p.header.len),
            Err(pcap::Error::NoMorePackets) => Next::End,
            Err(e) => Next::Cut(e.to_string()),
        }
    }

    fn wait_readable(&mut self, _timeout_ms: i32) -> bool {
        true
    }

    fn drops(&mut self) -> Option<(u64, u64)> {
        None
    }
}

/// A live capture on an interface.
pub(super) struct LiveReader {
    cap: Capture<pcap::Active>,
    link: LinkType,
    /// The filter the kernel applies.
    pub(super) applied: String,
}

impl LiveReader {
    /// Opens a live capture on `iface` with `cfg`'s snap length, buffer,
    /// block timeout and filter.
    pub(super) fn open(cfg: &CaptureConfig, iface: &str) -> Result<LiveReader, CaptureError> {
        let classify = |e: pcap::Error| classify(iface, &e);
        let mut inactive = Capture::from_device(iface)
            .map_err(classify)?
            .promisc(true)
            .snaplen(i32::try_from(cfg.snaplen).unwrap_or(i32::MAX));
        inactive = match cfg.block_timeout {
            // libpcap's read timeout is the kernel's block retire timeout in
            // TPACKET_V3 mode (at least 1 ms: 0 would mean "never").
            Some(t) => inactive.immediate_mode(false).timeout(block_timeout_ms(t)),
            None => inactive.immediate_mode(true).timeout(READ_TIMEOUT_MS),
        };
        if let Some(b) = cfg.buffer_size {
            inactive = inactive.buffer_size(i32::try_from(b).unwrap_or(i32::MAX));
        }
        let mut cap = inactive.open().map_err(classify)?;
        let filter = cfg.filter();
        cap.filter(&filter, true)
            .map_err(|e| CaptureError::Filter {
                filter: filter.clone(),
                source: LibpcapReason(libpcap_reason(&e, "")),
            })?;
        // A narrower kernel filter is attached to the socket directly, not
        // through libpcap: after a filter change libpcap re-filters the
        // packets already buffered in user space, where its interpreter
        // cannot read a packet's direction and would reject them all. Its
        // own (plain) filter stays in place for that, which selects the same
        // packets there.
        let narrower = kernel_filter(&filter, is_loopback(iface));
        let applied = if narrower != filter
            && cap
                .compile(&narrower, true)
                .is_ok_and(|prog| attach_socket_filter(cap.as_raw_fd(), &prog))
        {
            narrower
        } else {
            filter
        };
        // Non-blocking reads plus our own poll() with a timeout: libpcap's
        // read timeout is not honoured in immediate mode on every platform,
        // and it restarts its own poll() after a signal.
        let cap = cap.setnonblock().map_err(classify)?;
        let link = link_of(&cap)?;
        Ok(LiveReader { cap, link, applied })
    }

    /// The capture handle (tests read it directly).
    #[cfg(test)]
    pub(super) fn capture(&mut self) -> &mut Capture<pcap::Active> {
        &mut self.cap
    }
}

impl PacketReader for LiveReader {
    fn live(&self) -> bool {
        true
    }

    fn link(&self) -> LinkType {
        self.link
    }

    fn next(&mut self) -> Next<'_> {
        match self.cap.next_packet() {
            Ok(p) => Next::Packet(ts_ns(&p.header.ts, false), p.data, p.header.len),
            Err(pcap::Error::TimeoutExpired) => Next::Idle,
            Err(e) => Next::Failed(CaptureError::Read(e)),
        }
    }

    fn wait_readable(&mut self, timeout_ms: i32) -> bool {
        wait_readable(self.cap.as_raw_fd(), timeout_ms)
    }

    fn drops(&mut self) -> Option<(u64, u64)> {
        let s = self.cap.stats().ok()?;
        Some((u64::from(s.dropped), u64::from(s.if_dropped)))
    }
}

/// The source of a capture, opened: one of the two readers (an enum, so
/// the loop's calls per packet are resolved statically).
pub(super) enum Opened {
    /// A live capture.
    Live(LiveReader),
    /// A file.
    File(FileReader),
}

impl Opened {
    /// Opens `source` for `cfg`; also says how to announce it.
    pub(super) fn open(
        cfg: &CaptureConfig,
        source: &PacketSource,
    ) -> Result<(Opened, String), CaptureError> {
        Ok(match source {
            PacketSource::Interface(i) => {
                let live = LiveReader::open(cfg, i)?;
                let announce = format!("capturing on {i} (filter: {})", live.applied);
                (Opened::Live(live), announce)
            }
            PacketSource::Pcap(p) => (
                Opened::File(FileReader::open(p)?),
                format!("importing {}", p.display()),
            ),
        })
    }

    /// Where a file is being read (see [`Watch`](super::Watch)); `None`
    /// for a live capture.
    pub(super) fn position(&self) -> Option<FilePosition> {
        match self {
            Opened::Live(_) => None,
            Opened::File(r) => r.position(),
        }
    }
}

impl PacketReader for Opened {
    fn live(&self) -> bool {
        matches!(self, Opened::Live(_))
    }

    fn link(&self) -> LinkType {
        match self {
            Opened::Live(r) => r.link(),
            Opened::File(r) => r.link(),
        }
    }

    fn next(&mut self) -> Next<'_> {
        match self {
            Opened::Live(r) => r.next(),
            Opened::File(r) => r.next(),
        }
    }

    fn wait_readable(&mut self, timeout_ms: i32) -> bool {
        match self {
            Opened::Live(r) => r.wait_readable(timeout_ms),
            Opened::File(r) => r.wait_readable(timeout_ms),
        }
    }

    fn drops(&mut self) -> Option<(u64, u64)> {
        match self {
            Opened::Live(r) => r.drops(),
            Opened::File(r) => r.drops(),
        }
    }
}

/// Why a pcap file could not be opened, said once: libpcap's own messages
/// start with the file name, which [`CaptureError::OpenPcap`] already gives.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenPcapError {
    /// The file could not be opened at all (missing, no permission, ...).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// libpcap opened it but could not read it as a capture.
    #[error("{0}")]
    Libpcap(String),
}

/// What libpcap said, once: without the `libpcap error: ` prefix the pcap
/// crate adds, nor a leading `SUBJECT: ` repeating what the error already
/// names (the interface).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LibpcapReason(pub String);

/// libpcap's message without the `libpcap error: ` prefix the crate adds,
/// nor a leading `SUBJECT: ` that repeats what the caller already says.
fn libpcap_reason(err: &pcap::Error, subject: &str) -> String {
    let msg = match err {
        pcap::Error::PcapError(m) => m.clone(),
        other => other.to_string(),
    };
    match msg.strip_prefix(subject).and_then(|m| m.strip_prefix(": ")) {
        Some(rest) if !rest.is_empty() && !subject.is_empty() => rest.to_string(),
        _ => msg,
    }
}

/// Why opening a live capture on `iface` failed.
///
/// By variant where the pcap crate keeps one: an OS error by its kind or
/// errno, a missing interface by libpcap's device list. `pcap_activate`'s
/// status code (`PCAP_ERROR_PERM_DENIED`, `PCAP_ERROR_NO_SUCH_DEVICE`) is
/// dropped by the pcap crate, which keeps only libpcap's text: that text is
/// what is left to read for a permission error.
fn classify(iface: &str, err: &pcap::Error) -> CaptureError {
    let interface = iface.to_string();
    let permission = match err {
        pcap::Error::IoError(kind) => *kind == std::io::ErrorKind::PermissionDenied,
        pcap::Error::ErrnoError(e) => matches!(e.0, libc::EPERM | libc::EACCES),
        pcap::Error::PcapError(m) => {
            let m = m.to_ascii_lowercase();
            m.contains("permission") || m.contains("not permitted")
        }
        _ => false,
    };
    if permission {
        return CaptureError::Permission { interface };
    }
    let missing = match err {
        pcap::Error::IoError(kind) => *kind == std::io::ErrorKind::NotFound,
        pcap::Error::ErrnoError(e) => e.0 == libc::ENODEV,
        _ => pcap::Device::list().is_ok_and(|all| all.iter().all(|d| d.name != iface)),
    };
    if missing {
        return CaptureError::NoInterface { interface };
    }
    CaptureError::Live {
        source: LibpcapReason(libpcap_reason(err, iface)),
        interface,
    }
}

fn link_of<T: Activated + ?Sized>(cap: &Capture<T>) -> Result<LinkType, CaptureError> {
    let dl = cap.get_datalink();
    LinkType::from_dlt(dl.0).ok_or_else(|| CaptureError::LinkType {
        linktype: dl.0,
        name: dl.get_name().unwrap_or_else(|_| "unknown".into()),
    })
}

fn ts_ns(tv: &libc::timeval, nano: bool) -> u64 {
    let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
    let frac = u64::try_from(tv.tv_usec).unwrap_or(0);
    let frac_ns = if nano {
        frac
    } else {
        frac.saturating_mul(1000)
    };
    secs.saturating_mul(1_000_000_000).saturating_add(frac_ns)
}

pub(super) fn block_timeout_ms(t: Duration) -> i32 {
    i32::try_from(t.as_millis()).unwrap_or(i32::MAX).max(1)
}

/// Waits until `fd` is readable, a signal arrives, or `timeout_ms` passes.
/// Returns false when the wait timed out with nothing to read.
pub(super) fn wait_readable(fd: std::os::fd::RawFd, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call; the result is
    // only a hint (errors, EINTR included, just end the wait).
    let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    rc != 0
}

/// This machine's name, for the log header.
pub(super) fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it on success (and we stop at the first NUL regardless).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    std::str::from_utf8(&buf[..end]).ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_interface_is_named_once() {
        let e = classify(
            "nosuch0",
            &pcap::Error::PcapError(
                "nosuch0: No such device exists (SIOCGIFHWADDR: No such device)".into(),
            ),
        );
        assert!(matches!(e, CaptureError::NoInterface { .. }), "{e:?}");
        assert_eq!(e.to_string(), "no such interface \"nosuch0\"");
        assert!(std::error::Error::source(&e).is_none());
    }

    #[test]
    fn a_permission_error_says_its_cause_once() {
        let e = classify(
            "lo",
            &pcap::Error::PcapError(
                "lo: You don't have permission to perform this capture on that device (socket: Operation not permitted)".into(),
            ),
        );
        assert!(matches!(e, CaptureError::Permission { .. }), "{e:?}");
        assert!(std::error::Error::source(&e).is_none());
        let e = classify(
            "lo",
            &pcap::Error::IoError(std::io::ErrorKind::PermissionDenied),
        );
        assert!(matches!(e, CaptureError::Permission { .. }), "{e:?}");
    }

    #[test]
    fn other_live_errors_keep_libpcaps_reason_without_the_interface() {
        let e = classify("lo", &pcap::Error::PcapError("lo: something odd".into()));
        assert!(matches!(e, CaptureError::Live { .. }), "{e:?}");
        let chain = format!(
            "{e}: {}",
            std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default()
        );
        assert_eq!(chain, "cannot capture on lo: something odd");
    }
}
