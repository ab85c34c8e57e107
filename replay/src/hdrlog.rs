//! `--hdr-log`: latency over time in HdrHistogram's interval log format.
//!
//! The file is the text format read by HdrHistogram's `HistogramLogProcessor`
//! and HdrHistogramVisualizer/LogAnalyzer: a header (comments, `StartTime`,
//! `BaseTime`, a legend), then one line per interval histogram:
//! `[Tag=TAG,]start_s,length_s,max,BASE64`, where `start_s` is seconds since
//! `BaseTime` (the run's start), `max` is in microseconds (the unit of every
//! recorded value) and `BASE64` is the V2 compressed histogram.
//!
//! [`HdrLog::write_stats_interval`] writes, per interval, one untagged line
//! with every target added (what log processors read by default) and one line
//! per target tagged with the target URL (characters not allowed in a tag,
//! `,` ` ` CR LF, become `_`). Lines are written with the crate's
//! `interval_log` writer; this module only owns the file and the timing.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{
    IntervalLogWriterBuilder, IntervalLogWriterError, Tag,
};
use hdrhistogram::serialization::{V2DeflateSerializeError, V2DeflateSerializer};
use hdrhistogram::Histogram;

use crate::stats::{add_histogram, new_histogram, Stats};

/// Errors of writing an interval log.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum HdrLogError {
    /// Writing the file failed.
    #[error("writing the HDR log")]
    Io(#[from] io::Error),
    /// Serializing a histogram failed.
    #[error("serializing a histogram for the HDR log")]
    Serialize(#[source] V2DeflateSerializeError),
}

impl From<IntervalLogWriterError<V2DeflateSerializeError>> for HdrLogError {
    fn from(e: IntervalLogWriterError<V2DeflateSerializeError>) -> Self {
        match e {
            IntervalLogWriterError::IoError(e) => HdrLogError::Io(e),
            IntervalLogWriterError::SerializeError(e) => HdrLogError::Serialize(e),
        }
    }
}

/// A writer of HdrHistogram interval logs.
pub struct HdrLog<W: Write> {
    out: W,
    ser: V2DeflateSerializer,
    total: Histogram<u64>,
    intervals: u64,
}

impl HdrLog<BufWriter<File>> {
    /// Creates (truncates) `path` and writes the header. `start` is the wall
    /// time of the run's start: interval times are offsets from it.
    pub fn create(path: &Path, start: SystemTime) -> Result<Self, HdrLogError> {
        let file = File::create(path)?;
        HdrLog::new(BufWriter::new(file), start)
    }
}

/// Makes a string usable as an interval log tag.
pub fn sanitize_tag(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ',' | ' ' | '\r' | '\n' => '_',
            c => c,
        })
        .collect()
}

impl<W: Write> HdrLog<W> {
    /// Writes the header to `out`.
    pub fn new(mut out: W, start: SystemTime) -> Result<Self, HdrLogError> {
        let mut ser = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment(&format!(
                "[Logged with shadowtap {}; latency from the intended send time, in microseconds]",
                env!("CARGO_PKG_VERSION")
            ))
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut out, &mut ser)?;
        out.write_all(
            b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
        )?;
        Ok(HdrLog {
            out,
            ser,
            total: new_histogram(),
            intervals: 0,
        })
    }

    /// Writes one interval histogram covering `start..end` (offsets from the
    /// run's start), tagged when `tag` is given (sanitized with
    /// [`sanitize_tag`]).
    pub fn record_interval(
        &mut self,
        start: Duration,
        end: Duration,
        tag: Option<&str>,
        h: &Histogram<u64>,
    ) -> Result<(), HdrLogError> {
        write_line(&mut self.out, &mut self.ser, start, end, tag, h)?;
        self.intervals += 1;
        Ok(())
    }

    /// Writes the interval histograms kept by `stats` (see
    /// [`Stats::enable_intervals`]): one untagged line with every target
    /// added, one tagged line per target; then clears them for the next
    /// interval.
    pub fn write_stats_interval(
        &mut self,
        start: Duration,
        end: Duration,
        stats: &mut Stats,
    ) -> Result<(), HdrLogError> {
        self.write_interval_histograms(start, end, stats)?;
        stats.reset_interval();
        Ok(())
    }

    /// As [`HdrLog::write_stats_interval`], without clearing the interval
    /// histograms: for a caller that has other readers of the interval
    /// (the report's timeline) and clears them itself.
    pub fn write_interval_histograms(
        &mut self,
        start: Duration,
        end: Duration,
        stats: &Stats,
    ) -> Result<(), HdrLogError> {
        self.total.reset();
        for (_, h) in stats.interval_histograms() {
            if let Some(h) = h {
                add_histogram(&mut self.total, h);
            }
        }
        write_line(&mut self.out, &mut self.ser, start, end, None, &self.total)?;
        self.intervals += 1;
        for (name, h) in stats.interval_histograms() {
            if let Some(h) = h {
                write_line(&mut self.out, &mut self.ser, start, end, Some(name), h)?;
                self.intervals += 1;
            }
        }
        Ok(())
    }

    /// Interval lines written so far.
    pub fn intervals_written(&self) -> u64 {
        self.intervals
    }

    /// Flushes buffered lines to the file.
    pub fn flush(&mut self) -> Result<(), HdrLogError> {
        self.out.flush()?;
        Ok(())
    }

    /// Flushes and returns the sink.
    pub fn finish(mut self) -> Result<W, HdrLogError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

fn write_line<W: Write>(
    out: &mut W,
    ser: &mut V2DeflateSerializer,
    start: Duration,
    end: Duration,
    tag: Option<&str>,
    h: &Histogram<u64>,
) -> Result<(), HdrLogError> {
    let clean = tag.map(sanitize_tag);
    let tag = clean.as_deref().and_then(Tag::new);
    // A builder with no header items writes nothing: it only lends the
    // crate's line writer to our sink.
    let mut writer = IntervalLogWriterBuilder::new().begin_log_with(out, ser)?;
    writer.write_histogram(h, start, end.saturating_sub(start), tag)?;
    Ok(())
}
