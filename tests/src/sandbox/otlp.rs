//! An OpenTelemetry collector's OTLP/HTTP trace endpoint (`POST /v1/traces`,
//! protobuf), decoding what it receives with the OTLP protobuf definitions.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// One received span, ids as lowercase hex.
#[derive(Debug, Clone)]
pub struct CollectedSpan {
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// OTLP span kind: 2 server, 3 client, 4 producer.
    pub kind: i32,
}

pub struct OtlpCollector {
    pub url: String,
    spans: Arc<Mutex<Vec<CollectedSpan>>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn traces(State(spans): State<Arc<Mutex<Vec<CollectedSpan>>>>, body: Bytes) -> StatusCode {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else { return StatusCode::BAD_REQUEST };
    let mut spans = spans.lock().unwrap();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| a.value.as_ref())
            .and_then(|v| match &v.value {
                Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                spans.push(CollectedSpan {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    kind: span.kind,
                });
            }
        }
    }
    StatusCode::OK
}

impl OtlpCollector {
    pub async fn start() -> OtlpCollector {
        let spans: Arc<Mutex<Vec<CollectedSpan>>> = Arc::default();
        let router = Router::new().route("/v1/traces", post(traces)).with_state(spans.clone());
        OtlpCollector { url: super::spawn(router).await, spans }
    }

    pub fn spans(&self) -> Vec<CollectedSpan> {
        self.spans.lock().unwrap().clone()
    }
}
