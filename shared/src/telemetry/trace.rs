//! Traces across functions: W3C trace context in, child spans around upstream
//! calls, trace context out.
//!
//! A CloudEvent carries the context in its `traceparent`/`tracestate` extensions
//! (the CloudEvents Distributed Tracing extension): `ce-traceparent` headers in
//! binary mode, attributes in structured mode. The bridge starts a trace per AMQP
//! message; each function continues it; every Koji/Pagure/Testing Farm/FASJSON call
//! is a client span whose `traceparent` goes out on the request. Trace ids exist
//! (and reach the logs as `trace_id`) whether or not anything is exported; spans
//! are exported over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The CloudEvents extension names (and HTTP header names) of the W3C context.
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// The tracer every span goes to; exported only with an OTLP endpoint.
pub(super) fn provider(service: &'static str, otlp: bool) -> Result<SdkTracerProvider, String> {
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service).build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    if !otlp {
        return Ok(builder.build());
    }
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| "OTLP export needs the async runtime to be running".to_owned())?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot build the OTLP HTTP client: {e}"))?;
    // Endpoint, headers and timeout come from the standard OTEL_EXPORTER_OTLP_* variables.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(OtlpHttp { http, runtime })
        .build()
        .map_err(|e| format!("OTEL_EXPORTER_OTLP_ENDPOINT: {e}"))?;
    Ok(builder.with_batch_exporter(exporter).build())
}

pub(super) fn tracer(provider: &SdkTracerProvider) -> SdkTracer {
    provider.tracer("fedora-ci")
}

/// OTLP over the reqwest 0.12 + rustls stack the clients already use. The SDK's
/// batch processor exports from its own thread, outside the runtime, so the
/// request runs as a task on the runtime and the exporter awaits its handle.
#[derive(Debug)]
struct OtlpHttp {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpHttp {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let request = reqwest::Request::try_from(request.map(reqwest::Body::from))?;
        let http = self.http.clone();
        self.runtime
            .spawn(async move {
                let response = http.execute(request).await?;
                let mut out = http::Response::builder().status(response.status());
                if let Some(headers) = out.headers_mut() {
                    *headers = response.headers().clone();
                }
                let body = response.bytes().await?;
                Ok(out.body(body)?)
            })
            .await?
    }
}

/// `version-traceid-parentid-flags` with the W3C field widths. The propagator
/// itself accepts short ids, which a conforming sender never produces.
fn well_formed(traceparent: &str) -> bool {
    let widths = [2, 32, 16, 2];
    let parts: Vec<&str> = traceparent.trim().split('-').collect();
    parts.len() >= widths.len()
        && parts.iter().zip(widths).all(|(p, w)| p.len() == w && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The remote parent named by a `traceparent` (and optional `tracestate`) value.
fn remote_context(traceparent: &str, tracestate: Option<&str>) -> Option<opentelemetry::Context> {
    if !well_formed(traceparent) {
        return None;
    }
    let mut carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    if let Some(state) = tracestate {
        carrier.insert(TRACESTATE.to_owned(), state.to_owned());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    cx.span().span_context().is_valid().then_some(cx)
}

/// Makes `span` continue the trace of `traceparent` when it is a valid W3C value
/// (an invalid one is ignored: a new trace starts, the event is still handled),
/// then records the span's `trace_id` field. Must run before the span is entered.
pub fn continue_trace(span: &Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    if let Some(cx) = traceparent.and_then(|t| remote_context(t, tracestate)) {
        let _ = span.set_parent(cx);
    }
    if let Some(id) = trace_id(span) {
        span.record("trace_id", id.as_str());
    }
}

/// The span's trace id as 32 hex digits; `None` without the tracing layer.
pub fn trace_id(span: &Span) -> Option<String> {
    let cx = span.context();
    let span_context = cx.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

/// `traceparent` (and `tracestate`, when there is one) naming `span` as the parent.
pub fn outgoing(span: &Span) -> Vec<(&'static str, String)> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    [TRACEPARENT, TRACESTATE]
        .into_iter()
        .filter_map(|name| carrier.remove(name).filter(|v| !v.is_empty()).map(|v| (name, v)))
        .collect()
}

/// Sends an upstream request as a client span of the current one, with that
/// span's `traceparent`, so the call shows up in the trace and the upstream (or
/// our sandbox) can join it.
pub async fn send(service: &'static str, request: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
    let span = tracing::info_span!("upstream", service, otel.kind = "client", otel.name = service);
    let mut request = request;
    for (name, value) in outgoing(&span) {
        request = request.header(name, value);
    }
    tracing::Instrument::instrument(request.send(), span).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_valid_traceparents_become_parents() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cx = remote_context(valid, Some("vendor=x")).expect("valid");
        assert_eq!(cx.span().span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        for bad in ["", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf9-00f0-01"] {
            assert!(remote_context(bad, None).is_none(), "{bad}");
        }
    }
}
