//! CloudEvents in: the HTTP binding (binary and structured mode) through
//! `cloudevents-sdk`, plus the checks that make a bad delivery a clear 400 instead
//! of a panic or a silent drop.
//!
//! Two extractors: [`CloudEventRequest`] gives the validated envelope and the raw
//! JSON body (for hot paths that want to look at one field before parsing the rest);
//! [`Received<T>`] gives the parsed Fedora Messaging message, or tells the handler
//! the event is not one it handles (answer 202, do nothing).

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use cloudevents::event::{Data, ExtensionValue};
use cloudevents::{AttributesReader, Event};
use serde_json::json;

use crate::messages::EventMeta;
use crate::messages::{FedoraMessage, KojiTaskStateChange, ParseError, PullRequestEvent, Topic, Topics};

/// Largest request body we accept. Fedora Messaging bodies are a few KiB; anything
/// near this is not a message we know.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Longest `id`, `source` or `type` we accept, in bytes. Fedora Messaging ids are
/// UUIDs and topics under 100 bytes; the three together stay within what one
/// b-tree index entry of `processed_events` can hold.
pub const MAX_ATTRIBUTE_BYTES: usize = 512;

/// Why a delivery was refused. Always answered with 400 and a JSON reason: the
/// sender (the Broker, or a person with curl) must learn what is wrong, and
/// redelivering the same bytes would not help.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("request body exceeds {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("could not read the request body: {0}")]
    Body(String),
    #[error("not a CloudEvent: {0}")]
    NotCloudEvent(String),
    #[error("unsupported content type '{0}': data must be JSON (application/json)")]
    ContentType(String),
    #[error("event data is not JSON: {0}")]
    NotJson(String),
    #[error("event of type '{0}' has no data")]
    NoData(String),
    #[error(transparent)]
    Message(#[from] ParseError),
}

impl IntoResponse for IntakeError {
    fn into_response(self) -> Response {
        tracing::warn!(reason = %self, "rejected delivery");
        (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": "bad_request", "reason": self.to_string() })))
            .into_response()
    }
}

/// A validated CloudEvent envelope. Its data is declared JSON; whether it *is*
/// JSON is checked when a handler asks for it ([`Self::require_data`]), not on
/// decode: a hot path (koji-finished) decides most events from an extension and
/// must not pay for a full scan of a body it will never read. An event nobody
/// reads the data of is answered 2xx, whatever that data is.
#[derive(Debug, Clone)]
pub struct CloudEventRequest {
    pub meta: EventMeta,
    /// Our topic, when the type is one (under the configured prefix).
    pub topic: Option<Topic>,
    data: Option<Bytes>,
}

impl CloudEventRequest {
    /// Decode an HTTP request per the CloudEvents HTTP binding. Pure function of the
    /// bytes, so it can be fuzzed without a server.
    pub fn decode(headers: &http::HeaderMap, body: Bytes, topics: &Topics) -> Result<Self, IntakeError> {
        let event = cloudevents::binding::http::to_event(headers, body.to_vec())
            .map_err(|e| IntakeError::NotCloudEvent(e.to_string()))?;
        Self::from_event(event, topics)
    }

    pub fn from_event(mut event: Event, topics: &Topics) -> Result<Self, IntakeError> {
        for (name, value) in [("id", event.id()), ("source", event.source().as_str()), ("type", event.ty())] {
            if value.trim().is_empty() {
                return Err(IntakeError::NotCloudEvent(format!("attribute '{name}' is empty")));
            }
            // Recorded in `processed_events` (a unique b-tree index, whose entries
            // Postgres caps near 2.7 kB) and never storable with a NUL: refused
            // here, or the insert would fail on every redelivery.
            if value.len() > MAX_ATTRIBUTE_BYTES {
                return Err(IntakeError::NotCloudEvent(format!(
                    "attribute '{name}' is longer than {MAX_ATTRIBUTE_BYTES} bytes"
                )));
            }
            if value.contains('\0') {
                return Err(IntakeError::NotCloudEvent(format!("attribute '{name}' holds a NUL character")));
            }
        }
        // Taken, not cloned: the body is the largest thing in the request.
        let (content_type, _, data) = event.take_data();
        let data = match data {
            None => None,
            Some(Data::Json(value)) => {
                Some(Bytes::from(serde_json::to_vec(&value).map_err(|e| IntakeError::NotJson(e.to_string()))?))
            }
            Some(Data::Binary(bytes)) => Some(declared_json(content_type.as_deref(), Bytes::from(bytes))?),
            Some(Data::String(s)) => Some(declared_json(content_type.as_deref(), Bytes::from(s.into_bytes()))?),
        };
        let extensions = event
            .iter_extensions()
            .map(|(k, v)| {
                let v = match v {
                    ExtensionValue::String(s) => s.clone(),
                    ExtensionValue::Boolean(b) => b.to_string(),
                    ExtensionValue::Integer(i) => i.to_string(),
                };
                (k.to_owned(), v)
            })
            .collect();
        let meta = EventMeta {
            id: event.id().to_owned(),
            event_type: event.ty().to_owned(),
            source: event.source().to_string(),
            time: event.time().copied(),
            extensions,
        };
        Ok(Self { topic: topics.classify(&meta.event_type), meta, data })
    }

    /// The body of one of our topics, checked to be JSON: 400 when a Fedora
    /// message comes without one or with one that is not JSON.
    pub fn require_data(&self) -> Result<&[u8], IntakeError> {
        let data = self.data.as_deref().ok_or_else(|| IntakeError::NoData(self.meta.event_type.clone()))?;
        // JSON is UTF-8 (RFC 8259), but skipping values (`IgnoredAny`) does not check
        // the bytes inside strings; the fuzzer found data passed on as JSON that was not.
        let text = std::str::from_utf8(data).map_err(|e| IntakeError::NotJson(format!("not UTF-8: {e}")))?;
        // Walked once, strings decoded: what Postgres cannot store (NUL, a lone
        // surrogate) is refused here, before any handler writes a row of it.
        crate::messages::json_input::check_storable(text).map_err(|e| IntakeError::NotJson(e.0))?;
        Ok(data)
    }
}

/// Binary-mode data must be declared JSON (checked to be JSON when read).
fn declared_json(content_type: Option<&str>, bytes: Bytes) -> Result<Bytes, IntakeError> {
    let ct = content_type.unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !(mime == "application/json" || mime == "text/json" || mime.ends_with("+json")) {
        return Err(IntakeError::ContentType(ct.to_owned()));
    }
    Ok(bytes)
}

impl<S> FromRequest<S> for CloudEventRequest
where
    Topics: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = IntakeError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let event = Self::decode(&parts.headers, body, &Topics::from_ref(state))?;
        if let Some(crate::telemetry::Function(function)) = parts.extensions.get() {
            crate::telemetry::metrics::event_received(function, event.type_label());
        }
        Ok(event)
    }
}

impl CloudEventRequest {
    /// The event type as a metric label: ours and the known non-Fedora sources
    /// as they are, anything else `other` (anyone may post any type to a public
    /// function, and every distinct label value is a new time series).
    fn type_label(&self) -> &str {
        let t = self.meta.event_type.as_str();
        let known = self.topic.is_some() || t.starts_with("dev.testing-farm.") || t.starts_with("dev.knative.");
        if known { t } else { "other" }
    }
}

/// Past this much we stop reading and drop the connection instead of draining.
const DRAIN_LIMIT: usize = 8 * MAX_BODY_BYTES;

/// Reads at most [`MAX_BODY_BYTES`]. An oversized body is read on (and discarded)
/// up to [`DRAIN_LIMIT`] so the sender reliably gets its 400 instead of a broken
/// pipe; memory use stays bounded by the limit either way.
async fn read_body(body: axum::body::Body) -> Result<Bytes, IntakeError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| IntakeError::Body(e.to_string()))?;
        let Ok(chunk) = frame.into_data() else { continue };
        seen = seen.saturating_add(chunk.len());
        if seen <= MAX_BODY_BYTES {
            kept.extend_from_slice(&chunk);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > MAX_BODY_BYTES { Err(IntakeError::TooLarge) } else { Ok(Bytes::from(kept)) }
}

/// A message type a function can ask for; `None` means "not a topic of mine".
pub trait FromFedoraMessage: Sized {
    fn from_message(topic: Topic, data: &[u8]) -> Option<Result<Self, ParseError>>;

    /// The package (`rpms/foo`) and PR the message is about, when it says.
    fn pull_request(&self) -> Option<(String, u64)> {
        None
    }
}

impl FromFedoraMessage for FedoraMessage {
    fn from_message(topic: Topic, data: &[u8]) -> Option<Result<Self, ParseError>> {
        Some(FedoraMessage::parse(topic, data))
    }
}

impl FromFedoraMessage for PullRequestEvent {
    fn from_message(topic: Topic, data: &[u8]) -> Option<Result<Self, ParseError>> {
        topic.is_pull_request().then(|| PullRequestEvent::parse(topic, data))
    }

    fn pull_request(&self) -> Option<(String, u64)> {
        Some((self.pr.project_path(), self.pr.id))
    }
}

impl FromFedoraMessage for KojiTaskStateChange {
    fn from_message(topic: Topic, data: &[u8]) -> Option<Result<Self, ParseError>> {
        (topic == Topic::KojiTaskStateChange).then(|| KojiTaskStateChange::parse(data))
    }
}

/// What a handler gets: its message, or word that the event is not for it.
#[derive(Debug)]
pub enum Received<T> {
    Message { meta: EventMeta, topic: Topic, message: T },
    NotHandled { meta: EventMeta },
}

impl<S, T> FromRequest<S> for Received<T>
where
    Topics: FromRef<S>,
    S: Send + Sync,
    T: FromFedoraMessage,
{
    type Rejection = IntakeError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let event = CloudEventRequest::from_request(req, state).await?;
        let Some(topic) = event.topic else {
            return Ok(Received::NotHandled { meta: event.meta });
        };
        let data = event.require_data()?;
        match T::from_message(topic, data) {
            None => Ok(Received::NotHandled { meta: event.meta }),
            Some(parsed) => {
                let message = parsed?;
                if let Some((package, pr)) = message.pull_request() {
                    crate::telemetry::annotate_pr(&package, pr);
                }
                Ok(Received::Message { topic, message, meta: event.meta })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use proptest::prelude::*;

    use super::*;

    fn topics() -> Topics {
        Topics::new("org.fedoraproject.prod.")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap())).collect()
    }

    const PR_TYPE: &str = "org.fedoraproject.prod.pagure.pull-request.new";

    fn binary(skip: &str) -> HeaderMap {
        let all = [
            ("ce-specversion", "1.0"),
            ("ce-id", "abc"),
            ("ce-type", PR_TYPE),
            ("ce-source", "amqps://rabbitmq"),
            ("content-type", "application/json"),
        ];
        headers(&all.into_iter().filter(|(k, _)| *k != skip).collect::<Vec<_>>())
    }

    #[test]
    fn binary_mode_event_decodes_with_topic_and_extensions() {
        let mut h = binary("");
        h.insert("ce-kojiowner", "packit".parse().unwrap());
        let e = CloudEventRequest::decode(&h, Bytes::from_static(br#"{"a":1}"#), &topics()).unwrap();
        assert_eq!(e.meta.id, "abc");
        assert_eq!(e.topic, Some(Topic::PullRequestNew));
        assert_eq!(e.meta.extension("kojiowner"), Some("packit"));
        assert_eq!(e.require_data().unwrap(), br#"{"a":1}"#);
    }

    #[test]
    fn structured_mode_event_decodes() {
        let body = serde_json::json!({
            "specversion": "1.0", "id": "x1", "type": PR_TYPE, "source": "/s",
            "datacontenttype": "application/json", "data": {"b": [1, 2]}
        });
        let h = headers(&[("content-type", "application/cloudevents+json; charset=utf-8")]);
        let e = CloudEventRequest::decode(&h, Bytes::from(body.to_string()), &topics()).unwrap();
        assert_eq!(e.meta.id, "x1");
        let data: serde_json::Value = serde_json::from_slice(e.require_data().unwrap()).unwrap();
        assert_eq!(data, serde_json::json!({"b": [1, 2]}));
    }

    #[test]
    fn each_missing_required_attribute_is_refused() {
        for missing in ["ce-id", "ce-type", "ce-source", "ce-specversion"] {
            let err = CloudEventRequest::decode(&binary(missing), Bytes::from_static(b"{}"), &topics()).unwrap_err();
            assert!(matches!(err, IntakeError::NotCloudEvent(_)), "{missing}: {err}");
        }
    }

    #[test]
    fn structured_mode_without_required_attributes_is_refused() {
        let h = headers(&[("content-type", "application/cloudevents+json")]);
        for body in
            [r#"{"specversion":"1.0","type":"t","source":"/s"}"#, r#"{"id":"1","type":"t","source":"/s"}"#, "not json"]
        {
            assert!(CloudEventRequest::decode(&h, Bytes::from(body), &topics()).is_err(), "{body}");
        }
    }

    #[test]
    fn non_json_data_and_wrong_content_type_are_refused() {
        let e = CloudEventRequest::decode(&binary(""), Bytes::from_static(b"<xml/>"), &topics()).unwrap();
        assert!(matches!(e.require_data(), Err(IntakeError::NotJson(_))), "{:?}", e.require_data());
        let e = CloudEventRequest::decode(&binary(""), Bytes::from_static(b"\"\xff\""), &topics()).unwrap();
        assert!(matches!(e.require_data(), Err(IntakeError::NotJson(_))), "{:?}", e.require_data());
        let mut h = binary("content-type");
        h.insert("content-type", "text/plain".parse().unwrap());
        let err = CloudEventRequest::decode(&h, Bytes::from_static(b"{}"), &topics()).unwrap_err();
        assert!(matches!(err, IntakeError::ContentType(_)), "{err}");
        let err = CloudEventRequest::decode(&binary("content-type"), Bytes::from_static(b"{}"), &topics()).unwrap_err();
        assert!(matches!(err, IntakeError::ContentType(_)), "{err}");
    }

    #[test]
    fn empty_id_is_refused() {
        let mut h = binary("ce-id");
        h.insert("ce-id", " ".parse().unwrap());
        assert!(CloudEventRequest::decode(&h, Bytes::from_static(b"{}"), &topics()).is_err());
    }

    #[test]
    fn an_event_without_data_is_fine_until_data_is_needed() {
        let e = CloudEventRequest::decode(&binary(""), Bytes::new(), &topics()).unwrap();
        assert!(matches!(e.require_data(), Err(IntakeError::NoData(_))));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Whatever arrives, decoding answers Ok or Err and never panics.
        #[test]
        fn decode_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            structured in any::<bool>(),
            id in "\\PC{0,8}",
            ty in prop_oneof![Just(PR_TYPE.to_owned()), "\\PC{0,20}"],
            spec in prop_oneof![Just("1.0".to_owned()), Just("0.3".to_owned()), "\\PC{0,4}"],
        ) {
            let mut h = HeaderMap::new();
            if structured {
                h.insert("content-type", "application/cloudevents+json".parse().unwrap());
            } else {
                for (k, v) in [("ce-specversion", spec), ("ce-id", id), ("ce-type", ty), ("ce-source", "/s".into())] {
                    if let Ok(v) = v.parse() { h.insert(k, v); }
                }
                h.insert("content-type", "application/json".parse().unwrap());
            }
            let _ = CloudEventRequest::decode(&h, Bytes::from(body), &topics());
        }

        /// Any JSON body under any of our topics parses or errors, never panics.
        #[test]
        fn message_parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256), t in 0usize..Topic::ALL.len()) {
            let _ = crate::messages::FedoraMessage::parse(Topic::ALL[t], &body);
        }
    }
}
