//! The status page's HTML. maud escapes every interpolated value, so nothing read
//! from the database can inject markup. No scripts: the page refreshes itself with
//! `<meta http-equiv="refresh">`, and only while something is still running.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::query::{Head, category, states};

const STYLE: &str = include_str!("style.css");
/// Seconds between reloads while something runs.
const REFRESH_SECONDS: u32 = 30;

/// One build or test as a row of the page.
pub struct Line {
    /// The test's name; "Scratch build" for builds.
    pub name: String,
    /// Koji build target or Testing Farm distro.
    pub target: String,
    pub status: String,
    pub duration: Option<String>,
    /// (label, URL): Koji task, build logs, Testing Farm artifacts.
    pub links: Vec<(String, String)>,
    /// Retries, timeouts, errors, when it was last checked.
    pub notes: Vec<String>,
}

/// A commit of a PR with its builds and tests.
pub struct Commit {
    pub head: Head,
    pub commit_url: Option<String>,
    pub builds: Vec<Line>,
    pub tests: Vec<Line>,
    /// Log Detective's analyses of the commit's failed builds.
    pub analyses: Vec<Analysis>,
}

/// One Log Detective analysis (a failed build's architecture).
pub struct Analysis {
    /// `log_detective_run.id`: the flag links to `#log-detective-<id>`.
    pub id: i32,
    /// `<koji target>-<arch>`.
    pub target: String,
    pub status: String,
    pub explanation: Option<fedora_ci::messages::log_detective::Explanation>,
    /// Waiting, retrying, or why it ended without an explanation.
    pub note: Option<String>,
}

/// packit-service's `LogDetectiveResult` labels as the page's badge colours.
fn analysis_category(status: &str) -> &'static str {
    match status {
        "complete" => "success",
        "running" => "running",
        "error" => "error",
        _ => "unknown",
    }
}

fn analyses(list: &[Analysis]) -> Markup {
    html! {
        @for a in list {
            section.analysis id=(format!("log-detective-{}", a.id)) aria-label=(format!("Log Detective {}", a.target)) {
                h3 {
                    "Log Detective: " (a.target) " "
                    span class=(format!("state {}", analysis_category(&a.status))) { (a.status) }
                }
                @if let Some(note) = &a.note { p.note { (note) } }
                @if let Some(e) = &a.explanation {
                    @if e.no_issue_found { p { "Log Detective found no clear cause in the logs." } }
                    @if let Some(text) = &e.text {
                        div.explanation { @for para in text.split('\n').filter(|l| !l.trim().is_empty()) { p { (para) } } }
                    }
                    @if !e.snippets.is_empty() {
                        table {
                            caption { "Log snippets" }
                            thead { tr {
                                th scope="col" { "File" }
                                th scope="col" { "Line" }
                                th scope="col" { "What it says" }
                            } }
                            tbody {
                                @for s in &e.snippets {
                                    tr {
                                        th scope="row" data-label="File" { code { (s.source_file) } }
                                        td data-label="Line" { @if let Some(n) = s.line_number { (n) } }
                                        td data-label="What it says" {
                                            (s.text)
                                            @if let Some(extra) = &s.analysis { span.note { (extra) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn time(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (utc(t)) } }
}

/// "1 h 5 min", "4 min 2 s", "12 s".
pub fn human(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

fn badge(state: &str) -> Markup {
    html! { span class=(format!("state {}", category(state))) { (state) } }
}

fn page(title: &str, refresh: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh {
                    meta http-equiv="refresh" content=(REFRESH_SECONDS);
                }
                title { (title) " — Fedora CI" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { a href="/" { "Fedora CI" } }
                main { (body) }
                @if refresh {
                    footer { p { "Something is still running: this page reloads every " (REFRESH_SECONDS) " seconds." } }
                }
            }
        }
    }
}

fn lines_table(caption: &str, first_column: &str, lines: &[Line]) -> Markup {
    html! {
        @if !lines.is_empty() {
            table {
                caption { (caption) }
                thead { tr {
                    th scope="col" { (first_column) }
                    th scope="col" { "Target" }
                    th scope="col" { "State" }
                    th scope="col" { "Duration" }
                    th scope="col" { "Links" }
                    th scope="col" { "Notes" }
                } }
                tbody {
                    @for l in lines {
                        tr {
                            th scope="row" data-label=(first_column) { (l.name) }
                            td data-label="Target" { (l.target) }
                            td data-label="State" { (badge(&l.status)) }
                            td data-label="Duration" { @if let Some(d) = &l.duration { (d) } @else { "—" } }
                            td data-label="Links" {
                                @for (label, url) in &l.links { a href=(url) { (label) } " " }
                            }
                            td data-label="Notes" {
                                @for n in &l.notes { span.note { (n) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `/pr/<ns>/<repo>/<id>`: every commit CI saw on the PR, newest first.
pub fn pr_page(namespace: &str, repo: &str, pr_id: i64, pr_url: &str, commits: &[Commit]) -> Markup {
    let refresh = commits.iter().any(|c| c.head.state == "running" || c.analyses.iter().any(|a| a.status == "running"));
    let title = format!("{namespace}/{repo} PR #{pr_id}");
    page(
        &title,
        refresh,
        html! {
            h1 { (namespace) "/" (repo) " " a href=(pr_url) { "PR #" (pr_id) } }
            @if commits.is_empty() {
                p { "Fedora CI has not run for this pull request (yet)." }
            }
            @for c in commits {
                section.commit aria-label=(format!("commit {}", short(c.head.commit_sha.as_deref()))) {
                    h2 {
                        "Commit "
                        @if let Some(url) = &c.commit_url { a href=(url) { code { (short(c.head.commit_sha.as_deref())) } } }
                        @else { code { (short(c.head.commit_sha.as_deref())) } }
                        " " (badge(&c.head.state))
                    }
                    @if let Some(t) = c.head.updated { p.meta { "Last activity " (time(t)) } }
                    (lines_table("Koji builds", "Build", &c.builds))
                    (analyses(&c.analyses))
                    (lines_table("Tests", "Test", &c.tests))
                    @if c.builds.is_empty() && c.tests.is_empty() { p { "Nothing recorded for this commit." } }
                }
            }
        },
    )
}

/// `/`: the newest pipelines, filterable by package and state.
pub fn index(heads: &[Head], package: Option<&str>, state: Option<&str>) -> Markup {
    let refresh = heads.iter().any(|h| h.state == "running");
    page(
        "Recent pipelines",
        refresh,
        html! {
            h1 { "Recent pipelines" }
            form method="get" action="/" {
                label { "Package " input type="text" name="package" value=(package.unwrap_or("")) placeholder="e.g. bash"; }
                label { "State "
                    select name="state" {
                        option value="" selected[state.is_none()] { "any" }
                        @for s in states() { option value=(s) selected[state == Some(s)] { (s) } }
                    }
                }
                button type="submit" { "Filter" }
            }
            @if heads.is_empty() { p { "No pipelines match." } }
            @else {
                table {
                    caption { "Newest first" }
                    thead { tr {
                        th scope="col" { "Package" }
                        th scope="col" { "Pull request" }
                        th scope="col" { "Commit" }
                        th scope="col" { "State" }
                        th scope="col" { "Last activity" }
                    } }
                    tbody {
                        @for h in heads {
                            @let ns = h.namespace.as_deref().unwrap_or("");
                            @let repo = h.repo_name.as_deref().unwrap_or("");
                            tr {
                                th scope="row" data-label="Package" { (repo) }
                                td data-label="Pull request" {
                                    @if let Some(id) = h.pr_id {
                                        a href=(pr_path(h.forge, ns, repo, id)) { (ns) "/" (repo) " #" (id) }
                                    }
                                }
                                td data-label="Commit" { code { (short(h.commit_sha.as_deref())) } }
                                td data-label="State" { (badge(&h.state)) }
                                td data-label="Last activity" { @if let Some(t) = h.updated { (time(t)) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A page for a request that cannot be answered (bad filter, unknown PR).
pub fn message(title: &str, text: &str) -> Markup {
    page(title, false, html! { h1 { (title) } p { (text) } p { a href="/" { "All recent pipelines" } } })
}

fn short(sha: Option<&str>) -> String {
    sha.unwrap_or("unknown").chars().take(7).collect()
}

/// Our page of a PR: Pagure's at `/pr/…`, Forgejo's at `/forgejo/pr/…`.
fn pr_path(forge: fedora_ci::config::Forge, ns: &str, repo: &str, id: i64) -> String {
    match forge {
        fedora_ci::config::Forge::Pagure => format!("/pr/{ns}/{repo}/{id}"),
        fedora_ci::config::Forge::Forgejo => format!("/forgejo/pr/{ns}/{repo}/{id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human(chrono::Duration::seconds(12)), "12 s");
        assert_eq!(human(chrono::Duration::seconds(242)), "4 min 2 s");
        assert_eq!(human(chrono::Duration::seconds(3900)), "1 h 5 min");
        assert_eq!(human(chrono::Duration::seconds(-3)), "0 s");
    }

    #[test]
    fn database_text_is_escaped() {
        let html = message("<b>x</b>", "a & <script>alert(1)</script>").into_string();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
