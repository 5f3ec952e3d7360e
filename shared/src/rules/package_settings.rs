//! `.fedora-ci.yaml`: what a package's maintainers can turn off themselves.
//!
//! The file lives at the root of the dist-git repository and is read at the PR's
//! head commit (the fork's, for a fork PR), so a PR can change it and see the
//! effect at once. It can only take things away: service-side deny lists still
//! win. The schema is deliberately tiny and strict — an unknown key or a wrong
//! type is a mistake the packager should hear about ("config error: <line>:
//! <reason>" on a neutral flag) rather than a silently ignored wish; the defaults
//! then apply.

use serde::{Deserialize, Serialize};

use crate::rules::commands::TEST_NAMES;

pub const FILE_NAME: &str = ".fedora-ci.yaml";

/// The settings in effect for one PR head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSettings {
    /// `false` opts the package out of Fedora CI entirely.
    pub enabled: bool,
    /// `false`: no ELN scratch build.
    pub eln: bool,
    /// `false`: failed builds are not sent to Log Detective.
    pub log_detective: bool,
    /// Fedora CI tests not to run after a build (a packager can still ask for one
    /// by name with `/packit-ci test <name>`).
    pub skip_tests: Vec<String>,
}

impl Default for PackageSettings {
    fn default() -> Self {
        Self { enabled: true, eln: true, log_detective: true, skip_tests: Vec::new() }
    }
}

impl PackageSettings {
    pub fn runs_test(&self, name: &str) -> bool {
        !self.skip_tests.iter().any(|t| t == name)
    }
}

/// The file as written; private so that only [`parse`] turns text into settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "yes")]
    eln: bool,
    #[serde(default = "yes")]
    log_detective: bool,
    #[serde(default)]
    skip_tests: Vec<SuiteTest>,
}

fn yes() -> bool {
    true
}

/// The test names as YAML sees them, so an unknown name is an error with a line.
/// Same order as [`TEST_NAMES`].
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum SuiteTest {
    Installability,
    Rpminspect,
    Rpmlint,
    Rmdepcheck,
    LicenseValidate,
    Custom,
}

/// A file that is not valid: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", line.map(|l| format!("{l}: ")).unwrap_or_default())]
pub struct SettingsError {
    /// 1-based line, when the parser knows it.
    pub line: Option<usize>,
    pub reason: String,
}

/// Parses the file's text. An empty file (or only comments) means the defaults.
pub fn parse(text: &str) -> Result<PackageSettings, SettingsError> {
    let file: Option<File> = serde_yaml_ng::from_str(text).map_err(|e| {
        let full = e.to_string();
        // The message ends in " at line L column C"; the line is reported on its own.
        let reason = match full.rfind(" at line ") {
            Some(at) => full[..at].to_owned(),
            None => full,
        };
        SettingsError { line: e.location().map(|l| l.line()), reason }
    })?;
    Ok(match file {
        None => PackageSettings::default(),
        Some(f) => PackageSettings {
            enabled: f.enabled,
            eln: f.eln,
            log_detective: f.log_detective,
            skip_tests: f.skip_tests.iter().map(|t| TEST_NAMES[*t as usize].to_owned()).collect(),
        },
    })
}

/// The settings read at a PR head, and the error that made them the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub settings: PackageSettings,
    pub config_error: Option<SettingsError>,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn defaults_when_empty_or_only_comments() {
        assert_eq!(parse("").unwrap(), PackageSettings::default());
        assert_eq!(parse("# nothing to change\n").unwrap(), PackageSettings::default());
    }

    #[test]
    fn every_key() {
        let s = parse("enabled: true\neln: false\nlog_detective: false\nskip_tests: [rpmlint, license-validate]\n")
            .unwrap();
        assert_eq!(
            s,
            PackageSettings {
                enabled: true,
                eln: false,
                log_detective: false,
                skip_tests: vec!["rpmlint".into(), "license-validate".into()],
            }
        );
        assert!(!s.runs_test("rpmlint") && s.runs_test("rpminspect"));
        assert!(!parse("enabled: false").unwrap().enabled);
    }

    #[test]
    fn mistakes_name_their_line() {
        let e = parse("eln: false\nenable: false\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.reason.contains("unknown field `enable`"), "{e}");
        assert!(e.to_string().starts_with("2: unknown field"), "{e}");
        let e = parse("enabled: yes please\n").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
        assert!(e.reason.contains("expected a boolean"), "{e}");
        let e = parse("skip_tests:\n  - rpmlint\n  - rpmlnt\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.reason.contains("rpmlnt"), "{e}");
        assert!(parse("- a list\n").is_err());
        assert!(parse("eln: [\n").is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }
    }
}
