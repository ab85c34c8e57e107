//! The `.gor` format of `convert` (GoReplay's `--output-file`): the reader
//! and writer are [`shadowtap_cli::gor`]; here files are opened, gzip is
//! recognised and written, and what the read counted is said.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use shadowtap_cli::gor::{GorReader, MAX_PENDING, MAX_PENDING_BYTES};

/// A `.gor` input, plain or gzip.
pub type GorSource = GorReader<Box<dyn BufRead>>;

/// The first two bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Bytes read from the file at a time.
const READ_BUF: usize = 64 << 10;

/// True when `path` names a gzip file (`.gz`, as GoReplay decides).
pub fn is_gz(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Opens `path` for reading, through gzip when it starts with gzip's magic
/// bytes (whatever its name; a `.gor` starts with a type digit).
pub fn open(path: &Path) -> io::Result<GorSource> {
    let mut r = BufReader::with_capacity(READ_BUF, File::open(path)?);
    let gz = r.fill_buf()?.starts_with(&GZIP_MAGIC);
    let src: Box<dyn BufRead> = if gz {
        Box::new(BufReader::with_capacity(READ_BUF, MultiGzDecoder::new(r)))
    } else {
        Box::new(r)
    };
    Ok(GorReader::new(src))
}

/// Says on stderr what a finished read left out, in one line, and its torn
/// tail in another.
pub fn warn(r: &GorSource, path: &Path) {
    if let Some(t) = r.torn_tail() {
        say!(
            "shadowtap: warning: {}: torn tail at byte {} ({} bytes ignored; the file ends inside a payload)",
            path.display(),
            t.offset,
            t.ignored_bytes
        );
    }
    let s = r.stats();
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = Vec::new();
    if s.unpaired_responses > 0 {
        let n = s.unpaired_responses;
        parts.push(format!(
            "{} (no unanswered request of the same id before {}) dropped",
            plural(n, "unpaired response", "unpaired responses"),
            if n == 1 { "it" } else { "them" }
        ));
    }
    if s.replayed_skipped > 0 {
        parts.push(format!(
            "{} (type 3) skipped",
            plural(
                s.replayed_skipped,
                "replayed response",
                "replayed responses"
            )
        ));
    }
    if s.flushed > 0 {
        parts.push(format!(
            "{} written without a response, as more than {MAX_PENDING} requests or {} MiB waited",
            plural(s.flushed, "request", "requests"),
            MAX_PENDING_BYTES >> 20
        ));
    }
    if !parts.is_empty() {
        say!(
            "shadowtap: warning: {}: {}",
            path.display(),
            parts.join("; ")
        );
    }
}

/// Where a `.gor` goes: a plain stream, or a gzip file.
pub enum GorOut {
    Plain(BufWriter<Box<dyn Write>>),
    Gzip(GzEncoder<BufWriter<File>>),
}

impl GorOut {
    /// A gzip stream into `file`.
    pub fn gzip(file: File) -> GorOut {
        GorOut::Gzip(GzEncoder::new(BufWriter::new(file), Compression::default()))
    }

    /// Ends the stream (gzip's trailer) and flushes it.
    pub fn finish(self) -> io::Result<()> {
        match self {
            GorOut::Plain(mut w) => w.flush(),
            GorOut::Gzip(z) => z.finish()?.flush(),
        }
    }
}

impl Write for GorOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            GorOut::Plain(w) => w.write(buf),
            GorOut::Gzip(z) => z.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            GorOut::Plain(w) => w.write_all(buf),
            GorOut::Gzip(z) => z.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            GorOut::Plain(w) => w.flush(),
            GorOut::Gzip(z) => z.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_payload_holds_a_request_captured_at_the_largest_body_cap() {
        let head_room = shadowtap_format::http1::DEFAULT_MAX_HEAD as u64;
        assert!(
            shadowtap_cli::gor::MAX_PAYLOAD as u64
                >= shadowtap_capture::daemon::MAX_BODY_LIMIT + head_room
        );
    }
}
