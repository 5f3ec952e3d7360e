//! `make test`'s last step: no secret the tests configured may appear in any log
//! the tests' processes wrote (see `fedora_ci_tests::secret_scan`). Exits 1 when
//! one does, or when there are no logs at all (a scan of nothing proves nothing).

use std::process::ExitCode;

use fedora_ci_tests::harness::SECRETS;
use fedora_ci_tests::secret_scan::scan;

fn main() -> ExitCode {
    let dir = fedora_ci::dev::testing::test_logs_dir();
    let result = match scan(&dir, &SECRETS) {
        Ok(result) => result,
        Err(e) => {
            eprintln!("secret-scan: cannot read {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    if result.files == 0 {
        eprintln!("secret-scan: no logs in {} (run the tests first)", dir.display());
        return ExitCode::FAILURE;
    }
    for f in &result.findings {
        eprintln!("secret-scan: secret #{} of harness::SECRETS in {}:{}", f.secret, f.file.display(), f.line);
    }
    println!(
        "secret-scan: {} files, {} lines, {} secrets checked, {} found",
        result.files,
        result.lines,
        SECRETS.len(),
        result.findings.len()
    );
    if result.findings.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
