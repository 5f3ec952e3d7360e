//! Checks that no configured secret reached a log: every file under
//! `target/test-logs/` (the output of every process the tests started, kept by
//! `RunningBinary`) is searched for every value in [`crate::harness::SECRETS`].

use std::path::{Path, PathBuf};

/// Where a secret was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    pub line: usize,
    /// Which secret (its index in the list, never the value itself, so the report
    /// does not repeat the leak).
    pub secret: usize,
}

/// What a scan covered, and what it found.
#[derive(Debug, Default)]
pub struct Scan {
    pub files: usize,
    pub lines: usize,
    pub findings: Vec<Finding>,
}

/// Scans every regular file in `dir` (not recursive) for each of `secrets`.
pub fn scan(dir: &Path, secrets: &[&str]) -> std::io::Result<Scan> {
    let mut out = Scan::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| Some(e.ok()?.path())).collect();
    files.sort();
    for file in files.into_iter().filter(|f| f.is_file()) {
        let bytes = std::fs::read(&file)?;
        out.files += 1;
        // Lossy: a secret split by invalid UTF-8 is not a secret on the screen either,
        // and binary junk must not stop the scan.
        for (i, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
            out.lines += 1;
            for (s, secret) in secrets.iter().enumerate() {
                if !secret.is_empty() && line.contains(secret) {
                    out.findings.push(Finding { file: file.clone(), line: i + 1, secret: s });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_secret_is_found_and_clean_logs_pass() {
        let dir = std::env::temp_dir().join(format!("fci-secret-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("clean.log"), "{\"msg\":\"flag set\"}\n{\"msg\":\"token: <redacted>\"}\n").unwrap();
        let clean = scan(&dir, &["s3cr3t", "other"]).unwrap();
        assert_eq!((clean.files, clean.lines, clean.findings.len()), (1, 2, 0));

        std::fs::write(dir.join("leak.log"), "ok\n{\"url\":\"https://x/?key=s3cr3t\"}\n").unwrap();
        let leaked = scan(&dir, &["s3cr3t", "other"]).unwrap();
        assert_eq!(leaked.findings, [Finding { file: dir.join("leak.log"), line: 2, secret: 0 }]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
