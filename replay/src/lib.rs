//! Replay of shadowtap logs to mirror targets.
//!
//! Composed parts: [`input`] (streaming, merged log input), [`schedule`]
//! (absolute send times), [`sample`] (deterministic sampling), [`rewrite`]
//! (the request rewriter and the `-shadow` Host rule), [`client`] (raw
//! HTTP/1.1 transport), [`engine`] (ties them together: config, feed,
//! scheduler, workers, monitor), [`stats`] (histograms), [`report`],
//! [`threshold`], [`hdrlog`], [`serve`] (the built-in target) and
//! [`compare`] (response comparison).

pub mod client;
pub mod compare;
pub mod engine;
pub mod filter;
pub mod hdrlog;
pub mod input;
pub mod report;
pub mod rewrite;
pub mod sample;
pub mod schedule;
pub mod serve;
pub mod stats;
pub mod threshold;
