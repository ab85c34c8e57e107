//! `shadowtap serve`: the built-in HTTP/1.1 target (see
//! `shadowtap_replay::serve`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use shadowtap_cli::shutdown::Shutdown;
use shadowtap_replay::serve::{
    ServeError, ServeOptions, ServeSummary, Server, DEFAULT_MAX_CONNECTIONS,
};

use crate::{exit, units};

/// Options of `shadowtap serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on: `127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`,
    /// or `:8080` for every IPv4 interface. Port 0 picks a free port; the
    /// address in use is printed on stderr as `listening on ADDR`.
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// Record every request received, byte-exact, into this `.stlog` file.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Wait this long before answering each request (other connections are
    /// not held up).
    #[arg(
        long,
        value_name = "DUR",
        value_parser = units::duration,
        default_value = "0s",
        allow_hyphen_values = true,
    )]
    pub delay: Duration,
    /// Status code of every response (200 to 599).
    #[arg(
        long,
        value_name = "CODE",
        default_value_t = 200,
        allow_negative_numbers = true,
        value_parser = units::count::<u16>,
    )]
    pub status: u16,
    /// Body size of every response.
    #[arg(
        long,
        value_name = "SIZE",
        value_parser = units::size,
        default_value = "0",
        allow_negative_numbers = true,
    )]
    pub body_size: u64,
    /// Connections served at once; more wait in the listen backlog.
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_MAX_CONNECTIONS,
        allow_negative_numbers = true,
        value_parser = units::count::<usize>,
    )]
    pub max_connections: usize,
    /// Longest request head (request line and headers) accepted; longer
    /// ones get 431. At most 1MiB.
    #[arg(
        long,
        value_name = "SIZE",
        value_parser = units::size,
        default_value = "64KiB",
        allow_negative_numbers = true,
    )]
    pub max_head: u64,
    /// With --record: request body bytes kept per exchange (longer bodies are
    /// flagged req_body_capped, with their true length); the response body is
    /// kept up to the same size. At most 16MiB, a hard limit: an exchange must
    /// fit in one block of the log format (64 MiB decoded).
    #[arg(
        long,
        value_name = "SIZE",
        value_parser = units::size,
        default_value = "1MiB",
        allow_negative_numbers = true,
    )]
    pub record_body_cap: u64,
    /// Close connections that send nothing for this long.
    #[arg(
        long,
        value_name = "DUR",
        value_parser = units::duration,
        default_value = "60s",
        allow_hyphen_values = true,
    )]
    pub idle_timeout: Duration,
}

fn resolve_listen(s: &str) -> anyhow::Result<SocketAddr> {
    let s = s.trim();
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_owned()
    };
    match full.to_socket_addrs() {
        Ok(mut addrs) => match addrs.next() {
            Some(a) => Ok(a),
            None => exit::usage(format!("--listen {s:?}: the name resolves to no address")),
        },
        Err(e) => exit::usage(format!(
            "--listen {s:?}: not an address ({e}); examples: 127.0.0.1:8080, [::1]:8080, :8080"
        )),
    }
}

/// Phase two of the flags: the server's options, typed (the server
/// validates their ranges when it binds).
fn options(args: &ServeArgs) -> anyhow::Result<ServeOptions> {
    let too_big = |name: &str| exit::UsageError(format!("{name} is too large"));
    Ok(ServeOptions {
        listen: resolve_listen(&args.listen)?,
        record: args.record.clone(),
        delay: args.delay,
        status: args.status,
        body_size: args.body_size,
        max_connections: args.max_connections,
        max_head: usize::try_from(args.max_head).map_err(|_| too_big("--max-head"))?,
        record_body_cap: usize::try_from(args.record_body_cap)
            .map_err(|_| too_big("--record-body-cap"))?,
        idle_timeout: args.idle_timeout,
        ..ServeOptions::default()
    })
}

pub fn run(args: ServeArgs) -> anyhow::Result<u8> {
    let server = bind(options(&args)?)?;
    let addr = server.local_addr();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    // Installed before the address is announced, so a script that signals
    // right after reading it is handled.
    let shutdown = Shutdown::install().context("installing the signal handlers")?;
    say!("listening on {addr}");
    let summary = rt.block_on(server.run(shutdown.first()))?;
    print_summary(&summary, args.record.as_deref());
    Ok(exit::OK)
}

/// Binds the server; the options it rejects are usage errors.
fn bind(opts: ServeOptions) -> anyhow::Result<Server> {
    match Server::bind(opts) {
        Ok(s) => Ok(s),
        Err(e @ (ServeError::InvalidStatus(_) | ServeError::InvalidOption { .. })) => {
            exit::usage(e.to_string())
        }
        Err(e) => Err(e.into()),
    }
}

fn print_summary(summary: &ServeSummary, record: Option<&Path>) {
    say!(
        "served {} requests on {} connections ({} bad){}",
        summary.requests,
        summary.connections,
        summary.bad_requests,
        match record {
            Some(path) => format!(
                "; recorded {} exchanges to {}",
                summary.recorded,
                path.display()
            ),
            None => String::new(),
        }
    );
    if summary.aborted_connections > 0 {
        say!(
            "shadowtap: warning: {} connections were still busy at shutdown and were cut",
            summary.aborted_connections
        );
    }
}
