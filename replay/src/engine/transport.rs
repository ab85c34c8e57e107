//! How a worker sends a request: the [`Transport`] trait, [`Session`] over
//! the network, and [`Network`], which makes one session per worker. Tests
//! put a fake here and run the engine on a paused clock.

use std::future::Future;
use std::sync::Arc;

use crate::client::{
    ClientError, ClientOptions, Endpoint, Kept, RawResponse, Reply, Session, Target,
};

/// Sends one prepared request and reads its response: [`Session`] over the
/// network, or a fake in tests.
pub trait Transport: Send + 'static {
    /// Sends the concatenation of `parts`; `method` frames the response;
    /// `keep_alive` false: the request does not let its connection carry
    /// another one ([`Prepared::keep_alive`](crate::rewrite::Prepared::keep_alive)).
    fn send(
        &mut self,
        parts: [&[u8]; 3],
        method: &str,
        keep_alive: bool,
    ) -> impl Future<Output = Reply> + Send;

    /// [`Transport::send`], keeping the final response in `kept` for a
    /// comparison ([`Session::send_keeping`]). By default nothing is kept
    /// (`kept` is only cleared): the worker then counts the request as not
    /// compared.
    fn send_keeping(
        &mut self,
        parts: [&[u8]; 3],
        method: &str,
        keep_alive: bool,
        kept: &mut Kept,
    ) -> impl Future<Output = Reply> + Send {
        kept.clear();
        self.send(parts, method, keep_alive)
    }

    /// [`Transport::send`], keeping the final response as it came off the
    /// wire in `raw` (`replay --record-responses`,
    /// [`Session::send_recording`]), and in `kept` when given. By default
    /// `raw` is only cleared (the request is recorded without a response)
    /// and `kept` goes to [`Transport::send_keeping`].
    fn send_recording(
        &mut self,
        parts: [&[u8]; 3],
        method: &str,
        keep_alive: bool,
        kept: Option<&mut Kept>,
        raw: &mut RawResponse,
    ) -> impl Future<Output = Reply> + Send {
        raw.clear();
        async move {
            match kept {
                Some(k) => self.send_keeping(parts, method, keep_alive, k).await,
                None => self.send(parts, method, keep_alive).await,
            }
        }
    }
}

impl Transport for Session {
    fn send(
        &mut self,
        parts: [&[u8]; 3],
        method: &str,
        keep_alive: bool,
    ) -> impl Future<Output = Reply> + Send {
        Session::send(self, parts, method, keep_alive)
    }

    fn send_keeping(
        &mut self,
        parts: [&[u8]; 3],
        method: &str,
        keep_alive: bool,
        kept: &mut Kept,
    ) -> impl Future<Output = Reply> + Send {
        Session::send_keeping(self, parts, method, keep_alive, kept)
    }

    fn send_recording(
        &mut self,
        parts: [&[u8]; 3],
        method: &str,
        keep_alive: bool,
        kept: Option<&mut Kept>,
        raw: &mut RawResponse,
    ) -> impl Future<Output = Reply> + Send {
        Session::send_recording(self, parts, method, keep_alive, kept, raw)
    }
}

/// Makes one [`Transport`] per worker.
pub trait Transports {
    /// The transport type.
    type T: Transport;
    /// A transport for a worker of target number `target`.
    fn make(&self, target: usize) -> Self::T;
}

/// The network: one resolved [`Endpoint`] per target.
#[derive(Debug)]
pub struct Network {
    endpoints: Vec<Arc<Endpoint>>,
}

impl Network {
    /// Resolves the targets and sets up TLS.
    pub async fn resolve(targets: &[Target], opts: ClientOptions) -> Result<Network, ClientError> {
        let mut endpoints = Vec::new();
        for t in targets {
            endpoints.push(Arc::new(Endpoint::new(t.clone(), opts).await?));
        }
        Ok(Network { endpoints })
    }
}

impl Transports for Network {
    type T = Session;
    fn make(&self, target: usize) -> Session {
        Session::new(self.endpoints[target].clone())
    }
}
