//! `shadowtap convert`: moving exchanges between `.stlog` and other formats.
//!
//! Exchanges stream through one at a time: a source yields the next
//! exchange, a destination writes it, so memory stays at one exchange (plus
//! the `.stlog` writer's open block) whatever the size of the input; the
//! one exception is reading a `.har`, a single JSON document parsed whole
//! (bounded by [`har::MAX_HAR`]). A `.gor` read also holds the requests
//! still waiting for their response (bounded, see [`shadowtap_cli::gor`]).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use shadowtap_cli::gor::GorWriter;
use shadowtap_format::{
    meta, End, Exchange, FileHeader, ReadOptions, Reader, Writer, WriterOptions,
};

use crate::exit;

mod curl;
mod gor;
mod har;
mod jsonl;

use jsonl::{write_jsonl, JsonlReader};

/// Options of `shadowtap convert`.
#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// The file to read.
    pub input: PathBuf,
    /// The file to write; `-` for stdout (text formats only).
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: PathBuf,
    /// The input's format (`stlog`, `jsonl`, `har`, `gor`); by default from its
    /// extension (`.gor.gz` is gor; gzip is recognised by its content).
    #[arg(long, value_name = "FMT")]
    pub from: Option<String>,
    /// The output's format (`stlog`, `jsonl`, `har`, `curl`, `gor`); by default from
    /// its extension (`.curl` and `.sh` are curl); a gor output named `*.gz` is
    /// gzip-compressed.
    #[arg(long, value_name = "FMT")]
    pub to: Option<String>,
    #[command(flatten)]
    pub filter: crate::cmd_inspect::FilterArgs,
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
    /// GoReplay's `--output-file` format, gzip or not.
    Gor,
}

impl Format {
    /// The format named `name` (as `--from`/`--to` take it).
    fn by_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "stlog" => Some(Format::Stlog),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "curl" | "sh" => Some(Format::Curl),
            "har" => Some(Format::Har),
            "gor" | "goreplay" => Some(Format::Gor),
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
                    "unknown {which} format {name:?} (known: stlog, jsonl, har, curl, gor)"
                )),
            };
        }
        // `x.gor.gz` is named by its inner extension.
        let named = if gor::is_gz(path) {
            path.file_stem().map_or(Path::new(""), Path::new)
        } else {
            path
        };
        let ext = named.extension().and_then(|e| e.to_str()).unwrap_or("");
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
    for (format, path, which) in [(from, &args.input, "input"), (to, &args.output, "output")] {
        if format != Format::Gor && gor::is_gz(path) {
            return exit::usage(format!(
                "{} is named .gz, but only a gor {which} is gzip-compressed",
                path.display()
            ));
        }
    }
    let filter = args.filter.filter()?;
    let mut source = Source::open(from, &args.input)?;
    let header = source.header();
    let mut dest = Dest::create(to, (!stdout).then_some(&*args.output), &header)?;
    let (mut n, mut filtered_out) = (0u64, 0u64);
    while let Some(ex) = source.next()? {
        if !filter.keep(&ex) {
            filtered_out += 1;
            continue;
        }
        dest.write(&ex)
            .with_context(|| format!("cannot write {}", args.output.display()))?;
        n += 1;
    }
    let left_out = dest
        .finish()
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    source.warn();
    if filtered_out > 0 {
        let plural = if filtered_out == 1 { "" } else { "s" };
        say!("shadowtap: {filtered_out} exchange{plural} left out by --include/--exclude");
    }
    if let Some((left_out, format)) = left_out.filter(|&(k, _)| k > 0) {
        let plural = if left_out == 1 { "" } else { "s" };
        say!("shadowtap: {left_out} exchange{plural} left out of the {format}");
    }
    if !stdout {
        let written = n - left_out.map_or(0, |(k, _)| k);
        let plural = if written == 1 { "" } else { "s" };
        say!(
            "shadowtap: wrote {written} exchange{plural} to {}",
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
    Gor(Box<gor::GorSource>, PathBuf),
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
            Format::Gor => {
                let r =
                    gor::open(path).with_context(|| format!("cannot read {}", path.display()))?;
                Source::Gor(Box::new(r), path.to_path_buf())
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
            Source::Jsonl(..) | Source::Har(..) | Source::Gor(..) => FileHeader {
                writer: concat!("shadowtap ", env!("CARGO_PKG_VERSION")).into(),
                created_ns: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
                meta: vec![(meta::SOURCE.into(), "convert".into())],
            },
        }
    }

    /// Says on stderr when a `.stlog` or `.gor` input ended mid-block or
    /// mid-payload (its writer was stopped): what was converted is
    /// everything before that point; and what a `.gor` read left out.
    fn warn(&self) {
        if let Source::Gor(r, path) = self {
            gor::warn(r, path);
        }
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
            Source::Gor(r, path) => r
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
    /// `.gor` payloads; `skipped` exchanges it cannot carry.
    Gor {
        w: GorWriter<gor::GorOut>,
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
            (Format::Gor, _) => {
                let out = match path {
                    Some(p) if gor::is_gz(p) => {
                        gor::GorOut::gzip(File::create(p).with_context(what)?)
                    }
                    _ => gor::GorOut::Plain(text()?),
                };
                Dest::Gor {
                    w: GorWriter::new(out),
                    skipped: 0,
                }
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
            Dest::Gor { w, skipped } => {
                if let Err(why) = w.write(ex)? {
                    *skipped += 1;
                    if *skipped <= 10 {
                        say!("shadowtap: exchange {} left out of the .gor: {why}", ex.id);
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends the output; how many exchanges it left out (the formats that
    /// cannot carry some), and the format's name.
    fn finish(self) -> anyhow::Result<Option<(u64, &'static str)>> {
        Ok(match self {
            Dest::Stlog(w) => {
                w.finish()?;
                None
            }
            Dest::Jsonl(mut w) | Dest::Curl(mut w) => {
                w.flush()?;
                None
            }
            Dest::Har { mut w, skipped, .. } => {
                w.write_all(har::POSTAMBLE)?;
                w.flush()?;
                Some((skipped, "HAR"))
            }
            Dest::Gor { w, skipped } => {
                w.into_inner()?.finish()?;
                Some((skipped, ".gor"))
            }
        })
    }
}
