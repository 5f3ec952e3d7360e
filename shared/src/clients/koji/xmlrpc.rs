//! XML-RPC as Koji speaks it: the standard types plus `<nil/>` and `<i8>`, keyword
//! arguments as a trailing struct with `"__starstar": true`, and faults.
//!
//! Dependency decision: a small codec over `quick-xml` (no features) and `base64`
//! 0.22 (already in the tree via reqwest), not `dxr`. `dxr_client` pulls reqwest
//! 0.13 next to our 0.12; the `dxr` core crate alone avoids that but still adds
//! `winnow`, a second `base64` and quick-xml's serde layer, and it has no `<ex:nil/>`
//! or untyped-`<value>` leniency that Koji replies need. The tokenizer plus ~400 lines
//! here is the lighter build.
//!
//! Encoding follows koji's own marshaller (`koji/xmlrpcplus.py`): integers outside
//! i32 go out as `<i8>`, `None` as `<nil/>`. Text escaping goes further than Python's
//! (`&`, `<`, `>` only): `\r` and characters XML 1.0 forbids are written as character
//! references, because a parser normalises a raw `\r` to `\n` and a raw control
//! character makes the whole document malformed; a reference at least keeps the
//! round trip exact and makes a hub that refuses it answer with a clear fault.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use base64::Engine as _;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// One XML-RPC value. Structs keep their keys sorted so encodings are stable.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Int(i64),
    Bool(bool),
    Double(f64),
    String(String),
    /// `dateTime.iso8601` as sent; Koji itself returns times as strings and floats.
    DateTime(String),
    Base64(Vec<u8>),
    Array(Vec<Value>),
    Struct(BTreeMap<String, Value>),
}

impl Value {
    /// Koji's keyword arguments (`encode_args` in `koji/__init__.py`): a struct with
    /// `"__starstar": true`, sent as the last positional parameter.
    pub fn kwargs<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        let mut map: BTreeMap<String, Value> = pairs.into_iter().map(|(k, v)| (k.into(), v)).collect();
        map.insert("__starstar".to_owned(), Value::Bool(true));
        Value::Struct(map)
    }

    pub fn structure<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Struct(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Koji sends timestamps as doubles, but an integral one may arrive as an int.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::DateTime(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// A struct member; `None` for a missing key or a non-struct.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_struct().and_then(|s| s.get(key))
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Nil, Into::into)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::Array(v)
    }
}

/// An XML-RPC fault: the call reached the hub and failed there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault {code}: {message}")]
pub struct Fault {
    pub code: i64,
    pub message: String,
}

/// The bytes are not the XML-RPC we expect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("XML-RPC decode error: {0}")]
pub struct DecodeError(pub String);

/// Why a response did not yield a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error(transparent)]
    Fault(#[from] Fault),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

// ---------------------------------------------------------------------------
// Encoding

const XML_DECL: &str = "<?xml version='1.0'?>\n";

pub fn encode_call(method: &str, params: &[Value]) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(XML_DECL);
    out.push_str("<methodCall>\n<methodName>");
    escape_into(&mut out, method);
    out.push_str("</methodName>\n<params>\n");
    for p in params {
        out.push_str("<param>\n");
        encode_value(&mut out, p);
        out.push_str("</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    out
}

pub fn encode_response(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(XML_DECL);
    out.push_str("<methodResponse>\n<params>\n<param>\n");
    encode_value(&mut out, value);
    out.push_str("</param>\n</params>\n</methodResponse>\n");
    out
}

pub fn encode_fault(fault: &Fault) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(XML_DECL);
    out.push_str("<methodResponse>\n<fault>\n");
    encode_value(
        &mut out,
        &Value::structure([("faultCode", Value::Int(fault.code)), ("faultString", fault.message.as_str().into())]),
    );
    out.push_str("</fault>\n</methodResponse>\n");
    out
}

fn encode_value(out: &mut String, value: &Value) {
    out.push_str("<value>");
    match value {
        Value::Nil => out.push_str("<nil/>"),
        Value::Int(i) if i32::try_from(*i).is_ok() => {
            let _ = write!(out, "<int>{i}</int>");
        }
        Value::Int(i) => {
            let _ = write!(out, "<i8>{i}</i8>");
        }
        Value::Bool(b) => {
            let _ = write!(out, "<boolean>{}</boolean>", u8::from(*b));
        }
        Value::Double(d) => {
            // `{:?}` is the shortest text that parses back to the same f64 (`1.0`,
            // `1e300`, `inf`, `NaN`), like Python's repr.
            let _ = write!(out, "<double>{d:?}</double>");
        }
        Value::String(s) => {
            out.push_str("<string>");
            escape_into(out, s);
            out.push_str("</string>");
        }
        Value::DateTime(s) => {
            out.push_str("<dateTime.iso8601>");
            escape_into(out, s);
            out.push_str("</dateTime.iso8601>");
        }
        Value::Base64(b) => {
            out.push_str("<base64>");
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
            out.push_str("</base64>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>\n");
            for item in items {
                encode_value(out, item);
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>\n");
            for (name, v) in members {
                out.push_str("<member>\n<name>");
                escape_into(out, name);
                out.push_str("</name>\n");
                encode_value(out, v);
                out.push_str("</member>\n");
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>\n");
}

/// Characters XML 1.0 allows literally in text (`Char` production, minus `\r`
/// which end-of-line handling would turn into `\n`).
fn literal_ok(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if literal_ok(c) => out.push(c),
            c => {
                let _ = write!(out, "&#x{:X};", u32::from(c));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Decoding

/// Deeper nesting than this is refused rather than risking the stack on hostile
/// input; Koji's replies nest three or four levels.
const MAX_DEPTH: usize = 64;

/// Decodes a `methodResponse`: its single value, or the fault it carries.
pub fn decode_response(body: &[u8]) -> Result<Value, ResponseError> {
    let mut p = Parser::new(body)?;
    p.expect_start("methodResponse")?;
    let tag = p.next_start()?;
    let result = match tag.as_str() {
        "params" => {
            p.expect_start("param")?;
            let v = p.value(0)?;
            p.expect_end("param")?;
            p.expect_end("params")?;
            Ok(v)
        }
        "fault" => {
            let v = p.value(0)?;
            p.expect_end("fault")?;
            let code = v.get("faultCode").and_then(Value::as_i64);
            let message = v.get("faultString").and_then(Value::as_str);
            match (code, message) {
                (Some(code), Some(message)) => Err(Fault { code, message: message.to_owned() }),
                _ => return Err(DecodeError("fault without faultCode/faultString".into()).into()),
            }
        }
        other => return Err(DecodeError(format!("unexpected <{other}> in methodResponse")).into()),
    };
    p.expect_end("methodResponse")?;
    p.expect_eof()?;
    Ok(result?)
}

/// Decodes a `methodCall` into its method name and parameters (the hub side).
pub fn decode_call(body: &[u8]) -> Result<(String, Vec<Value>), DecodeError> {
    let mut p = Parser::new(body)?;
    p.expect_start("methodCall")?;
    p.expect_start("methodName")?;
    let method = p.text_until_end("methodName")?;
    let mut params = Vec::new();
    match p.next_structural()? {
        Token::End(name) if name == "methodCall" => {}
        Token::Start(name) if name == "params" => {
            loop {
                match p.next_structural()? {
                    Token::Start(name) if name == "param" => {
                        params.push(p.value(0)?);
                        p.expect_end("param")?;
                    }
                    Token::End(name) if name == "params" => break,
                    other => return Err(unexpected(&other, "in <params>")),
                }
            }
            p.expect_end("methodCall")?;
        }
        other => return Err(unexpected(&other, "after <methodName>")),
    }
    p.expect_eof()?;
    Ok((method.trim().to_owned(), params))
}

#[derive(Debug)]
enum Token {
    Start(String),
    End(String),
    Text(String),
    Eof,
}

fn unexpected(t: &Token, context: &str) -> DecodeError {
    let what = match t {
        Token::Start(n) => format!("<{n}>"),
        Token::End(n) => format!("</{n}>"),
        Token::Text(_) => "text".to_owned(),
        Token::Eof => "end of document".to_owned(),
    };
    DecodeError(format!("unexpected {what} {context}"))
}

/// Element names without a namespace prefix: Apache's extensions arrive as
/// `<ex:nil/>`, `<ex:i8>`.
fn local(name: &str) -> String {
    name.rsplit_once(':').map_or(name, |(_, l)| l).to_owned()
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    /// Tokens read ahead: text is only known to end at the next boundary.
    pending: VecDeque<Token>,
}

impl<'a> Parser<'a> {
    fn new(body: &'a [u8]) -> Result<Self, DecodeError> {
        let text = std::str::from_utf8(body).map_err(|e| DecodeError(format!("body is not UTF-8: {e}")))?;
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        Ok(Self { reader, pending: VecDeque::new() })
    }

    /// The next element boundary or run of text; adjacent text, CDATA and
    /// references are merged into one `Text`, comments and declarations skipped.
    fn next_token(&mut self) -> Result<Token, DecodeError> {
        if let Some(t) = self.pending.pop_front() {
            return Ok(t);
        }
        let mut text: Option<String> = None;
        let boundary = loop {
            let event = self.reader.read_event().map_err(|e| DecodeError(e.to_string()))?;
            match event {
                Event::Text(t) => text.get_or_insert_with(String::new).push_str(&t.xml10_content()),
                Event::CData(c) => text.get_or_insert_with(String::new).push_str(&c.xml10_content()),
                Event::GeneralRef(r) => text.get_or_insert_with(String::new).push(resolve_reference(&r)?),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
                Event::Start(s) => break Token::Start(local(s.name().as_ref())),
                Event::End(e) => break Token::End(local(e.name().as_ref())),
                // Not produced with `expand_empty_elements`; mapped for completeness.
                Event::Empty(s) => {
                    let name = local(s.name().as_ref());
                    self.pending.push_back(Token::End(name.clone()));
                    break Token::Start(name);
                }
                Event::Eof => break Token::Eof,
            }
        };
        Ok(match text {
            Some(t) => {
                self.pending.push_front(boundary);
                Token::Text(t)
            }
            None => boundary,
        })
    }

    /// Like `next_token`, but whitespace between elements is not content.
    fn next_structural(&mut self) -> Result<Token, DecodeError> {
        loop {
            match self.next_token()? {
                Token::Text(t) if t.trim().is_empty() => continue,
                t => return Ok(t),
            }
        }
    }

    fn next_start(&mut self) -> Result<String, DecodeError> {
        match self.next_structural()? {
            Token::Start(name) => Ok(name),
            other => Err(unexpected(&other, "where an element was expected")),
        }
    }

    fn expect_start(&mut self, want: &str) -> Result<(), DecodeError> {
        match self.next_structural()? {
            Token::Start(name) if name == want => Ok(()),
            other => Err(unexpected(&other, &format!("where <{want}> was expected"))),
        }
    }

    fn expect_end(&mut self, want: &str) -> Result<(), DecodeError> {
        match self.next_structural()? {
            Token::End(name) if name == want => Ok(()),
            other => Err(unexpected(&other, &format!("where </{want}> was expected"))),
        }
    }

    fn expect_eof(&mut self) -> Result<(), DecodeError> {
        match self.next_structural()? {
            Token::Eof => Ok(()),
            other => Err(unexpected(&other, "after the document")),
        }
    }

    /// The text content of an element whose start tag was just read.
    fn text_until_end(&mut self, name: &str) -> Result<String, DecodeError> {
        match self.next_token()? {
            Token::End(n) if n == name => Ok(String::new()),
            Token::Text(t) => {
                self.expect_end(name)?;
                Ok(t)
            }
            other => Err(unexpected(&other, &format!("inside <{name}>"))),
        }
    }

    /// Expects `<value>` next and decodes it.
    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        self.expect_start("value")?;
        self.value_inner(depth)
    }

    /// After `<value>`: a typed element, or bare text which XML-RPC defines as a
    /// string (whitespace included).
    fn value_inner(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError(format!("values nested deeper than {MAX_DEPTH}")));
        }
        let first = self.next_token()?;
        let ty = match first {
            Token::End(n) if n == "value" => return Ok(Value::String(String::new())),
            Token::Text(t) => match self.next_token()? {
                Token::End(n) if n == "value" => return Ok(Value::String(t)),
                Token::Start(ty) if t.trim().is_empty() => ty,
                other => return Err(unexpected(&other, "after text in <value>")),
            },
            Token::Start(ty) => ty,
            other => return Err(unexpected(&other, "inside <value>")),
        };
        let v = match ty.as_str() {
            "nil" => {
                self.expect_end("nil")?;
                Value::Nil
            }
            "int" | "i4" | "i8" | "i2" | "i1" => {
                let t = self.text_until_end(&ty)?;
                Value::Int(t.trim().parse().map_err(|_| DecodeError(format!("<{ty}> is not an integer: {t:?}")))?)
            }
            "boolean" => {
                let t = self.text_until_end("boolean")?;
                Value::Bool(match t.trim() {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    other => return Err(DecodeError(format!("<boolean> is not 0 or 1: {other:?}"))),
                })
            }
            "double" | "float" => {
                let t = self.text_until_end(&ty)?;
                Value::Double(t.trim().parse().map_err(|_| DecodeError(format!("<{ty}> is not a number: {t:?}")))?)
            }
            "string" => Value::String(self.text_until_end("string")?),
            "dateTime.iso8601" => Value::DateTime(self.text_until_end("dateTime.iso8601")?.trim().to_owned()),
            "base64" => {
                let t = self.text_until_end("base64")?;
                let compact: String = t.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                Value::Base64(
                    base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .map_err(|e| DecodeError(format!("<base64>: {e}")))?,
                )
            }
            "array" => Value::Array(self.array(depth)?),
            "struct" => Value::Struct(self.members(depth)?),
            other => return Err(DecodeError(format!("unknown XML-RPC type <{other}>"))),
        };
        self.expect_end("value")?;
        Ok(v)
    }

    /// `<array><data><value>…</value>…</data></array>`, after `<array>`.
    fn array(&mut self, depth: usize) -> Result<Vec<Value>, DecodeError> {
        self.expect_start("data")?;
        let mut items = Vec::new();
        loop {
            match self.next_structural()? {
                Token::Start(n) if n == "value" => items.push(self.value_inner(depth + 1)?),
                Token::End(n) if n == "data" => break,
                other => return Err(unexpected(&other, "in <array><data>")),
            }
        }
        self.expect_end("array")?;
        Ok(items)
    }

    /// `<member><name>…</name><value>…</value></member>…</struct>`, after `<struct>`.
    fn members(&mut self, depth: usize) -> Result<BTreeMap<String, Value>, DecodeError> {
        let mut members = BTreeMap::new();
        loop {
            match self.next_structural()? {
                Token::Start(n) if n == "member" => {
                    self.expect_start("name")?;
                    let name = self.text_until_end("name")?;
                    let v = self.value(depth + 1)?;
                    self.expect_end("member")?;
                    members.insert(name, v);
                }
                Token::End(n) if n == "struct" => break,
                other => return Err(unexpected(&other, "in <struct>")),
            }
        }
        Ok(members)
    }
}

/// `&name;` or `&#N;`/`&#xN;`. Parsed here rather than by quick-xml because its
/// resolver refuses `&#0;`, which our encoder writes for a NUL.
fn resolve_reference(r: &quick_xml::events::BytesRef<'_>) -> Result<char, DecodeError> {
    let name: &str = r;
    let c = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => name.strip_prefix('#').and_then(|num| {
            let n = match num.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse::<u32>().ok(),
            };
            n.and_then(char::from_u32)
        }),
    };
    c.ok_or_else(|| DecodeError(format!("unknown reference &{name};")))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A reply as Python's xmlrpc marshaller writes it for koji, with the extensions
    /// and the leniencies a client meets in practice.
    const KOJI_REPLY: &str = "<?xml version='1.0'?>
<methodResponse>
<params>
<param>
<value><array><data>
<value><struct>
<member>
<name>id</name>
<value><int>45270170</int></value>
</member>
<member>
<name>parent</name>
<value><nil/></value>
</member>
<member>
<name>big</name>
<value><i8>4294967296</i8></value>
</member>
<member>
<name>small</name>
<value><i4>-7</i4></value>
</member>
<member>
<name>ex</name>
<value><ex:nil/></value>
</member>
<member>
<name>label</name>
<value>bare text &amp; more</value>
</member>
<member>
<name>ts</name>
<value><double>1590993047.5</double></value>
</member>
<member>
<name>waiting</name>
<value><boolean>0</boolean></value>
</member>
<member>
<name>empty</name>
<value></value>
</member>
<member>
<name>blob</name>
<value><base64>
aGVs
bG8=
</base64></value>
</member>
</struct></value>
<value><nil/></value>
</data></array></value>
</param>
</params>
</methodResponse>
";

    #[test]
    fn decodes_koji_reply_with_extensions() {
        let v = decode_response(KOJI_REPLY.as_bytes()).unwrap();
        let items = v.as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert!(items[1].is_nil());
        let t = &items[0];
        assert_eq!(t.get("id"), Some(&Value::Int(45_270_170)));
        assert_eq!(t.get("parent"), Some(&Value::Nil));
        assert_eq!(t.get("big"), Some(&Value::Int(1 << 32)));
        assert_eq!(t.get("small"), Some(&Value::Int(-7)));
        assert_eq!(t.get("ex"), Some(&Value::Nil));
        assert_eq!(t.get("label").and_then(Value::as_str), Some("bare text & more"));
        assert_eq!(t.get("ts").and_then(Value::as_f64), Some(1_590_993_047.5));
        assert_eq!(t.get("waiting"), Some(&Value::Bool(false)));
        assert_eq!(t.get("empty").and_then(Value::as_str), Some(""));
        assert_eq!(t.get("blob"), Some(&Value::Base64(b"hello".to_vec())));
    }

    #[test]
    fn decodes_faults() {
        let body = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>1007</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>session \"12\" has expired</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n";
        let err = decode_response(body.as_bytes()).unwrap_err();
        assert_eq!(err, ResponseError::Fault(Fault { code: 1007, message: "session \"12\" has expired".into() }));
        let ours = encode_fault(&Fault { code: 1004, message: "<not> allowed".into() });
        assert_eq!(
            decode_response(ours.as_bytes()).unwrap_err(),
            ResponseError::Fault(Fault { code: 1004, message: "<not> allowed".into() })
        );
    }

    #[test]
    fn encodes_like_koji() {
        let call = encode_call(
            "build",
            &[
                "git+https://src.fedoraproject.org/rpms/hello.git#abc".into(),
                "rawhide".into(),
                Value::structure([("scratch", Value::Bool(true))]),
                Value::kwargs([("channel", Value::from("ci")), ("priority", Value::Nil)]),
            ],
        );
        assert!(call.contains("<methodName>build</methodName>"));
        assert!(call.contains("<name>__starstar</name>\n<value><boolean>1</boolean></value>"));
        assert!(call.contains("<value><nil/></value>"));
        let big = encode_call("getTaskInfo", &[Value::Int(i64::from(i32::MAX) + 1), Value::Int(5)]);
        assert!(big.contains("<i8>2147483648</i8>") && big.contains("<int>5</int>"));
        let (method, params) = decode_call(call.as_bytes()).unwrap();
        assert_eq!(method, "build");
        assert_eq!(params.len(), 4);
        assert_eq!(params[3].get("__starstar"), Some(&Value::Bool(true)));
    }

    #[test]
    fn call_without_params_and_bad_documents() {
        let (m, p) = decode_call(b"<methodCall><methodName>getLoggedInUser</methodName></methodCall>").unwrap();
        assert_eq!((m.as_str(), p.len()), ("getLoggedInUser", 0));
        for bad in [
            &b""[..],
            b"<methodResponse>",
            b"<methodResponse><params><param><value><int>x</int></value></param></params></methodResponse>",
            b"<methodResponse><params><param><value><foo/></value></param></params></methodResponse>",
            b"<methodResponse><fault><value><int>1</int></value></fault></methodResponse>",
            b"<methodResponse><params><param><value>a</value></param></params></methodResponse><x/>",
            b"<methodResponse><params><param><value>&bogus;</value></param></params></methodResponse>",
            b"\xff\xfe",
        ] {
            assert!(matches!(decode_response(bad), Err(ResponseError::Decode(_))), "{bad:?}");
        }
        let deep = format!(
            "<methodResponse><params><param>{}{}</param></params></methodResponse>",
            "<value><array><data>".repeat(200),
            "</data></array></value>".repeat(200)
        );
        assert!(matches!(decode_response(deep.as_bytes()), Err(ResponseError::Decode(_))));
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Nil),
            any::<i64>().prop_map(Value::Int),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_filter("NaN never equals itself", |d| !d.is_nan()).prop_map(Value::Double),
            any::<String>().prop_map(Value::String),
            "[0-9T:+-]{0,25}".prop_map(Value::DateTime),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Base64),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..6).prop_map(Value::Struct),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_string_round_trips(s in any::<String>()) {
            let body = encode_response(&Value::String(s.clone()));
            prop_assert_eq!(decode_response(body.as_bytes()), Ok(Value::String(s.clone())));
            let (m, p) = decode_call(encode_call(&s, &[]).as_bytes()).unwrap();
            prop_assert_eq!(m, s.trim().to_owned());
            prop_assert!(p.is_empty());
        }

        #[test]
        fn any_value_round_trips(v in arb_value()) {
            let body = encode_call("m", std::slice::from_ref(&v));
            let (_, params) = decode_call(body.as_bytes()).unwrap();
            prop_assert_eq!(params, vec![v.clone()]);
            prop_assert_eq!(decode_response(encode_response(&v).as_bytes()), Ok(v));
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_response(&bytes);
            let _ = decode_call(&bytes);
        }

        #[test]
        fn decoding_mangled_documents_never_panics(cut in 0usize..600, junk in "[<>/&;a-z#x0-9 ]{0,12}") {
            let mut doc = KOJI_REPLY.to_owned();
            let at = doc.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(doc.len());
            doc.insert_str(at, &junk);
            let _ = decode_response(doc.as_bytes());
        }
    }
}
