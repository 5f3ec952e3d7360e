//! `make bench`: the figures of issue #11, each next to a baseline measured in the
//! same run on the same machine, printed as a Markdown table and written to
//! `target/bench/report.json`.
//!
//! Every loop here is bounded in count and in time, and talks to loopback only.

pub mod cold_start;
pub mod history;
pub mod latency;
pub mod load;
pub mod memory;
pub mod pgwire;
pub mod reconcile;
pub mod throughput;

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

/// Which way a figure has to go to meet its target.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// `value <= target` (times, sizes, counts of mistakes).
    AtMost,
    /// `value >= target` (rates; for ratios, the ratio).
    AtLeast,
    /// Reported for context only.
    None,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub metric: String,
    pub value: f64,
    pub unit: String,
    /// The same-run comparison figure and what it is, when there is one.
    pub baseline: Option<f64>,
    pub baseline_label: Option<String>,
    /// `value / baseline`.
    pub ratio: Option<f64>,
    /// What the target applies to: the value, or (when `target_on_ratio`) the ratio.
    pub target: Option<f64>,
    pub target_on_ratio: bool,
    pub goal: Goal,
    /// `None` when there is no target.
    pub pass: Option<bool>,
}

impl Line {
    pub fn info(metric: impl Into<String>, value: f64, unit: &str) -> Line {
        Line {
            metric: metric.into(),
            value,
            unit: unit.to_owned(),
            baseline: None,
            baseline_label: None,
            ratio: None,
            target: None,
            target_on_ratio: false,
            goal: Goal::None,
            pass: None,
        }
        .judged()
    }

    pub fn with_baseline(mut self, label: &str, baseline: f64) -> Line {
        self.baseline = Some(baseline);
        self.baseline_label = Some(label.to_owned());
        self.ratio = (baseline != 0.0).then(|| self.value / baseline);
        self.judged()
    }

    pub fn at_most(mut self, target: f64) -> Line {
        (self.target, self.goal, self.target_on_ratio) = (Some(target), Goal::AtMost, false);
        self.judged()
    }

    pub fn at_least(mut self, target: f64) -> Line {
        (self.target, self.goal, self.target_on_ratio) = (Some(target), Goal::AtLeast, false);
        self.judged()
    }

    /// The target is a ratio against the baseline (`≥ 1.0×` …).
    pub fn ratio_at_least(mut self, target: f64) -> Line {
        (self.target, self.goal, self.target_on_ratio) = (Some(target), Goal::AtLeast, true);
        self.judged()
    }

    /// The ratio against the baseline must stay at or below `target` (`≤ 2×`).
    pub fn ratio_at_most(mut self, target: f64) -> Line {
        (self.target, self.goal, self.target_on_ratio) = (Some(target), Goal::AtMost, true);
        self.judged()
    }

    fn judged(mut self) -> Line {
        let compared = if self.target_on_ratio { self.ratio } else { Some(self.value) };
        self.pass = match (self.goal, self.target, compared) {
            (Goal::AtMost, Some(t), Some(v)) => Some(v <= t),
            (Goal::AtLeast, Some(t), Some(v)) => Some(v >= t),
            (Goal::None, _, _) | (_, None, _) => None,
            (_, Some(_), None) => Some(false),
        };
        self
    }
}

/// The whole run: where it ran and every line.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: String,
    pub profile: String,
    pub started: String,
    pub seconds: f64,
    pub lines: Vec<Line>,
    /// Cost curves: one figure at several sizes, each a small table of its own.
    pub curves: Vec<Curve>,
    /// Sections that could not run, with the reason.
    pub skipped: Vec<String>,
}

/// A cost curve: a row per measure, a column per size.
#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    pub title: String,
    /// The first column's heading, then one per size.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Curve {
    pub fn markdown(&self) -> String {
        let mut out =
            format!("{}\n\n| {} |\n|{}\n", self.title, self.columns.join(" | "), "---|".repeat(self.columns.len()));
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "Machine: {}  \nProfile: {}  \nStarted: {} ({:.0} s)\n\n| metric | value | baseline | ratio | target | pass |\n|---|---|---|---|---|---|\n",
            self.machine, self.profile, self.started, self.seconds
        );
        for l in &self.lines {
            let baseline = match (&l.baseline_label, l.baseline) {
                (Some(label), Some(b)) => format!("{} {} ({label})", number(b), l.unit),
                _ => String::new(),
            };
            let ratio = l.ratio.map(|r| format!("{r:.2}×")).unwrap_or_default();
            let target = match (l.target, l.goal) {
                (Some(t), Goal::AtMost) if l.target_on_ratio => format!("≤ {t}×"),
                (Some(t), Goal::AtLeast) if l.target_on_ratio => format!("≥ {t}×"),
                (Some(t), Goal::AtMost) => format!("≤ {} {}", number(t), l.unit),
                (Some(t), Goal::AtLeast) => format!("≥ {} {}", number(t), l.unit),
                _ => String::new(),
            };
            let pass = match l.pass {
                Some(true) => "pass",
                Some(false) => "**fail**",
                None => "",
            };
            out.push_str(&format!(
                "| {} | {} {} | {baseline} | {ratio} | {target} | {pass} |\n",
                l.metric,
                number(l.value),
                l.unit
            ));
        }
        for c in &self.curves {
            out.push('\n');
            out.push_str(&c.markdown());
        }
        for s in &self.skipped {
            out.push_str(&format!("\nskipped: {s}"));
        }
        out
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)
    }
}

/// A count with thousands separators (`2,000,000`), for sizes.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Enough digits to compare, no more.
pub fn number(v: f64) -> String {
    if v == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted samples (`p` in 0..=100).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// min, median, max of unsorted samples.
pub fn spread(samples: &mut [f64]) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    (
        samples.first().copied().unwrap_or(f64::NAN),
        percentile(samples, 50.0),
        samples.last().copied().unwrap_or(f64::NAN),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn targets_are_judged_on_value_or_ratio() {
        assert_eq!(Line::info("x", 12.0, "ms").at_most(20.0).pass, Some(true));
        assert_eq!(Line::info("x", 25.0, "ms").at_most(20.0).pass, Some(false));
        let l = Line::info("tps", 500.0, "ev/s").with_baseline("pgbench", 1000.0).ratio_at_least(0.5);
        assert_eq!((l.ratio, l.pass), (Some(0.5), Some(true)));
        let l = Line::info("tps", 400.0, "ev/s").ratio_at_least(1.0).with_baseline("pgbench", 1000.0);
        assert_eq!(l.pass, Some(false));
        assert_eq!(Line::info("x", 1.0, "").pass, None);
        let l = Line::info("p50", 3.0, "ms").with_baseline("small", 2.0).ratio_at_most(2.0);
        assert_eq!(l.pass, Some(true));
    }

    #[test]
    fn counts_have_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(2_000_000), "2,000,000");
        assert_eq!(count(20_000), "20,000");
    }
}
