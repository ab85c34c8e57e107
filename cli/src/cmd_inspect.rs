//! `shadowtap inspect` and `shadowtap stats`: reading a log for people and
//! for scripts.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use serde::Serialize;
use shadowtap_format::http1::{parse_request_head_lenient, scan_request_line};
use shadowtap_format::{End, Exchange, ReadOptions, Reader};
use shadowtap_replay::filter::{Filter, FilterRule, RuleKind};

use crate::show::{self, Show};
use crate::{exit, units};

/// `--include` / `--exclude` for `inspect`, `stats` and `convert`: the
/// rules `replay` takes, so a filter can be checked on a log before it is
/// replayed, or a log cut down to what it keeps.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only exchanges matching `FIELD:REGEX` (as `replay --include`);
    /// repeatable (all must match).
    #[arg(long = "include", value_name = "FIELD:REGEX")]
    pub include: Vec<String>,
    /// Leave out exchanges matching `FIELD:REGEX`; repeatable.
    #[arg(long = "exclude", value_name = "FIELD:REGEX")]
    pub exclude: Vec<String>,
}

impl FilterArgs {
    /// The rules, or a usage error (exit 2) listing every bad one.
    pub(crate) fn filter(&self) -> anyhow::Result<Filter> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        let args = (self.include.iter().map(|a| (RuleKind::Include, a)))
            .chain(self.exclude.iter().map(|a| (RuleKind::Exclude, a)));
        for (kind, arg) in args {
            match FilterRule::parse(kind, arg) {
                Ok(r) => rules.push(r),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !errors.is_empty() {
            return exit::usage(errors.join("\n  "));
        }
        Ok(Filter::new(rules))
    }
}

/// Options of `shadowtap inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The log to read.
    pub file: PathBuf,
    /// Print JSON Lines (one object per exchange) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Stop after N exchanges.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        value_parser = units::count::<u64>,
    )]
    pub limit: Option<u64>,
    /// Skip damaged blocks instead of stopping at the first one, and report
    /// how many exchanges were lost.
    #[arg(long)]
    pub salvage: bool,
    /// Also show each request's and response's header fields.
    #[arg(long)]
    pub headers: bool,
    /// Also show each request's and response's body: text as it is, other
    /// bytes as base64, with their length.
    #[arg(long)]
    pub body: bool,
    /// With --body: undo chunking and Content-Encoding (gzip, deflate, br,
    /// zstd) first.
    #[arg(long, requires = "body")]
    pub decode: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Options of `shadowtap stats`.
#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// The log to read.
    pub file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// How many of the most requested paths to list.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10,
        allow_negative_numbers = true,
        value_parser = units::count::<usize>,
    )]
    pub top: usize,
    /// Skip damaged blocks instead of stopping at the first one.
    #[arg(long)]
    pub salvage: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// One exchange as `inspect --json` prints it.
#[derive(Serialize)]
struct ExchangeLine<'a> {
    id: u64,
    conn: u64,
    ts_ns: u64,
    client: String,
    server: String,
    method: Option<&'a str>,
    uri: Option<Cow<'a, str>>,
    host: Option<Cow<'a, str>>,
    req_bytes: u64,
    status: Option<u16>,
    latency_us: Option<f64>,
    resp_bytes: Option<u64>,
    flags: Vec<String>,
    /// The id of the request a replay's recording replays (format 1.1);
    /// absent for a capture.
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<u64>,
    /// `--headers`, `--body`.
    #[serde(flatten)]
    extra: show::Extra,
}

/// The method and target of a recorded request, read as far as its request
/// line goes: leniently, so that a request the capture flagged malformed
/// (control bytes in the target, an odd version) or cut short (snap length,
/// a gap) still shows what it asked for. A target that is not UTF-8 comes
/// out with its invalid bytes replaced.
fn request_line(raw: &[u8]) -> (Option<&str>, Option<Cow<'_, str>>) {
    match scan_request_line(raw) {
        Some(line) => (Some(line.method), line.uri.map(String::from_utf8_lossy)),
        None => (None, None),
    }
}

/// `text` with its control characters written as `\xNN` (`\u{NNNN}`
/// beyond ASCII), so a recorded request cannot send escape sequences to the
/// terminal that shows it.
fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

pub fn inspect(args: InspectArgs) -> anyhow::Result<u8> {
    let filter = args.filter.filter()?;
    let mut reader = open(&args.file, args.salvage)?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let limit = args.limit.unwrap_or(u64::MAX);
    let show = Show {
        headers: args.headers,
        body: args.body,
        decode: args.decode,
    };
    let mut n = 0;
    while n < limit {
        let Some(ex) = next(&mut reader, &args.file)? else {
            break;
        };
        // `--limit` counts the exchanges shown.
        if !filter.keep(&ex) {
            continue;
        }
        n += 1;
        let (method, uri) = request_line(&ex.request);
        if args.json {
            let line = ExchangeLine {
                id: ex.id,
                conn: ex.conn,
                ts_ns: ex.req_first_ns,
                client: ex.client.to_string(),
                server: ex.server.to_string(),
                method,
                uri,
                host: parse_request_head_lenient(&ex.request)
                    .and_then(|h| h.host(&ex.request).map(Cow::into_owned))
                    .map(Cow::Owned),
                req_bytes: ex.request_len,
                status: ex.response.as_ref().map(|r| r.status),
                latency_us: ex.latency_ns().map(|ns| ns as f64 / 1000.0),
                resp_bytes: ex
                    .response
                    .as_ref()
                    .map(|r| r.head.len() as u64 + r.body_len),
                flags: ex.flags.names().map(|n| n.into_owned()).collect(),
                origin: ex.origin,
                extra: show.extra(&ex, method.unwrap_or("GET")),
            };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        } else {
            let status = ex
                .response
                .as_ref()
                .map_or_else(|| "---".to_string(), |r| r.status.to_string());
            let latency = ex
                .latency_ns()
                .map_or_else(|| "-".to_string(), human_duration);
            write!(
                out,
                "{}  {:<22} {:<7} {} {} {}",
                format_ts(ex.req_first_ns),
                ex.client,
                method.unwrap_or("?"),
                uri.as_deref().map_or(Cow::Borrowed("?"), printable),
                status,
                latency
            )?;
            if !ex.flags.is_empty() {
                write!(out, "  [{}]", ex.flags)?;
            }
            if let Some(origin) = ex.origin {
                write!(out, "  origin {origin}")?;
            }
            writeln!(out)?;
            if show.any() {
                show.write_text(&mut out, &ex, method.unwrap_or("GET"), printable)?;
            }
        }
    }
    out.flush()?;
    drop(out);
    if n < limit {
        report_end(&reader, &args.file);
    }
    Ok(crate::exit::OK)
}

/// Counts kept exactly up to this many distinct paths; past it, new paths
/// are counted as "other" so memory stays bounded on any log.
const MAX_DISTINCT_PATHS: usize = 100_000;

/// What `stats` says about a log.
#[derive(Serialize, Default)]
struct LogTally {
    file: String,
    exchanges: u64,
    first_ts_ns: Option<u64>,
    last_ts_ns: Option<u64>,
    span_s: f64,
    rate_per_s: f64,
    with_response: u64,
    methods: BTreeMap<String, u64>,
    status_classes: BTreeMap<String, u64>,
    top_paths: Vec<(String, u64)>,
    paths_truncated: bool,
    latency_us: Option<Percentiles>,
    wire_bytes: u64,
    stored_bytes: u64,
    file_bytes: u64,
    compression_ratio: f64,
    flags: BTreeMap<String, u64>,
    end: String,
}

#[derive(Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

/// A [`LogTally`] while the log is read: the counts, and what the rates,
/// top paths and percentiles are computed from at the end.
struct Tallying {
    tally: LogTally,
    paths: HashMap<String, u64>,
    latency: hdrhistogram::Histogram<u64>,
}

impl Tallying {
    fn new(file: &Path, file_bytes: u64) -> Tallying {
        Tallying {
            tally: LogTally {
                file: file.display().to_string(),
                file_bytes,
                ..LogTally::default()
            },
            paths: HashMap::new(),
            latency: hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
                .expect("valid histogram bounds"),
        }
    }

    fn add(&mut self, ex: &Exchange) {
        let s = &mut self.tally;
        s.exchanges += 1;
        let ts = ex.req_first_ns;
        s.first_ts_ns = Some(s.first_ts_ns.map_or(ts, |t| t.min(ts)));
        s.last_ts_ns = Some(s.last_ts_ns.map_or(ts, |t| t.max(ts)));
        s.wire_bytes += ex.wire_bytes();
        s.stored_bytes += stored_len(ex);
        let (method, uri) = request_line(&ex.request);
        let method = method.unwrap_or("(unparsed)").to_string();
        *s.methods.entry(method).or_default() += 1;
        let class = match ex.response.as_ref().map(|r| r.status) {
            Some(code @ 100..=599) => format!("{}xx", code / 100),
            Some(_) => "other".into(),
            None => "none".into(),
        };
        *s.status_classes.entry(class).or_default() += 1;
        if let Some(uri) = uri.as_deref() {
            let path = uri.split('?').next().unwrap_or(uri);
            if let Some(c) = self.paths.get_mut(path) {
                *c += 1;
            } else if self.paths.len() < MAX_DISTINCT_PATHS {
                self.paths.insert(path.to_string(), 1);
            } else {
                s.paths_truncated = true;
            }
        }
        for name in ex.flags.names() {
            *s.flags.entry(name.into_owned()).or_default() += 1;
        }
        if ex.response.is_some() {
            s.with_response += 1;
        }
        if let Some(ns) = ex.latency_ns() {
            self.latency.saturating_record((ns / 1000).max(1));
        }
    }

    /// The tally, with the `top` most requested paths and how the log ended.
    fn finish(self, top: usize, end: String) -> LogTally {
        let Tallying {
            tally: mut s,
            paths,
            latency,
        } = self;
        if let (Some(a), Some(b)) = (s.first_ts_ns, s.last_ts_ns) {
            s.span_s = (b - a) as f64 / 1e9;
            if s.span_s > 0.0 {
                s.rate_per_s = s.exchanges as f64 / s.span_s;
            }
        }
        if !latency.is_empty() {
            s.latency_us = Some(Percentiles {
                p50: latency.value_at_quantile(0.5) as f64,
                p90: latency.value_at_quantile(0.9) as f64,
                p99: latency.value_at_quantile(0.99) as f64,
                max: latency.max() as f64,
            });
        }
        if s.file_bytes > 0 {
            s.compression_ratio = s.wire_bytes as f64 / s.file_bytes as f64;
        }
        let mut paths: Vec<(String, u64)> = paths.into_iter().collect();
        paths.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        paths.truncate(top);
        s.top_paths = paths;
        s.end = end;
        s
    }
}

pub fn stats(args: StatsArgs) -> anyhow::Result<u8> {
    let filter = args.filter.filter()?;
    let file_bytes = std::fs::metadata(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?
        .len();
    let mut reader = open(&args.file, args.salvage)?;
    let mut tallying = Tallying::new(&args.file, file_bytes);
    while let Some(ex) = next(&mut reader, &args.file)? {
        if filter.keep(&ex) {
            tallying.add(&ex);
        }
    }
    let tally = tallying.finish(args.top, describe_end(&reader));
    report_end(&reader, &args.file);

    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &tally)?;
        writeln!(out)?;
    } else {
        print_tally(&mut out, &tally)?;
    }
    out.flush()?;
    Ok(crate::exit::OK)
}

fn print_tally(out: &mut impl Write, s: &LogTally) -> io::Result<()> {
    writeln!(out, "file          {}", s.file)?;
    writeln!(
        out,
        "exchanges     {} ({} with a response)",
        s.exchanges, s.with_response
    )?;
    if let (Some(a), Some(b)) = (s.first_ts_ns, s.last_ts_ns) {
        writeln!(out, "time          {} .. {}", format_ts(a), format_ts(b))?;
        writeln!(
            out,
            "span          {:.3} s, {:.1} exchanges/s",
            s.span_s, s.rate_per_s
        )?;
    }
    let join = |m: &BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(out, "methods       {}", join(&s.methods))?;
    writeln!(out, "status        {}", join(&s.status_classes))?;
    if let Some(l) = &s.latency_us {
        writeln!(
            out,
            "latency       p50 {}  p90 {}  p99 {}  max {}",
            human_duration((l.p50 * 1000.0) as u64),
            human_duration((l.p90 * 1000.0) as u64),
            human_duration((l.p99 * 1000.0) as u64),
            human_duration((l.max * 1000.0) as u64)
        )?;
    }
    writeln!(
        out,
        "bytes         {} on the wire, {} on disk ({:.1}x smaller)",
        human_bytes(s.wire_bytes),
        human_bytes(s.file_bytes),
        s.compression_ratio
    )?;
    if !s.flags.is_empty() {
        writeln!(out, "flags         {}", join(&s.flags))?;
    }
    writeln!(
        out,
        "top paths{}",
        if s.paths_truncated {
            " (more distinct paths than counted; counts are lower bounds)"
        } else {
            ""
        }
    )?;
    for (path, n) in &s.top_paths {
        writeln!(out, "  {n:>10}  {path}")?;
    }
    writeln!(out, "end           {}", s.end)?;
    Ok(())
}

/// Bytes of an exchange kept in the log (before compression).
fn stored_len(ex: &Exchange) -> u64 {
    ex.request.len() as u64
        + ex.response
            .as_ref()
            .map_or(0, |r| (r.head.len() + r.body.len()) as u64)
}

fn open(path: &Path, salvage: bool) -> anyhow::Result<Reader<io::BufReader<std::fs::File>>> {
    Reader::open_with(path, ReadOptions { salvage })
        .with_context(|| format!("cannot read {}", path.display()))
}

fn next(
    reader: &mut Reader<io::BufReader<std::fs::File>>,
    path: &Path,
) -> anyhow::Result<Option<Exchange>> {
    reader
        .next_exchange()
        .with_context(|| format!("reading {}", path.display()))
}

fn describe_end<R: io::Read>(reader: &Reader<R>) -> String {
    match reader.end() {
        Some(End::Clean { indexed: true }) => "clean (indexed)".into(),
        Some(End::Clean { indexed: false }) => {
            "complete blocks only, no index (the writer did not close the file)".into()
        }
        Some(End::TornTail {
            offset,
            ignored_bytes,
        }) => format!("torn tail at byte {offset}: {ignored_bytes} bytes ignored"),
        Some(End::Stopped) | None => "not read to the end".into(),
    }
}

/// Warnings about how the file ended, on stderr.
fn report_end<R: io::Read>(reader: &Reader<R>, path: &Path) {
    if let Some(End::TornTail {
        offset,
        ignored_bytes,
    }) = reader.end()
    {
        say!(
            "shadowtap: warning: {}: torn tail at byte {offset} ({ignored_bytes} bytes ignored; the writer was stopped mid-block)",
            path.display()
        );
    }
    let s = reader.salvage_stats();
    if s.bad_blocks > 0 {
        say!(
            "shadowtap: warning: {}: skipped {} damaged block(s): {} exchanges lost{}, {} bytes skipped",
            path.display(),
            s.bad_blocks,
            s.lost_exchanges,
            if s.unknown_stretches > 0 {
                format!(" plus {} stretch(es) of unknown size", s.unknown_stretches)
            } else {
                String::new()
            },
            s.skipped_bytes
        );
    }
}

/// RFC 3339 UTC with microseconds.
pub fn format_ts(ns: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(ns);
    humantime::format_rfc3339_micros(t).to_string()
}

/// `850us`, `12.3ms`, `1.20s`.
pub fn human_duration(ns: u64) -> String {
    match ns {
        0..=999 => format!("{ns}ns"),
        1_000..=999_999 => format!("{}us", ns / 1000),
        1_000_000..=999_999_999 => format!("{:.1}ms", ns as f64 / 1e6),
        _ => format!("{:.2}s", ns as f64 / 1e9),
    }
}

/// `512 B`, `1.5 KiB`, `12.0 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_bytes_read_well() {
        assert_eq!(human_duration(850), "850ns");
        assert_eq!(human_duration(850_000), "850us");
        assert_eq!(human_duration(12_345_678), "12.3ms");
        assert_eq!(human_duration(1_200_000_000), "1.20s");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(
            format_ts(1_700_000_000_123_456_000),
            "2023-11-14T22:13:20.123456Z"
        );
    }
}
