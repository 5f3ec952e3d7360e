//! Log Detective's `logdetective.analysis` message: the answer about a failed
//! build, from the interface server (logdetective-packit's `LogDetectiveMessage`).

use serde::Deserialize;

use super::{ParseError, Topic};

/// The `logdetective.analysis` message body (`LogDetectiveMessage.body_schema`):
/// `status`, `target_build`, `build_system`, `log_detective_analysis_id` and
/// `log_detective_analysis_start` are required; the rest may be missing or null.
#[derive(Debug, Clone, Deserialize)]
pub struct AnalysisResult {
    pub status: String,
    pub target_build: String,
    pub build_system: String,
    pub log_detective_analysis_id: String,
    pub log_detective_analysis_start: String,
    #[serde(default)]
    pub project_url: Option<String>,
    #[serde(default)]
    pub pr_id: Option<i64>,
    #[serde(default)]
    pub commit_sha: Option<String>,
    #[serde(default)]
    pub log_detective_response: Option<serde_json::Value>,
    #[serde(default)]
    pub error_msg: Option<String>,
}

impl AnalysisResult {
    pub fn parse(data: &[u8]) -> Result<Self, ParseError> {
        serde_json::from_slice(data).map_err(|e| ParseError {
            topic: Topic::LogDetectiveAnalysis.suffix(),
            reason: super::json_input::describe(&e),
        })
    }

    /// packit-service's `LogDetectiveResult.from_string`: anything else is `unknown`.
    pub fn result(&self) -> &'static str {
        match self.status.as_str() {
            "complete" => "complete",
            "running" => "running",
            "error" => "error",
            _ => "unknown",
        }
    }
}

/// The explanation and snippets of a `complete` answer, for the status page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explanation {
    pub text: Option<String>,
    pub no_issue_found: bool,
    pub snippets: Vec<Snippet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub source_file: String,
    pub line_number: Option<i64>,
    pub text: String,
    pub analysis: Option<String>,
}

impl Explanation {
    /// Reads what it can of a stored `log_detective_response`; never fails (the
    /// shape is Log Detective's and may grow).
    pub fn from_response(v: &serde_json::Value) -> Self {
        let text = v
            .get("explanation")
            .and_then(|e| e.get("text").and_then(|t| t.as_str()).or_else(|| e.as_str()))
            .map(str::to_owned);
        let snippets = v
            .get("snippets")
            .and_then(|s| s.as_array())
            .map(|list| {
                list.iter()
                    .map(|s| Snippet {
                        source_file: s.get("source_file").and_then(|f| f.as_str()).unwrap_or("").to_owned(),
                        line_number: s.get("line_number").and_then(|n| n.as_i64()),
                        text: s.get("text").and_then(|t| t.as_str()).unwrap_or("").to_owned(),
                        analysis: s.get("snippet_analysis").and_then(|a| a.as_str()).map(str::to_owned),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let no_issue_found = v.get("no_issue_found").and_then(|b| b.as_bool()).unwrap_or(false);
        Self { text, no_issue_found, snippets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_fixtures_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/log-detective");
        let complete = std::fs::read(dir.join("logdetective_analysis_complete.json")).unwrap();
        let r = AnalysisResult::parse(&complete).unwrap();
        assert_eq!((r.result(), r.target_build.as_str(), r.pr_id), ("complete", "9999", Some(2)));
        let e = Explanation::from_response(r.log_detective_response.as_ref().unwrap());
        assert!(e.text.unwrap().starts_with("The RPM build failed"));
        assert_eq!(e.snippets.len(), 3);
        assert_eq!((e.snippets[2].source_file.as_str(), e.snippets[2].line_number), ("build.log", Some(50)));
        assert!(e.snippets[2].analysis.is_some());
        let error = std::fs::read(dir.join("logdetective_analysis_error.json")).unwrap();
        let r = AnalysisResult::parse(&error).unwrap();
        assert_eq!(r.result(), "error");
        assert!(r.error_msg.unwrap().contains("500"));
        assert!(AnalysisResult::parse(br#"{"status": "complete"}"#).is_err());
    }
}
