//! One JSON object per line on stdout, flat, with the same keys in every function:
//! `timestamp`, `level`, `target`, `function`, the event's `message` and fields, and
//! the fields of every span it happened in (`ce_id`, `ce_type`, `trace_id`,
//! `package`, `pr`, …). Flat because OpenShift Logging / Loki and `oc logs | jq`
//! query top-level keys; tracing-subscriber's own JSON nests span fields under
//! `span`, where the collector does not look.

use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// What `RUST_LOG` defaults to: our own info lines, and only warnings from the
/// libraries whose info/debug output is per-connection or per-query noise.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,hyper=warn,hyper_util=warn,reqwest=warn,lapin=warn,h2=warn,tower=warn,opentelemetry=warn,\
     opentelemetry_sdk=warn,tokio_cron_scheduler=warn";

/// The process's function name, for lines outside any request (start-up, the
/// poller's own schedule, the bridge's consumer).
static FUNCTION: OnceLock<&'static str> = OnceLock::new();

pub(super) fn set_function(function: &'static str) {
    let _ = FUNCTION.set(function);
}

/// A span's fields, kept in its extensions as JSON so each line can merge them.
struct SpanFields(Map<String, Value>);

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().to_owned(), Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

/// The layer; [`super::init`] installs it with the `RUST_LOG` filter.
pub struct JsonLines;

impl<S> Layer<S> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Map::new();
        attrs.record(&mut JsonVisitor(&mut fields));
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
            values.record(&mut JsonVisitor(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut line = Map::new();
        line.insert("timestamp".into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into());
        line.insert("level".into(), event.metadata().level().as_str().into());
        line.insert("target".into(), event.metadata().target().into());
        if let Some(function) = FUNCTION.get() {
            line.insert("function".into(), (*function).into());
        }
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    // `otel.*` fields instruct the tracer (span kind, name); not log data.
                    let own = fields.iter().filter(|(k, _)| !k.starts_with("otel."));
                    line.extend(own.map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        // Some library events (sqlx's query lines) have only fields; the key is
        // there anyway, so a query on `message` never misses a line.
        line.entry("message").or_insert_with(|| Value::from(""));
        let mut bytes = serde_json::to_vec(&Value::Object(line)).unwrap_or_default();
        bytes.push(b'\n');
        // One write per line, under stdout's lock, so lines of concurrent requests
        // never interleave. A closed stdout is not worth a panic.
        let _ = std::io::stdout().lock().write_all(&bytes);
    }
}
