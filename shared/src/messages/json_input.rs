//! JSON from outside, checked for what Postgres can store and described without
//! quoting it.
//!
//! Two rules for every body a function reads:
//! - **Storable.** PostgreSQL refuses the NUL character in `text`, `varchar` and
//!   `jsonb` (SQLSTATE 22021 / 22P05), and a lone UTF-16 surrogate escape is not a
//!   character at all. A body holding either can never be recorded, so it is bad
//!   input (400), found before the first write, not an outage (503) that the Broker
//!   would redeliver forever.
//! - **Never quoted.** serde's messages quote the offending value (`invalid type:
//!   string "…"`), and a value may hold a token (a Testing Farm notification carries
//!   the webhook secret). [`describe`] keeps what is wrong and where, and drops every
//!   quoted literal.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A body that is not JSON, or holds what Postgres cannot store; the reason
/// says what and where without quoting the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotStorable(pub String);

/// Parses `text` as JSON and checks every string (keys included) for NUL.
pub fn check_storable(text: &str) -> Result<(), NotStorable> {
    serde_json::from_str::<Storable>(text).map(|_| ()).map_err(|e| NotStorable(describe(&e)))
}

/// A JSON value that is only walked: strings are decoded (so escapes such as
/// `\u0000` and unpaired surrogates are seen), nothing is kept.
struct Storable;

impl<'de> Deserialize<'de> for Storable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StorableVisitor)
    }
}

struct StorableVisitor;

impl StorableVisitor {
    fn string<E: de::Error>(v: &str) -> Result<Storable, E> {
        if v.contains('\0') {
            Err(E::custom("a string holds a NUL character (\\u0000), which cannot be stored"))
        } else {
            Ok(Storable)
        }
    }
}

impl<'de> Visitor<'de> for StorableVisitor {
    type Value = Storable;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Storable, E> {
        Ok(Storable)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Storable, E> {
        Ok(Storable)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Storable, E> {
        Ok(Storable)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Storable, E> {
        Ok(Storable)
    }
    fn visit_unit<E>(self) -> Result<Storable, E> {
        Ok(Storable)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Storable, E> {
        Self::string(v)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Storable, E> {
        Self::string(v)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Storable, E> {
        Self::string(&v)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Storable, A::Error> {
        while seq.next_element::<Storable>()?.is_some() {}
        Ok(Storable)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Storable, A::Error> {
        while map.next_entry::<Storable, Storable>()?.is_some() {}
        Ok(Storable)
    }
}

/// What is wrong with a JSON body and where, with every quoted literal of serde's
/// message (`"…"` and `` `…` ``) replaced by `…`. Only `missing field` keeps its
/// name: that one is ours (a field of our type), never the input's.
pub fn describe(e: &serde_json::Error) -> String {
    let message = e.to_string();
    if message.starts_with("missing field") {
        return message;
    }
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('…');
                let mut escaped = false;
                for c in chars.by_ref() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        _ => escaped = false,
                    }
                }
            }
            '`' => {
                out.push('…');
                for c in chars.by_ref() {
                    if c == '`' {
                        break;
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn nul_anywhere_is_refused_without_quoting() {
        for body in [r#"{"a": "raw\u0000hide"}"#, r#"{"a\u0000": 1}"#, r#"[1, {"b": ["x", "\u0000"]}]"#, r#""\u0000""#]
        {
            let reason = check_storable(body).unwrap_err().0;
            assert!(reason.contains("NUL"), "{body}: {reason}");
        }
        assert!(check_storable(r#"{"a": "\\u0000 is only text"}"#).is_ok());
        assert!(check_storable(r#"{"a": [1, 2.5, null, true, "é"]}"#).is_ok());
    }

    #[test]
    fn a_lone_surrogate_is_refused() {
        assert!(check_storable(r#"{"a": "\ud800"}"#).is_err());
        assert!(check_storable(r#"{"a": "\ud83d\ude00"}"#).is_ok());
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Notification {
        request_id: String,
        token: Option<String>,
    }

    #[test]
    fn descriptions_never_quote_the_input() {
        let secret = "s3cr3t-token";
        // The F7 case: the notification double-encoded, which serde quotes whole.
        let double = format!(r#""{{\"request_id\": \"x\", \"token\": \"{secret}\"}}""#);
        assert!(serde_json::from_str::<Notification>(&double).unwrap_err().to_string().contains(secret));
        for body in [
            format!(r#""{{\"request_id\": \"x\", \"token\": \"{secret}\"}}""#),
            format!(r#"{{"request_id": 1, "token": "{secret}"}}"#),
            format!(r#"{{"request_id": "x", "token": ["{secret}"]}}"#),
            format!(r#"{{"request_id": "x", "{secret}": 1, "token": 5}}"#),
        ] {
            let e = serde_json::from_str::<Notification>(&body).unwrap_err();
            let d = describe(&e);
            assert!(!d.contains(secret), "{d}");
            assert!(d.contains("line 1 column"), "{d}");
        }
        let e = serde_json::from_str::<Notification>("{}").unwrap_err();
        assert_eq!(describe(&e), "missing field `request_id` at line 1 column 2");
    }

    proptest! {
        /// Whatever the input, the description holds no run of it longer than a
        /// few characters that serde would have quoted.
        #[test]
        fn never_quotes_a_string_value(value in "[a-z0-9]{12,40}") {
            let body = format!(r#"{{"request_id": ["{value}"]}}"#);
            if let Err(e) = serde_json::from_str::<Notification>(&body) {
                prop_assert!(!describe(&e).contains(&value));
            }
        }
    }
}
