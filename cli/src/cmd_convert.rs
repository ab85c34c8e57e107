//! `shadowtap convert`: moving exchanges between `.stlog` and other formats.
//!
//! Exchanges stream through one at a time: a source yields the next
//! exchange, a destination writes it, so memory stays at one exchange (plus
//! the `.stlog` writer's open block) whatever the size of the input; the
//! one exception is reading a `.har`, a single JSON document parsed whole
//! (bounded by [`har::MAX_HAR`]).

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use shadowtap_format::{
    meta, End, Exchange, FileHeader, Flags, ReadOptions, Reader, Response, Writer, WriterOptions,
};

use crate::exit;

mod curl;
mod har;

/// The longest `.jsonl` line read: an exchange with bodies up to the
/// capture's largest body cap, base64-encoded, fits well within it.
const MAX_JSONL_LINE: u64 = 256 << 20;

/// Options of `shadowtap convert`.
#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// The file to read.
    pub input: PathBuf,
    /// The file to write; `-` for stdout (text formats only).
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: PathBuf,
    /// The input's format (`stlog`, `jsonl`, `har`); by default from its extension.
    #[arg(long, value_name = "FMT")]
    pub from: Option<String>,
    /// The output's format (`stlog`, `jsonl`, `har`, `curl`); by default from its
    /// extension (`.curl` and `.sh` are curl).
    #[arg(long, value_name = "FMT")]
    pub to: Option<String>,
}

/// A format `convert` reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Stlog,
    Jsonl,
    /// Write only: a bash script of curl commands.
    Curl,
    /// HAR 1.2.
    Har,
}

impl Format {
    /// The format named `name` (as `--from`/`--to` take it).
    fn by_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "stlog" => Some(Format::Stlog),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "curl" | "sh" => Some(Format::Curl),
            "har" => Some(Format::Har),
            _ => None,
        }
    }

    /// The format given, or else the one `path`'s extension names; a usage
    /// error when neither says.
    fn pick(given: Option<&str>, path: &Path, which: &str) -> anyhow::Result<Format> {
        if let Some(name) = given {
            return match Format::by_name(name) {
                Some(f) => Ok(f),
                None => exit::usage(format!(
                    "unknown {which} format {name:?} (known: stlog, jsonl, har, curl)"
                )),
            };
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match Format::by_name(ext) {
            Some(f) => Ok(f),
            None => exit::usage(format!(
                "cannot tell the {which} format of {} from its extension; give --{}",
                path.display(),
                if which == "input" { "from" } else { "to" }
            )),
        }
    }
}

/// Runs `shadowtap convert`.
pub fn run(args: ConvertArgs) -> anyhow::Result<u8> {
    let from = Format::pick(args.from.as_deref(), &args.input, "input")?;
    let to = Format::pick(args.to.as_deref(), &args.output, "output")?;
    let stdout = args.output.as_os_str() == "-";
    if stdout && to == Format::Stlog {
        return exit::usage("a .stlog cannot be written to stdout; give a file name");
    }
    if from == Format::Curl {
        return exit::usage("curl is an output format only");
    }
    let mut source = Source::open(from, &args.input)?;
    let header = source.header();
    let mut dest = Dest::create(to, (!stdout).then_some(&*args.output), &header)?;
    let mut n = 0u64;
    while let Some(ex) = source.next()? {
        dest.write(&ex)
            .with_context(|| format!("cannot write {}", args.output.display()))?;
        n += 1;
    }
    dest.finish()
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    source.warn_torn_tail();
    if !stdout {
        let plural = if n == 1 { "" } else { "s" };
        say!(
            "shadowtap: wrote {n} exchange{plural} to {}",
            args.output.display()
        );
    }
    Ok(exit::OK)
}

/// Where exchanges come from.
enum Source {
    Stlog(Box<Reader<BufReader<File>>>, PathBuf),
    Jsonl(JsonlReader<BufReader<File>>, PathBuf),
    Har(har::HarReader, PathBuf),
}

impl Source {
    fn open(format: Format, path: &Path) -> anyhow::Result<Source> {
        Ok(match format {
            Format::Stlog => {
                let r = Reader::open_with(path, ReadOptions { salvage: false })
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Source::Stlog(Box::new(r), path.to_path_buf())
            }
            Format::Har => {
                let what = || format!("cannot read {}", path.display());
                let mut doc = Vec::new();
                File::open(path)
                    .with_context(what)?
                    .take(har::MAX_HAR + 1)
                    .read_to_end(&mut doc)
                    .with_context(what)?;
                if doc.len() as u64 > har::MAX_HAR {
                    anyhow::bail!(
                        "cannot read {}: a .har is read whole, and this one is over {} MiB",
                        path.display(),
                        har::MAX_HAR >> 20
                    );
                }
                Source::Har(
                    har::HarReader::new(&doc).with_context(what)?,
                    path.to_path_buf(),
                )
            }
            Format::Jsonl | Format::Curl => {
                let f =
                    File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
                Source::Jsonl(JsonlReader::new(BufReader::new(f)), path.to_path_buf())
            }
        })
    }

    /// The header for a `.stlog` written from this source: the input's own
    /// when it is a `.stlog`, else a fresh one saying it was converted.
    fn header(&self) -> FileHeader {
        match self {
            Source::Stlog(r, _) => r.header().clone(),
            Source::Jsonl(..) | Source::Har(..) => FileHeader {
                writer: concat!("shadowtap ", env!("CARGO_PKG_VERSION")).into(),
                created_ns: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
                meta: vec![(meta::SOURCE.into(), "convert".into())],
            },
        }
    }

    /// Says on stderr when a `.stlog` input ended mid-block (its writer was
    /// stopped): what was converted is everything before that point.
    fn warn_torn_tail(&self) {
        if let Source::Stlog(r, path) = self {
            if let Some(End::TornTail {
                offset,
                ignored_bytes,
            }) = r.end()
            {
                say!(
                    "shadowtap: warning: {}: torn tail at byte {offset} ({ignored_bytes} bytes ignored; the writer was stopped mid-block)",
                    path.display()
                );
            }
        }
    }

    fn next(&mut self) -> anyhow::Result<Option<Exchange>> {
        match self {
            Source::Stlog(r, path) => r
                .next_exchange()
                .with_context(|| format!("cannot read {}", path.display())),
            Source::Jsonl(r, path) => r
                .next_exchange()
                .with_context(|| format!("cannot read {}", path.display())),
            Source::Har(r, path) => r
                .next_exchange()
                .with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

/// Where exchanges go.
enum Dest {
    Stlog(Writer<File>),
    Jsonl(BufWriter<Box<dyn Write>>),
    Curl(BufWriter<Box<dyn Write>>),
    /// HAR entries; `written` so far, `skipped` ones HAR cannot carry.
    Har {
        w: BufWriter<Box<dyn Write>>,
        written: u64,
        skipped: u64,
    },
}

impl Dest {
    /// A destination writing `path`, or stdout without one (text formats).
    fn create(format: Format, path: Option<&Path>, header: &FileHeader) -> anyhow::Result<Dest> {
        let shown = path.map_or_else(|| "stdout".into(), |p| p.display().to_string());
        let what = || format!("cannot create {shown}");
        let text = || -> anyhow::Result<BufWriter<Box<dyn Write>>> {
            let w: Box<dyn Write> = match path {
                Some(p) => Box::new(File::create(p).with_context(what)?),
                None => Box::new(io::stdout().lock()),
            };
            Ok(BufWriter::new(w))
        };
        Ok(match (format, path) {
            (Format::Stlog, Some(p)) => {
                Dest::Stlog(Writer::create(p, header, WriterOptions::default()).with_context(what)?)
            }
            (Format::Stlog, None) => {
                return exit::usage("a .stlog cannot be written to stdout; give a file name")
            }
            (Format::Jsonl, _) => Dest::Jsonl(text()?),
            (Format::Curl, _) => {
                let mut w = text()?;
                w.write_all(curl::PREAMBLE).with_context(what)?;
                Dest::Curl(w)
            }
            (Format::Har, _) => {
                let mut w = text()?;
                w.write_all(har::preamble().as_bytes()).with_context(what)?;
                Dest::Har {
                    w,
                    written: 0,
                    skipped: 0,
                }
            }
        })
    }

    fn write(&mut self, ex: &Exchange) -> anyhow::Result<()> {
        match self {
            Dest::Stlog(w) => w.append(ex)?,
            Dest::Jsonl(w) => write_jsonl(w, ex)?,
            Dest::Curl(w) => curl::write(w, ex)?,
            Dest::Har {
                w,
                written,
                skipped,
            } => match har::write(w, ex, *written == 0)? {
                Ok(()) => *written += 1,
                Err(why) => {
                    *skipped += 1;
                    if *skipped <= 10 {
                        say!("shadowtap: exchange {} left out of the HAR: {why}", ex.id);
                    }
                }
            },
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Dest::Stlog(w) => {
                w.finish()?;
            }
            Dest::Jsonl(mut w) | Dest::Curl(mut w) => w.flush()?,
            Dest::Har { mut w, skipped, .. } => {
                w.write_all(har::POSTAMBLE)?;
                w.flush()?;
                if skipped > 0 {
                    say!("shadowtap: {skipped} exchanges left out of the HAR");
                }
            }
        }
        Ok(())
    }
}

/// One exchange as a `.jsonl` line: every field of [`Exchange`], bytes as
/// base64, flags by name.
#[derive(Serialize, Deserialize)]
struct JsonExchange {
    id: u64,
    conn: u64,
    client: SocketAddr,
    server: SocketAddr,
    req_first_ns: u64,
    req_last_ns: u64,
    flags: Vec<String>,
    /// The request bytes as captured, base64.
    request: String,
    request_len: u64,
    response: Option<JsonResponse>,
    origin: Option<u64>,
}

/// A [`Response`] in a `.jsonl` line.
#[derive(Serialize, Deserialize)]
struct JsonResponse {
    status: u16,
    first_ns: u64,
    last_ns: u64,
    /// Status line and headers with the blank line, base64.
    head: String,
    /// Body bytes as captured, base64.
    body: String,
    body_len: u64,
}

/// Writes `ex` as one line of JSON.
fn write_jsonl(w: &mut impl Write, ex: &Exchange) -> io::Result<()> {
    let line = JsonExchange {
        id: ex.id,
        conn: ex.conn,
        client: ex.client,
        server: ex.server,
        req_first_ns: ex.req_first_ns,
        req_last_ns: ex.req_last_ns,
        flags: ex.flags.names().map(|n| n.into_owned()).collect(),
        request: B64.encode(&ex.request),
        request_len: ex.request_len,
        response: ex.response.as_ref().map(|r| JsonResponse {
            status: r.status,
            first_ns: r.first_ns,
            last_ns: r.last_ns,
            head: B64.encode(&r.head),
            body: B64.encode(&r.body),
            body_len: r.body_len,
        }),
        origin: ex.origin,
    };
    serde_json::to_writer(&mut *w, &line)?;
    w.write_all(b"\n")
}

/// Why a `.jsonl` line could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    #[error("line {line}: {source}")]
    Io {
        line: u64,
        #[source]
        source: io::Error,
    },
    #[error("line {line}: longer than {MAX_JSONL_LINE} bytes")]
    TooLong { line: u64 },
    #[error("line {line}: {source}")]
    Json {
        line: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("line {line}: {what}")]
    Field { line: u64, what: String },
}

/// Reads exchanges from `.jsonl` lines (blank lines skipped), each line at
/// most [`MAX_JSONL_LINE`] bytes.
pub struct JsonlReader<R> {
    src: R,
    line: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> JsonlReader<R> {
    pub fn new(src: R) -> Self {
        JsonlReader {
            src,
            line: 0,
            buf: Vec::new(),
        }
    }

    /// The next exchange, `None` at the end.
    pub fn next_exchange(&mut self) -> Result<Option<Exchange>, JsonlError> {
        loop {
            self.buf.clear();
            self.line += 1;
            let line = self.line;
            let n = (&mut self.src)
                .take(MAX_JSONL_LINE + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| JsonlError::Io { line, source })?;
            if n == 0 {
                return Ok(None);
            }
            if n as u64 > MAX_JSONL_LINE {
                return Err(JsonlError::TooLong { line });
            }
            if self.buf.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let j: JsonExchange = serde_json::from_slice(&self.buf)
                .map_err(|source| JsonlError::Json { line, source })?;
            return from_json(j)
                .map(Some)
                .map_err(|what| JsonlError::Field { line, what });
        }
    }
}

/// Base64 back to bytes, naming the field when it does not decode.
fn unbase64(field: &str, s: &str) -> Result<Vec<u8>, String> {
    B64.decode(s).map_err(|e| format!("{field}: {e}"))
}

/// A flag name (as [`Flags::names`] writes them) back to its bit.
fn flag_by_name(name: &str) -> Option<Flags> {
    if let Some((f, _)) = Flags::NAMED.iter().find(|(_, n)| *n == name) {
        return Some(*f);
    }
    let bit: u32 = name.strip_prefix("bit")?.parse().ok()?;
    (bit < 32).then(|| Flags(1 << bit))
}

fn from_json(j: JsonExchange) -> Result<Exchange, String> {
    let mut flags = Flags::empty();
    for name in &j.flags {
        flags.insert(flag_by_name(name).ok_or_else(|| format!("unknown flag {name:?}"))?);
    }
    let response = match j.response {
        None => None,
        Some(r) => Some(Response {
            first_ns: r.first_ns,
            last_ns: r.last_ns,
            status: r.status,
            head: unbase64("response.head", &r.head)?,
            body: unbase64("response.body", &r.body)?,
            body_len: r.body_len,
        }),
    };
    Ok(Exchange {
        id: j.id,
        conn: j.conn,
        client: j.client,
        server: j.server,
        req_first_ns: j.req_first_ns,
        req_last_ns: j.req_last_ns,
        flags,
        request: unbase64("request", &j.request)?,
        request_len: j.request_len,
        response,
        origin: j.origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: u64) -> Exchange {
        let client: SocketAddr = "[::1]:50000".parse().unwrap();
        let server: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let mut req = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n".to_vec();
        req.extend_from_slice(&[0, 0xff, b'\n', i as u8]);
        Exchange {
            flags: Flags::REQ_GAP.union(Flags(1 << 30)),
            request_len: 99,
            origin: Some(i << 3),
            ..Exchange::new(i, 7, client, server, 1_000 + i, req)
        }
        .with_response(Response {
            body_len: 10,
            ..Response::new(201, 5, 6, b"HTTP/1.1 201 X\r\n\r\n".to_vec(), vec![1, 2, 3])
        })
    }

    #[test]
    fn jsonl_round_trip_is_exact() {
        let exs = [
            sample(1),
            Exchange::new(2, 3, sample(0).client, sample(0).server, 9, vec![]),
        ];
        let mut out = Vec::new();
        for ex in &exs {
            write_jsonl(&mut out, ex).unwrap();
        }
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 2);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains(r#""flags":["req_gap","bit30"]"#), "{text}");
        let mut r = JsonlReader::new(&out[..]);
        assert_eq!(r.next_exchange().unwrap().unwrap(), exs[0]);
        assert_eq!(r.next_exchange().unwrap().unwrap(), exs[1]);
        assert!(r.next_exchange().unwrap().is_none());
    }

    #[test]
    fn jsonl_errors_name_the_line() {
        let mut out = b"\n".to_vec();
        write_jsonl(&mut out, &sample(1)).unwrap();
        out.extend_from_slice(b"{\"id\":1}\n");
        let mut r = JsonlReader::new(&out[..]);
        assert!(r.next_exchange().unwrap().is_some());
        let err = r.next_exchange().unwrap_err().to_string();
        assert!(err.starts_with("line 3: missing field"), "{err}");
        let bad = String::from_utf8(out).unwrap().replace("req_gap", "nope");
        let err = JsonlReader::new(bad.as_bytes())
            .next_exchange()
            .unwrap_err();
        assert_eq!(err.to_string(), "line 2: unknown flag \"nope\"");
    }
}
