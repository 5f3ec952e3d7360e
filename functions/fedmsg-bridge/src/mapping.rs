//! One AMQP message → one CloudEvent. Pure functions of the message, so the whole
//! mapping is unit- and property-tested without a broker.
//!
//! | CloudEvent        | from                                                    |
//! |-------------------|---------------------------------------------------------|
//! | `id`              | AMQP `message-id` (fedora-messaging's message id)       |
//! | `type`            | the routing key (the topic)                             |
//! | `source`          | the broker URL without credentials                      |
//! | `time`            | the `sent-at` header, else the AMQP `timestamp`         |
//! | `datacontenttype` | `application/json`                                      |
//! | data              | the body, byte for byte                                 |
//! | extensions        | every other header (names legalised, see [`extension_name`]), then the promoted body fields |

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cloudevents::event::ExtensionValue;
use cloudevents::message::{BinaryDeserializer, BinarySerializer, MessageAttributeValue};
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use lapin::types::{AMQPValue, FieldTable};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Longest extension name the CloudEvents spec guarantees every SDK accepts.
pub const MAX_EXTENSION_NAME: usize = 20;

/// Context attribute names an extension must not shadow.
const RESERVED: [&str; 10] =
    ["specversion", "id", "source", "type", "datacontenttype", "dataschema", "subject", "time", "data", "schemaurl"];

/// The header fedora-messaging stamps with the publish time; it becomes `time`.
const SENT_AT: &str = "sent-at";

/// Lowercase a–z and 0–9 only, 1–20 characters, not a context attribute.
pub fn legal_extension_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_EXTENSION_NAME
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && !RESERVED.contains(&name)
}

/// A promotion table with an illegal name is refused at start (the bridge's
/// config reads the table), not silently renamed.
fn check_extension_name(name: &str) -> Result<(), String> {
    if legal_extension_name(name) {
        Ok(())
    } else {
        Err(format!("'{name}' is not a legal CloudEvent extension name (a-z, 0-9, at most 20 characters)"))
    }
}

/// The extension name for an AMQP header, deterministic so that a Trigger filter
/// written once keeps matching:
///
/// 1. lowercase; the `fedora_messaging_` prefix becomes `fm`
///    (`fedora_messaging_severity` → `fmseverity`, `fedora_messaging_user_packit`
///    → `fmuserpackit`), because the long prefix would use up the 20 characters;
/// 2. every character outside a–z and 0–9 is dropped (`sent-at` → `sentat`);
/// 3. an empty result or a context attribute name (`id`, `type`, …) gets the prefix
///    `amqp` (`type` → `amqptype`) so a header can never overwrite the envelope;
/// 4. a result over 20 characters keeps its first 13 and appends the first 7 hex
///    digits of the SHA-256 of the original header name, so two long headers that
///    share a beginning still get different names.
pub fn extension_name(header: &str) -> String {
    let lower = header.to_ascii_lowercase();
    let shortened = match lower.strip_prefix("fedora_messaging_") {
        Some(rest) => format!("fm{rest}"),
        None => lower,
    };
    let mut name: String = shortened.chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit()).collect();
    if name.is_empty() || RESERVED.contains(&name.as_str()) {
        name.insert_str(0, "amqp");
    }
    if name.len() > MAX_EXTENSION_NAME { with_hash(&name, header) } else { name }
}

/// The first 13 characters of a legal name plus 7 hex digits of the original
/// header name's SHA-256: still legal, and distinct for distinct headers.
fn with_hash(cleaned: &str, original: &str) -> String {
    let digest = Sha256::digest(original.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let keep = cleaned.len().min(MAX_EXTENSION_NAME - 7);
    format!("{}{}", &cleaned[..keep], &hex[..7])
}

/// Body fields copied into extensions per topic, so a Knative Trigger can filter on
/// them (e.g. only our Koji user's tasks) without waking a function.
///
/// Syntax (`FEDMSG_BRIDGE_PROMOTE`): rules separated by `;`, each
/// `<topic pattern>:<extension>=<dotted.body.path>[,<extension>=<path>…]`. A pattern
/// matches a topic when it matches the whole topic or the part after any `.` (so
/// `buildsys.task.state.change` matches it under every deployment prefix); `*`
/// matches any run of characters, dots included. Every matching rule applies, in
/// order; a missing or `null` field sets nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Promotions {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    pattern: String,
    fields: Vec<(String, Vec<String>)>,
}

impl Promotions {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        for rule in spec.split(';').map(str::trim).filter(|r| !r.is_empty()) {
            let (pattern, fields) =
                rule.split_once(':').ok_or_else(|| format!("'{rule}' is not <topic>:<extension>=<field>,…"))?;
            let pattern = pattern.trim();
            if pattern.is_empty() {
                return Err(format!("'{rule}' has no topic pattern"));
            }
            let mut parsed = Vec::new();
            for field in fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                let (name, path) =
                    field.split_once('=').ok_or_else(|| format!("'{field}' is not <extension>=<field.path>"))?;
                let (name, path) = (name.trim(), path.trim());
                check_extension_name(name)?;
                let path: Vec<String> = path.split('.').map(str::to_owned).collect();
                if path.iter().any(String::is_empty) {
                    return Err(format!("'{field}' has an empty field path segment"));
                }
                parsed.push((name.to_owned(), path));
            }
            if parsed.is_empty() {
                return Err(format!("'{rule}' promotes no field"));
            }
            rules.push(Rule { pattern: pattern.to_owned(), fields: parsed });
        }
        Ok(Self { rules })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The extensions promoted from `body` for a message on `topic`.
    pub fn apply(&self, topic: &str, body: &Value) -> Vec<(String, ExtensionValue)> {
        let mut out = Vec::new();
        for rule in self.rules.iter().filter(|r| topic_matches(&r.pattern, topic)) {
            for (name, path) in &rule.fields {
                let found = path.iter().try_fold(body, |v, key| v.get(key));
                if let Some(value) = found.and_then(json_extension) {
                    out.push((name.clone(), value));
                }
            }
        }
        out
    }
}

fn topic_matches(pattern: &str, topic: &str) -> bool {
    glob(pattern.as_bytes(), topic.as_bytes())
        || topic.match_indices('.').any(|(i, _)| glob(pattern.as_bytes(), &topic.as_bytes()[i + 1..]))
}

/// `*` matches any run of bytes; everything else matches itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text.split_first().is_some_and(|(t, tail)| t == c && glob(rest, tail)),
    }
}

/// Scalars keep their type (so a boolean filter header stays `true`); objects and
/// arrays travel as compact JSON; `null` sets nothing.
fn json_extension(value: &Value) -> Option<ExtensionValue> {
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(ExtensionValue::Boolean(*b)),
        Value::Number(n) => Some(n.as_i64().map(ExtensionValue::Integer).unwrap_or_else(|| n.to_string().into())),
        Value::String(s) => Some(ExtensionValue::String(s.clone())),
        other => Some(ExtensionValue::String(other.to_string())),
    }
}

fn amqp_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(i) => (*i).into(),
        AMQPValue::ShortShortUInt(i) => (*i).into(),
        AMQPValue::ShortInt(i) => (*i).into(),
        AMQPValue::ShortUInt(i) => (*i).into(),
        AMQPValue::LongInt(i) => (*i).into(),
        AMQPValue::LongUInt(i) => (*i).into(),
        AMQPValue::LongLongInt(i) => (*i).into(),
        AMQPValue::Float(f) => Value::String(f.to_string()),
        AMQPValue::Double(f) => Value::String(f.to_string()),
        AMQPValue::DecimalValue(d) => Value::String(format!("{}e-{}", d.value, d.scale)),
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_owned()),
        AMQPValue::LongString(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ByteArray(b) => Value::String(String::from_utf8_lossy(b.as_slice()).into_owned()),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(amqp_json).collect()),
        AMQPValue::Timestamp(t) => Value::from(*t),
        AMQPValue::FieldTable(t) => {
            Value::Object(t.inner().iter().map(|(k, v)| (k.as_str().to_owned(), amqp_json(v))).collect())
        }
        AMQPValue::Void => Value::Null,
    }
}

/// A message as it arrived, borrowed from the delivery.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub routing_key: &'a str,
    pub message_id: Option<&'a str>,
    /// AMQP `timestamp` property (seconds since the epoch).
    pub timestamp: Option<u64>,
    pub headers: Option<&'a FieldTable>,
    pub body: &'a [u8],
}

/// Why a message cannot become a CloudEvent; it goes to the dead-letter queue.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unmappable {
    /// serde's message names only the position, never the content.
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("message has no routing key, so no CloudEvent type")]
    NoTopic,
    #[error("not a valid CloudEvent: {0}")]
    Invalid(String),
    /// A CloudEvent the sink refused for good (its answer, bounded).
    #[error("refused by the sink: {0}")]
    Refused(String),
}

/// What the mapping needs besides the message.
#[derive(Debug, Clone)]
pub struct Mapper {
    pub source: String,
    pub promotions: Promotions,
}

impl Mapper {
    pub fn to_event(&self, msg: &Incoming<'_>) -> Result<Event, Unmappable> {
        let body: Value = serde_json::from_slice(msg.body).map_err(|e| Unmappable::NotJson(e.to_string()))?;
        if msg.routing_key.is_empty() {
            return Err(Unmappable::NoTopic);
        }
        let id = match msg.message_id.filter(|id| !id.is_empty()) {
            Some(id) => id.to_owned(),
            None => fallback_id(msg.routing_key, msg.body),
        };
        let headers = msg.headers.map(FieldTable::inner);
        let sent_at = headers.and_then(|h| h.get(SENT_AT)).and_then(|v| match amqp_json(v) {
            Value::String(s) => DateTime::parse_from_rfc3339(&s).ok().map(|t| t.with_timezone(&Utc)),
            _ => None,
        });
        let time = sent_at
            .or_else(|| msg.timestamp.and_then(|t| i64::try_from(t).ok()).and_then(|t| DateTime::from_timestamp(t, 0)));

        let mut extensions: BTreeMap<String, ExtensionValue> = BTreeMap::new();
        for (key, value) in headers.into_iter().flatten() {
            // An unparsable sent-at stays visible as an extension rather than vanish.
            if key.as_str() == SENT_AT && sent_at.is_some() {
                continue;
            }
            let Some(value) = json_extension(&amqp_json(value)) else { continue };
            let mut name = extension_name(key.as_str());
            if extensions.contains_key(&name) {
                // `a_b` and `ab` both clean to `ab`: the later one (headers come in
                // name order, so this is deterministic) gets the hashed form.
                name = with_hash(&name, key.as_str());
            }
            extensions.insert(name, value);
        }
        extensions.extend(self.promotions.apply(msg.routing_key, &body));

        let mut builder = EventBuilderV10::new()
            .id(id)
            .ty(msg.routing_key)
            .source(self.source.clone())
            .data("application/json", msg.body.to_vec());
        if let Some(time) = time {
            builder = builder.time(time);
        }
        for (name, value) in extensions {
            builder = builder.extension(&name, value);
        }
        builder.build().map_err(|e| Unmappable::Invalid(e.to_string()))
    }
}

/// fedora-messaging always sets a message id; for anything else, an id derived from
/// the message keeps a redelivery recognisable as the same event downstream.
fn fallback_id(topic: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(topic.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    let hex: String = hasher.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("sha256-{hex}")
}

/// Fills a request with the event in binary mode (`ce-*` headers, body as is).
/// The SDK's own serializer writes string values verbatim, and a header value
/// outside visible ASCII would make the request fail to build; the HTTP binding
/// says to percent-encode space, `"`, `%` and everything outside U+0021–U+007E,
/// which is what this adds before handing each value on.
pub fn to_request(event: Event, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, String> {
    let serializer = PercentEncoding(cloudevents::binding::reqwest::RequestSerializer::new(request));
    BinaryDeserializer::deserialize_binary(event, serializer).map_err(|e| e.to_string())
}

struct PercentEncoding(cloudevents::binding::reqwest::RequestSerializer);

fn encode(value: MessageAttributeValue) -> MessageAttributeValue {
    match value {
        MessageAttributeValue::String(s) if s.bytes().any(needs_encoding) => {
            let mut out = String::with_capacity(s.len() + 8);
            for b in s.bytes() {
                if needs_encoding(b) {
                    out.push_str(&format!("%{b:02X}"));
                } else {
                    out.push(b as char);
                }
            }
            MessageAttributeValue::String(out)
        }
        other => other,
    }
}

fn needs_encoding(b: u8) -> bool {
    !(0x21..=0x7e).contains(&b) || b == b'"' || b == b'%'
}

impl BinarySerializer<reqwest::RequestBuilder> for PercentEncoding {
    fn set_spec_version(self, v: cloudevents::event::SpecVersion) -> cloudevents::message::Result<Self> {
        self.0.set_spec_version(v).map(Self)
    }

    fn set_attribute(self, name: &str, value: MessageAttributeValue) -> cloudevents::message::Result<Self> {
        self.0.set_attribute(name, encode(value)).map(Self)
    }

    fn set_extension(self, name: &str, value: MessageAttributeValue) -> cloudevents::message::Result<Self> {
        self.0.set_extension(name, encode(value)).map(Self)
    }

    fn end_with_data(self, bytes: Vec<u8>) -> cloudevents::message::Result<reqwest::RequestBuilder> {
        self.0.end_with_data(bytes)
    }

    fn end(self) -> cloudevents::message::Result<reqwest::RequestBuilder> {
        self.0.end()
    }
}

#[cfg(test)]
mod tests {
    use cloudevents::AttributesReader;
    use cloudevents::event::Data;
    use lapin::types::{LongString, ShortString};
    use proptest::prelude::*;

    use super::*;
    use crate::config::DEFAULT_PROMOTE;

    fn mapper() -> Mapper {
        Mapper {
            source: "amqps://rabbitmq.fedoraproject.org/%2Fpublic_pubsub".into(),
            promotions: Promotions::parse(DEFAULT_PROMOTE).unwrap(),
        }
    }

    fn headers(pairs: &[(&str, AMQPValue)]) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in pairs {
            t.insert(ShortString::from(*k), v.clone());
        }
        t
    }

    fn s(v: &str) -> AMQPValue {
        AMQPValue::LongString(LongString::from(v))
    }

    fn ext(e: &Event, name: &str) -> Option<String> {
        e.extension(name).map(|v| v.to_string())
    }

    #[test]
    fn a_fedora_messaging_message_maps_field_by_field() {
        let body = br#"{"owner": "packit", "method": "build", "id": 45270170, "info": {"x": 1}}"#;
        let h = headers(&[
            ("fedora_messaging_schema", s("koji_fedoramessaging.task.TaskStateChangeV1")),
            ("sent-at", s("2024-10-23T12:39:35+00:00")),
            ("fedora_messaging_severity", AMQPValue::LongLongInt(20)),
            ("priority", AMQPValue::LongLongInt(0)),
            ("fedora_messaging_user_packit", AMQPValue::Boolean(true)),
            ("fedora_messaging_rpm_python-django-rest-framework", AMQPValue::Boolean(true)),
        ]);
        let msg = Incoming {
            routing_key: "org.fedoraproject.prod.buildsys.task.state.change",
            message_id: Some("5c1b1a52-9d4a-4a4e-9a0e-3a8bb39a2f3c"),
            timestamp: None,
            headers: Some(&h),
            body,
        };
        let e = mapper().to_event(&msg).unwrap();
        assert_eq!(e.id(), "5c1b1a52-9d4a-4a4e-9a0e-3a8bb39a2f3c");
        assert_eq!(e.ty(), "org.fedoraproject.prod.buildsys.task.state.change");
        assert_eq!(e.source().as_str(), "amqps://rabbitmq.fedoraproject.org/%2Fpublic_pubsub");
        assert_eq!(e.time().unwrap().to_rfc3339(), "2024-10-23T12:39:35+00:00");
        assert_eq!(e.datacontenttype(), Some("application/json"));
        assert_eq!(e.data(), Some(&Data::Binary(body.to_vec())));
        assert_eq!(ext(&e, "fmschema").as_deref(), Some("koji_fedoramessaging.task.TaskStateChangeV1"));
        assert_eq!(ext(&e, "fmseverity").as_deref(), Some("20"));
        assert_eq!(ext(&e, "priority").as_deref(), Some("0"));
        assert_eq!(ext(&e, "fmuserpackit").as_deref(), Some("true"));
        assert_eq!(ext(&e, "kojiowner").as_deref(), Some("packit"));
        assert_eq!(ext(&e, "kojimethod").as_deref(), Some("build"));
        assert_eq!(ext(&e, "sentat"), None, "sent-at became time");
        assert!(e.iter_extensions().all(|(n, _)| legal_extension_name(n)), "{e}");
        assert_eq!(e.iter_extensions().count(), 7);
    }

    #[test]
    fn pagure_topics_promote_the_namespace_under_any_prefix() {
        let body = br#"{"pullrequest": {"project": {"namespace": "rpms", "name": "hello"}}}"#;
        for topic in [
            "org.fedoraproject.prod.pagure.pull-request.new",
            "org.fedoraproject.stg.pagure.pull-request.comment.added",
        ] {
            let msg = Incoming { routing_key: topic, message_id: Some("x"), timestamp: None, headers: None, body };
            let e = mapper().to_event(&msg).unwrap();
            assert_eq!(ext(&e, "pagurenamespace").as_deref(), Some("rpms"), "{topic}");
            assert_eq!(ext(&e, "kojiowner"), None);
        }
        let msg = Incoming {
            routing_key: "org.fedoraproject.prod.pagure.pull-request.new",
            message_id: Some("x"),
            timestamp: None,
            headers: None,
            body: br#"{"pullrequest": {"project": {"namespace": null}}}"#,
        };
        assert_eq!(ext(&mapper().to_event(&msg).unwrap(), "pagurenamespace"), None);
    }

    #[test]
    fn forgejo_topics_promote_the_owner_organisation() {
        for name in ["forgejo_pr_opened.json", "forgejo_pr_comment_ci_test.json"] {
            let fixture = fedora_ci::dev::testing::Fixture::load_from("forgejo", name);
            let body = fixture.body_bytes();
            let msg = Incoming {
                routing_key: &fixture.topic,
                message_id: Some("x"),
                timestamp: None,
                headers: None,
                body: &body,
            };
            let e = mapper().to_event(&msg).unwrap();
            assert_eq!(ext(&e, "forgejoowner").as_deref(), Some("rpms"), "{name}");
            assert_eq!(ext(&e, "pagurenamespace"), None, "{name}");
        }
    }

    #[test]
    fn extension_names_are_legalised_deterministically() {
        assert_eq!(extension_name("priority"), "priority");
        assert_eq!(extension_name("fedora_messaging_schema"), "fmschema");
        assert_eq!(extension_name("fedora_messaging_severity"), "fmseverity");
        assert_eq!(extension_name("fedora_messaging_user_zwhite"), "fmuserzwhite");
        assert_eq!(extension_name("fedora_messaging_rpm_python-requests"), "fmrpmpythonrequests");
        assert_eq!(extension_name("sent-at"), "sentat");
        assert_eq!(extension_name("X-Custom_Header"), "xcustomheader");
        assert_eq!(extension_name("type"), "amqptype");
        assert_eq!(extension_name("Id"), "amqpid");
        assert_eq!(extension_name("---"), "amqp");
        let long = extension_name("fedora_messaging_rpm_python-django-rest-framework");
        assert_eq!(long.len(), 20);
        assert!(long.starts_with("fmrpmpythondj"), "{long}");
        assert_eq!(long, extension_name("fedora_messaging_rpm_python-django-rest-framework"));
        assert_ne!(long, extension_name("fedora_messaging_rpm_python-django-filter-extras"));
        for n in ["priority", "type", "", "ÄÖÜ", "fedora_messaging_group_a_very_long_group_name"] {
            assert!(legal_extension_name(&extension_name(n)), "{n}");
        }
    }

    #[test]
    fn headers_that_legalise_to_the_same_name_both_survive() {
        let h = headers(&[("a_b", s("1")), ("ab", s("2"))]);
        let msg = Incoming { routing_key: "t", message_id: Some("i"), timestamp: None, headers: Some(&h), body: b"{}" };
        let e = mapper().to_event(&msg).unwrap();
        assert_eq!(e.iter_extensions().count(), 2);
    }

    #[test]
    fn non_json_bodies_and_missing_topics_are_unmappable() {
        let msg = Incoming { routing_key: "t", message_id: Some("i"), timestamp: None, headers: None, body: b"\x00hi" };
        assert!(matches!(mapper().to_event(&msg), Err(Unmappable::NotJson(_))));
        let msg = Incoming { body: b"", ..msg };
        assert!(matches!(mapper().to_event(&msg), Err(Unmappable::NotJson(_))));
        let msg = Incoming { body: b"{}", routing_key: "", ..msg };
        assert_eq!(mapper().to_event(&msg), Err(Unmappable::NoTopic));
    }

    #[test]
    fn without_message_id_or_sent_at_the_fallbacks_apply() {
        let msg =
            Incoming { routing_key: "t", message_id: None, timestamp: Some(1_590_993_215), headers: None, body: b"{}" };
        let e = mapper().to_event(&msg).unwrap();
        assert!(e.id().starts_with("sha256-"));
        assert_eq!(e.id(), mapper().to_event(&msg).unwrap().id(), "stable across redeliveries");
        assert_eq!(e.time().unwrap().timestamp(), 1_590_993_215);
        let h = headers(&[("sent-at", s("yesterday"))]);
        let msg = Incoming { headers: Some(&h), timestamp: None, ..msg };
        let e = mapper().to_event(&msg).unwrap();
        assert_eq!(e.time(), None);
        assert_eq!(ext(&e, "sentat").as_deref(), Some("yesterday"));
    }

    #[test]
    fn promotion_table_syntax() {
        let p = Promotions::parse(" a.b:x=one.two , y=three ; *.c:z=four ").unwrap();
        assert_eq!(p.len(), 2);
        let body = serde_json::json!({"one": {"two": "2"}, "three": 3, "four": true});
        let got: Vec<_> = p.apply("org.a.b", &body).into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(got, ["x=2", "y=3"]);
        let got: Vec<_> = p.apply("q.c", &body).into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(got, ["z=true"]);
        assert!(p.apply("org.a.bc", &body).is_empty());
        for bad in ["a.b", ":x=y", "a:x", "a:Bad=y", "a:x=.y", "a:waytoolongextensionname=y", "a:id=y"] {
            assert!(Promotions::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_values_outside_visible_ascii_are_percent_encoded_on_the_wire() {
        let h = headers(&[("note", s("caf\u{e9} 100% \"ok\"\n"))]);
        let msg = Incoming {
            routing_key: "t.\u{fc}",
            message_id: Some("id with space"),
            timestamp: None,
            headers: Some(&h),
            body: b"{}",
        };
        let e = mapper().to_event(&msg).unwrap();
        let req = to_request(e, reqwest::Client::new().post("http://sink/")).unwrap().build().unwrap();
        let get = |n: &str| req.headers().get(n).unwrap().to_str().unwrap().to_owned();
        assert_eq!(get("ce-note"), "caf%C3%A9%20100%25%20%22ok%22%0A");
        assert_eq!(get("ce-id"), "id%20with%20space");
        assert_eq!(get("ce-type"), "t.%C3%BC");
        assert_eq!(get("ce-specversion"), "1.0");
        assert_eq!(get("content-type"), "application/json");
        assert_eq!(req.body().unwrap().as_bytes().unwrap(), b"{}");
    }

    fn amqp_value() -> impl Strategy<Value = AMQPValue> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(AMQPValue::Boolean),
            any::<i64>().prop_map(AMQPValue::LongLongInt),
            any::<u32>().prop_map(AMQPValue::LongUInt),
            any::<f64>().prop_map(AMQPValue::Double),
            any::<u64>().prop_map(AMQPValue::Timestamp),
            any::<String>().prop_map(|v| AMQPValue::LongString(v.into())),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(|v| AMQPValue::LongString(v.into())),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(|v| AMQPValue::ByteArray(v.into())),
            Just(AMQPValue::Void),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| AMQPValue::FieldArray(v.into())),
                proptest::collection::btree_map("[a-z_]{0,8}", inner, 0..4).prop_map(|m| {
                    AMQPValue::FieldTable(
                        m.into_iter().map(|(k, v)| (ShortString::from(k), v)).collect::<BTreeMap<_, _>>().into(),
                    )
                }),
            ]
        })
    }

    fn json_body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            "[a-z\\{\\}\\[\\]\":,0-9 .]{0,40}".prop_map(String::into_bytes),
            Just(br#"{"owner": "packit", "method": 7, "pullrequest": {"project": {"namespace": ["x"]}}}"#.to_vec()),
            Just(br#"{"owner": null}"#.to_vec()),
        ]
    }

    proptest! {
        #[test]
        fn mapping_never_panics_and_what_it_builds_can_be_sent(
            routing_key in prop_oneof![Just("org.fedoraproject.prod.buildsys.task.state.change".to_owned()),
                Just("org.fedoraproject.prod.pagure.pull-request.new".to_owned()), any::<String>()],
            message_id in proptest::option::of(any::<String>()),
            timestamp in proptest::option::of(any::<u64>()),
            header_pairs in proptest::collection::vec((any::<String>(), amqp_value()), 0..8),
            body in json_body(),
        ) {
            let h = headers(&header_pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect::<Vec<_>>());
            let msg = Incoming {
                routing_key: &routing_key,
                message_id: message_id.as_deref(),
                timestamp,
                headers: Some(&h),
                body: &body,
            };
            if let Ok(event) = mapper().to_event(&msg) {
                prop_assert!(event.iter_extensions().all(|(n, _)| legal_extension_name(n)));
                prop_assert_eq!(event.data(), Some(&Data::Binary(body.clone())));
                let request = to_request(event, reqwest::Client::new().post("http://sink/"));
                prop_assert!(request.is_ok());
                prop_assert!(request.unwrap().build().is_ok());
            }
        }

        #[test]
        fn every_header_name_legalises(name in any::<String>()) {
            let legal = extension_name(&name);
            prop_assert!(legal_extension_name(&legal), "{:?} -> {:?}", name, legal);
            prop_assert_eq!(&legal, &extension_name(&name));
        }
    }
}
