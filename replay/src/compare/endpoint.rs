//! Endpoint names: method and path template (stub: being written).

/// Why an `--endpoint` did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad endpoint {text:?}: {why}")]
pub struct EndpointError {
    pub text: String,
    pub why: String,
}

/// Names requests by endpoint: `--endpoint` templates first, else the
/// automatic template.
#[derive(Debug, Default)]
pub struct Endpoints {}

impl Endpoints {
    pub fn new(overrides: &[String]) -> Result<Endpoints, EndpointError> {
        let _ = overrides;
        Ok(Endpoints {})
    }

    /// The endpoint of a request with this method and request target.
    pub fn name(&self, method: &str, target: &str) -> String {
        template(method, target)
    }
}

/// The automatic template of a request: `METHOD /path/{id}?key&key`.
pub fn template(method: &str, target: &str) -> String {
    format!("{method} {target}")
}
