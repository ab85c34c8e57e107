//! Where a capture's exchanges go: the [`LogSink`] of `shadowtap_format`
//! (files, ids, rotation, limit, flush, finish), the request hook, and the
//! metrics and stats line that report on both.

use std::sync::Arc;

use shadowtap_format::{Exchange, FileHeader, LogSink, SinkError, SinkOptions};

use super::{stats_line, CaptureConfig, CaptureError, Notice};
use crate::metrics::Metrics;
use crate::{ExchangeSink, PipelineStats, RequestEvent};

/// What the capture loop needs of its output.
pub(super) trait Output: ExchangeSink {
    /// Itself as the pipeline's sink.
    fn as_sink(&mut self) -> &mut dyn ExchangeSink;
    /// The packet clock reached `ts_ns`.
    fn advance(&mut self, _ts_ns: u64) {}
    /// Whether no more exchanges are wanted.
    fn limit_reached(&self) -> bool {
        false
    }
    /// The first write error, taken.
    fn check(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }
    /// Housekeeping is due: flush, update metrics; print the stats line
    /// when `stats_due`. `drops` are the source's, when it knows them.
    fn housekeep(&mut self, _stats: &PipelineStats, _drops: Option<(u64, u64)>, _stats_due: bool) {}
}

/// A plain [`ExchangeSink`] as the output of a capture loop (imports that
/// write nothing themselves).
pub(super) struct Plain<'a>(pub &'a mut dyn ExchangeSink);

impl ExchangeSink for Plain<'_> {
    fn request(&mut self, req: &RequestEvent<'_>) {
        self.0.request(req);
    }

    fn exchange(&mut self, ex: Exchange) {
        self.0.exchange(ex);
    }

    fn answered(&mut self, index: u64, ex: &Exchange) {
        self.0.answered(index, ex);
    }
}

impl Output for Plain<'_> {
    fn as_sink(&mut self) -> &mut dyn ExchangeSink {
        self
    }
}

/// The output of [`run_with`](super::run_with).
pub(super) struct Recording<'a> {
    sink: LogSink,
    on_request: &'a mut dyn FnMut(&RequestEvent<'_>),
    on_exchange: &'a mut dyn FnMut(u64, &Exchange),
    pub(super) on_notice: &'a mut dyn FnMut(Notice<'_>),
    pub(super) metrics: Arc<Metrics>,
    /// Packet clock.
    now_ns: u64,
    /// The first write error, until the loop takes it.
    error: Option<CaptureError>,
    /// Kernel and interface drops, as last known.
    pub(super) drops: (u64, u64),
}

fn write_error(e: SinkError) -> CaptureError {
    CaptureError::Write {
        path: e.path,
        source: e.source,
    }
}

impl<'a> Recording<'a> {
    /// The output of a capture with `cfg`, its files headed with `meta`. A
    /// single log file is created at once (it exists even if nothing
    /// arrives); rotated ones as exchanges come.
    pub(super) fn start(
        cfg: &CaptureConfig,
        meta: Vec<(String, String)>,
        metrics: Arc<Metrics>,
        on_request: &'a mut dyn FnMut(&RequestEvent<'_>),
        on_exchange: &'a mut dyn FnMut(u64, &Exchange),
        on_notice: &'a mut dyn FnMut(Notice<'_>),
    ) -> Result<Recording<'a>, CaptureError> {
        let opts = SinkOptions {
            output: cfg.output.clone(),
            rotate_size: cfg.rotate_size,
            rotate_every: cfg.rotate_every,
            max_exchanges: cfg.max_exchanges,
            // The pipeline numbers exchanges as they complete.
            number: false,
            writer: cfg.log.clone(),
        };
        let header = FileHeader {
            writer: cfg.writer_name.clone(),
            created_ns: 0,
            meta,
        };
        let mut sink = LogSink::new(opts, header);
        sink.start().map_err(write_error)?;
        Ok(Recording {
            sink,
            on_request,
            on_exchange,
            on_notice,
            metrics,
            now_ns: 0,
            error: None,
            drops: (0, 0),
        })
    }

    /// Exchanges written so far, and bytes.
    pub(super) fn written(&self) -> (u64, u64) {
        (self.sink.written(), self.sink.bytes_written())
    }

    /// Updates the metrics with `stats`.
    pub(super) fn update_metrics(&self, stats: &PipelineStats) {
        let (n, bytes) = self.written();
        self.metrics
            .update(stats, self.drops.0 + self.drops.1, n, bytes);
    }

    /// The stats line for `stats`.
    pub(super) fn stats_line(&self, stats: &PipelineStats) -> String {
        let (n, bytes) = self.written();
        stats_line(stats, self.drops.0 + self.drops.1, n, bytes)
    }

    /// Finishes the log: exchanges and bytes written, the files, and the
    /// warnings of records skipped. The first write error wins.
    pub(super) fn finish(
        mut self,
    ) -> Result<(shadowtap_format::SinkSummary, Vec<String>), CaptureError> {
        let warnings = self.sink.take_warnings();
        let done = self.sink.finish(self.now_ns);
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        Ok((done.map_err(write_error)?, warnings))
    }
}

impl ExchangeSink for Recording<'_> {
    fn request(&mut self, req: &RequestEvent<'_>) {
        (self.on_request)(req);
    }

    fn answered(&mut self, index: u64, ex: &Exchange) {
        (self.on_exchange)(index, ex);
    }

    fn exchange(&mut self, ex: Exchange) {
        if let Err(e) = self.sink.append(ex, self.now_ns) {
            self.error.get_or_insert(write_error(e));
        }
    }
}

impl Output for Recording<'_> {
    fn as_sink(&mut self) -> &mut dyn ExchangeSink {
        self
    }

    fn advance(&mut self, ts_ns: u64) {
        self.now_ns = self.now_ns.max(ts_ns);
    }

    fn limit_reached(&self) -> bool {
        self.sink.limit_reached()
    }

    fn check(&mut self) -> Result<(), CaptureError> {
        self.error.take().map_or(Ok(()), Err)
    }

    fn housekeep(&mut self, stats: &PipelineStats, drops: Option<(u64, u64)>, stats_due: bool) {
        if let Err(e) = self.sink.flush_if_due() {
            self.error.get_or_insert(write_error(e));
        }
        if let Some(d) = drops {
            self.drops = d;
        }
        self.update_metrics(stats);
        if stats_due {
            let line = self.stats_line(stats);
            (self.on_notice)(Notice::Stats(&line));
        }
    }
}
