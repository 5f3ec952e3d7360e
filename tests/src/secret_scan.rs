//! Checks that no configured secret reached a log: every file under
//! `target/test-logs/` (the output of every process the tests started, kept by
//! `RunningBinary`, and the logs and answers the fuzz and bad-input tests write
//! there) is searched for every value in [`crate::harness::SECRETS`], in each of
//! the forms a leak takes on the way: as it is, percent-encoded (a URL or form),
//! JSON-escaped, and in base64 (standard and URL-safe, at every alignment: a
//! secret inside a longer encoded string, such as an `Authorization: Basic`
//! header, is found too).

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
    let forms: Vec<Vec<String>> = secrets.iter().map(|s| encoded_forms(s)).collect();
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
            for (s, forms) in forms.iter().enumerate() {
                if forms.iter().any(|form| line.contains(form.as_str())) {
                    out.findings.push(Finding { file: file.clone(), line: i + 1, secret: s });
                }
            }
        }
    }
    Ok(out)
}

/// `secret` as it is and as it looks encoded; empty for an empty secret.
pub fn encoded_forms(secret: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    if secret.is_empty() {
        return Vec::new();
    }
    let mut forms = vec![secret.to_owned(), url::form_urlencoded::byte_serialize(secret.as_bytes()).collect()];
    let json = serde_json::to_string(secret).expect("a string is JSON");
    forms.push(json[1..json.len() - 1].to_owned());
    // Base64 of the secret after 0, 1 or 2 other bytes: only the characters made
    // of the secret's bits alone are the same whatever surrounds it.
    for engine in [STANDARD, URL_SAFE] {
        for offset in 0..3usize {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = engine.encode(&bytes);
            let start = (offset * 8).div_ceil(6);
            let end = (bytes.len() * 8) / 6;
            if end > start + 4 {
                forms.push(encoded[start..end].to_owned());
            }
        }
    }
    forms.sort();
    forms.dedup();
    forms
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

    #[test]
    fn encoded_secrets_are_found() {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD;
        let dir = std::env::temp_dir().join(format!("fci-secret-scan-enc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = "s3cr3t/+ =x\"y";
        let lines = [
            format!("url=https://x/?t={}", url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>()),
            format!("{{\"reason\":{}}}", serde_json::to_string(secret).unwrap()),
            format!("Authorization: Basic {}", STANDARD.encode(format!("user:{secret}"))),
            format!("b64 {}", STANDARD.encode(format!("ab{secret}cd"))),
        ];
        std::fs::write(dir.join("leaks.log"), lines.join("\n")).unwrap();
        let found = scan(&dir, &[secret]).unwrap();
        assert_eq!(found.findings.iter().map(|f| f.line).collect::<Vec<_>>(), [1, 2, 3, 4]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
