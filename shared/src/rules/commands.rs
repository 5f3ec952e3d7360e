//! `/packit-ci …` commands in PR comments.
//!
//! A comment is a command when one of its lines starts with the configured prefix
//! followed by whitespace or the end of the line (`/packit-ci-stg` is therefore not
//! a production command, and `/packit` is nobody's here).

/// Where a command wants its build or tests, as the packager wrote it (`eln`,
/// `rawhide`, `f43`, `epel10-candidate`…). Only the shape of a target name is
/// checked here; which ones a PR really builds is known only with the PR
/// ([`resolve_target`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTarget(String);

impl CommandTarget {
    /// A word that can be a Koji target name: letters, digits, `.`, `_`, `-`, at
    /// most 64 characters.
    pub fn parse(word: &str) -> Option<Self> {
        let ok = !word.is_empty()
            && word.len() <= 64
            && word.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        ok.then(|| Self(word.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The Koji target a `--target` names among those the PR builds (`builds`: its
/// branch's target first, then `eln` where ELN applies): the target itself, or the
/// PR's branch name for its own target. `Err` names the valid values.
pub fn resolve_target(asked: &CommandTarget, branch: &str, builds: &[String]) -> Result<String, String> {
    let word = asked.as_str();
    let found = builds.iter().find(|t| t.as_str() == word).or_else(|| {
        (word == branch
            || crate::rules::policy::is_rawhide_branch(word) && crate::rules::policy::is_rawhide_branch(branch))
        .then(|| builds.first())
        .flatten()
    });
    match found {
        Some(t) => Ok(t.clone()),
        None => {
            let mut valid: Vec<&str> = builds.iter().map(String::as_str).collect();
            if builds.first().is_some_and(|t| t != branch) && !crate::rules::policy::is_rawhide_branch(branch) {
                valid.insert(1, branch);
            }
            Err(format!(
                "unknown target {} for this pull request (valid: {})",
                inert(word),
                valid.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
            ))
        }
    }
}

/// The Fedora CI tests a packager can name.
pub const TEST_NAMES: [&str; 6] =
    ["installability", "rpminspect", "rpmlint", "rmdepcheck", "license-validate", "custom"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    ScratchBuild {
        target: Option<CommandTarget>,
    },
    Test {
        name: Option<String>,
        target: Option<CommandTarget>,
    },
    /// A new scratch build of the head for every target, and the tests after it;
    /// also ends a skip.
    Rerun,
    /// No CI for this PR until a later `scratch-build` or `rerun`.
    Skip,
    Help,
    /// Anything else after the prefix: answered with the help text and the reason.
    Invalid {
        reason: String,
    },
}

/// `None` when the comment is not addressed to us.
pub fn parse(prefix: &str, comment: &str) -> Option<Command> {
    let args = comment.lines().find_map(|line| {
        let rest = line.trim().strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with(char::is_whitespace)).then(|| rest.split_whitespace().collect::<Vec<_>>())
    })?;
    Some(parse_args(&args))
}

fn parse_args(args: &[&str]) -> Command {
    let Some((verb, rest)) = args.split_first() else {
        return Command::Invalid { reason: "no command given".into() };
    };
    let mut target = None;
    let mut positional = Vec::new();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let value = match arg.strip_prefix("--target") {
            Some("") => match it.next() {
                Some(v) => *v,
                None => return Command::Invalid { reason: "--target needs a value (the PR's branch, or eln)".into() },
            },
            Some(eq) if eq.starts_with('=') => &eq[1..],
            Some(_) | None if arg.starts_with("--") => {
                return Command::Invalid { reason: format!("unknown option {}", inert(arg)) };
            }
            _ => {
                positional.push(*arg);
                continue;
            }
        };
        target = Some(match CommandTarget::parse(value) {
            Some(t) => t,
            None => {
                return Command::Invalid {
                    reason: format!("unknown target {} (use the PR's branch, or eln)", inert(value)),
                };
            }
        });
    }
    match (*verb, positional.as_slice()) {
        ("scratch-build", []) => Command::ScratchBuild { target },
        ("test", []) => Command::Test { name: None, target },
        ("test", [name]) if TEST_NAMES.contains(name) => Command::Test { name: Some((*name).to_owned()), target },
        ("test", [name]) => {
            Command::Invalid { reason: format!("unknown test {} (valid: {})", inert(name), TEST_NAMES.join(", ")) }
        }
        ("rerun", []) if target.is_none() => Command::Rerun,
        ("skip", []) if target.is_none() => Command::Skip,
        ("rerun" | "skip", []) => Command::Invalid { reason: format!("{verb} takes no --target") },
        ("help", _) => Command::Help,
        ("scratch-build" | "test" | "rerun" | "skip", extra) => {
            Command::Invalid { reason: format!("unexpected arguments: {}", inert(&extra.join(" "))) }
        }
        (other, _) => Command::Invalid { reason: format!("unknown command {}", inert(other)) },
    }
}

/// Longest piece of a comment we quote back, in characters; longer ones end in `…`.
pub const QUOTE_LIMIT: usize = 40;

/// A word from a comment, made inert for quoting back in ours: a Markdown code
/// span (Pagure renders its content as text: no link, image, HTML or @-mention),
/// at most [`QUOTE_LIMIT`] characters, with backticks and control characters
/// (which could close the span or break the line) replaced by `?`.
pub fn inert(word: &str) -> String {
    let mut quoted: String =
        word.chars().take(QUOTE_LIMIT).map(|c| if c == '`' || c.is_control() { '?' } else { c }).collect();
    if word.chars().nth(QUOTE_LIMIT).is_some() {
        quoted.push('…');
    }
    format!("`{quoted}`")
}

/// `[skip ci]` or `[ci skip]` (any case), the markers other CI systems know, in a
/// PR's title or description.
pub fn has_skip_marker(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("[skip ci]") || lower.contains("[ci skip]")
}

/// The help comment: commands, targets, test names, where to read more.
pub fn help_text(prefix: &str, docs_url: &str) -> String {
    format!(
        "Fedora CI commands (comment on the pull request):\n\n\
         - `{prefix} scratch-build [--target <branch>|eln]`: new Koji scratch build of the PR's head commit \
         for its branch's Koji target (or ELN, where the package is built for ELN)\n\
         - `{prefix} test [<test>] [--target <branch>|eln]`: run the Fedora CI tests again (all, or the named one) on the PR's last successful build\n\
         - `{prefix} rerun`: new scratch builds of the PR's head and all tests after them (also ends a skip)\n\
         - `{prefix} skip`: no CI for this PR until the next `scratch-build` or `rerun` \
         (`[skip ci]` or `[ci skip]` in the PR title or description does the same)\n\
         - `{prefix} help`: this message\n\n\
         Tests: {}.\n\
         A package can turn Fedora CI, ELN builds, Log Detective or single tests off in `.fedora-ci.yaml`.\n\
         Only members of the FAS `packager` group can trigger builds and tests.\n\n\
         Documentation: {docs_url}",
        TEST_NAMES.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const P: &str = "/packit-ci";

    #[test]
    fn commands_and_options() {
        assert_eq!(parse(P, "/packit-ci scratch-build"), Some(Command::ScratchBuild { target: None }));
        assert_eq!(
            parse(P, "/packit-ci scratch-build --target eln"),
            Some(Command::ScratchBuild { target: CommandTarget::parse("eln") })
        );
        assert_eq!(
            parse(P, "thanks!\n  /packit-ci test rpmlint --target=rawhide  \nbye"),
            Some(Command::Test { name: Some("rpmlint".into()), target: CommandTarget::parse("rawhide") })
        );
        assert_eq!(parse(P, "/packit-ci test"), Some(Command::Test { name: None, target: None }));
        assert_eq!(parse(P, "/packit-ci help"), Some(Command::Help));
        assert_eq!(parse(P, "/packit-ci rerun"), Some(Command::Rerun));
        assert_eq!(parse(P, "please\n/packit-ci skip"), Some(Command::Skip));
    }

    #[test]
    fn skip_markers() {
        assert!(has_skip_marker("Update to 1.2 [skip ci]"));
        assert!(has_skip_marker("[CI SKIP] typo"));
        assert!(!has_skip_marker("skip ci"));
        assert!(!has_skip_marker("[skip-ci]"));
    }

    #[test]
    fn other_prefixes_are_not_ours() {
        assert_eq!(parse(P, "/packit koji-build"), None);
        assert_eq!(parse(P, "/packit-ci-stg scratch-build"), None);
        assert_eq!(
            parse("/packit-ci-stg", "/packit-ci-stg scratch-build"),
            Some(Command::ScratchBuild { target: None })
        );
        assert_eq!(parse(P, "LGTM, see /packit-ci docs"), None);
        assert_eq!(parse(P, ""), None);
    }

    #[test]
    fn mistakes_get_a_reason() {
        for (text, needle) in [
            ("/packit-ci", "no command"),
            ("/packit-ci build", "unknown command `build`"),
            ("/packit-ci test foo", "unknown test `foo`"),
            ("/packit-ci scratch-build --target f40!", "unknown target `f40!`"),
            ("/packit-ci scratch-build --target", "needs a value"),
            ("/packit-ci scratch-build --force", "unknown option"),
            ("/packit-ci scratch-build now", "unexpected arguments"),
            ("/packit-ci rerun everything", "unexpected arguments"),
            ("/packit-ci skip --target eln", "takes no --target"),
        ] {
            match parse(P, text) {
                Some(Command::Invalid { reason }) => assert!(reason.contains(needle), "{text}: {reason}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    /// What a stranger writes must come back as text, never as Markdown: no
    /// image, link, HTML or @-mention can escape the code span, and it is short.
    #[test]
    fn quoted_words_are_inert() {
        for (text, quoted) in [
            ("/packit-ci test <script>alert(1)</script>", "`<script>alert(1)</script>`"),
            ("/packit-ci frobnicate<img/src=x>", "`frobnicate<img/src=x>`"),
            ("/packit-ci scratch-build --target ../../etc", "`../../etc`"),
            ("/packit-ci test a`![x](http://t/p.png)`", "`a?![x](http://t/p.png)?`"),
            ("/packit-ci test @someone", "`@someone`"),
        ] {
            let Some(Command::Invalid { reason }) = parse(P, text) else { panic!("{text}") };
            assert!(reason.contains(quoted), "{text}: {reason}");
            assert_eq!(reason.matches('`').count(), 2, "{text}: {reason}");
        }
        let long = format!("/packit-ci {}", "x".repeat(500));
        let Some(Command::Invalid { reason }) = parse(P, &long) else { panic!("long") };
        assert!(reason.contains(&format!("`{}…`", "x".repeat(QUOTE_LIMIT))), "{reason}");
        assert!(reason.len() < 100, "{reason}");
    }

    #[test]
    fn help_lists_commands_and_tests() {
        let help = help_text("/packit-ci-stg", "https://docs.example/fedora-ci");
        for needle in [
            "/packit-ci-stg scratch-build",
            "/packit-ci-stg test",
            "/packit-ci-stg rerun",
            "/packit-ci-stg skip",
            "[skip ci]",
            ".fedora-ci.yaml",
            "--target <branch>|eln",
            "`rmdepcheck`",
            "docs.example",
        ] {
            assert!(help.contains(needle), "{needle}");
        }
    }

    #[test]
    fn targets_are_those_the_pr_builds() {
        let t = |w: &str| CommandTarget::parse(w).unwrap();
        let rawhide = ["rawhide".to_owned(), "eln".to_owned()];
        assert_eq!(resolve_target(&t("eln"), "rawhide", &rawhide), Ok("eln".into()));
        assert_eq!(resolve_target(&t("rawhide"), "rawhide", &rawhide), Ok("rawhide".into()));
        assert_eq!(resolve_target(&t("rawhide"), "main", &rawhide), Ok("rawhide".into()));
        let f43 = ["f43-candidate".to_owned()];
        assert_eq!(resolve_target(&t("f43"), "f43", &f43), Ok("f43-candidate".into()));
        assert_eq!(resolve_target(&t("f43-candidate"), "f43", &f43), Ok("f43-candidate".into()));
        let wrong = resolve_target(&t("rawhide"), "f43", &f43).unwrap_err();
        assert!(wrong.contains("unknown target `rawhide`") && wrong.contains("`f43-candidate`, `f43`"), "{wrong}");
        let eln = resolve_target(&t("eln"), "epel10", &["epel10-candidate".to_owned()]).unwrap_err();
        assert!(eln.contains("(valid: `epel10-candidate`, `epel10`)"), "{eln}");
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = parse(P, &s);
            let _ = parse(P, &format!("/packit-ci {s}"));
        }
    }
}
