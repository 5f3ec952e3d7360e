//! Reading settings: where they come from ([`Source`]), typed accessors ([`Env`])
//! and the one error type that names the variable ([`ConfigError`]).

use std::time::Duration;

use url::Url;

use super::secret::Secret;

/// A configuration problem, always naming the variable so the operator knows what
/// to fix. Never carries a secret's value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration error: {var}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(var: &str, reason: impl Into<String>) -> Self {
        Self { var: var.to_owned(), reason: reason.into() }
    }
}

/// Where settings come from. Production reads the process environment; tests pass
/// a map so they never race on the global environment.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Source for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Typed accessors over a [`Source`]; empty values count as unset so that a
/// ConfigMap key left blank falls back to the default. Public so that a binary
/// with settings of its own (the bridge) reads them with the same rules.
pub struct Env<'a>(pub &'a dyn Source);

impl Env<'_> {
    pub fn opt(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    pub fn string(&self, name: &str, default: &str) -> String {
        self.opt(name).unwrap_or_else(|| default.to_owned())
    }

    pub fn parsed<T: std::str::FromStr>(&self, name: &str, default: T, what: &str) -> Result<T, ConfigError> {
        match self.opt(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ConfigError::new(name, format!("'{v}' is not {what}"))),
        }
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.opt(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::new(name, format!("'{v}' is not a boolean (true/false)"))),
        }
    }

    pub fn url(&self, name: &str, default: &str) -> Result<Url, ConfigError> {
        let raw = self.string(name, default);
        let url = Url::parse(&raw).map_err(|e| ConfigError::new(name, format!("'{raw}' is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::new(name, format!("'{raw}' must be an http(s) URL")));
        }
        Ok(url)
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        self.opt(name)
            .map(|v| {
                v.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(str::to_owned).collect()
            })
            .unwrap_or_default()
    }

    /// `NAME` or the contents of the file named by `NAME_FILE`; both set is an error
    /// because it is ambiguous which one the operator meant.
    pub fn secret(&self, name: &str) -> Result<Option<Secret>, ConfigError> {
        let file_var = format!("{name}_FILE");
        match (self.opt(name), self.opt(&file_var)) {
            (Some(_), Some(_)) => Err(ConfigError::new(name, format!("set either {name} or {file_var}, not both"))),
            (Some(v), None) => Ok(Some(Secret::new(v))),
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map(|s| Some(Secret::new(s.trim_end_matches(['\n', '\r']))))
                .map_err(|e| ConfigError::new(&file_var, format!("cannot read '{path}': {e}"))),
            (None, None) => Ok(None),
        }
    }

    pub fn required_secret(&self, name: &str) -> Result<Secret, ConfigError> {
        self.secret(name)?.ok_or_else(|| ConfigError::new(name, format!("required; set {name} or {name}_FILE")))
    }

    pub fn duration_secs(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        self.parsed(name, default.as_secs(), "a whole number of seconds").map(Duration::from_secs)
    }
}
