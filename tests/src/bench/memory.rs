//! Resident memory of a running function (`VmRSS`, peak `VmHWM`), and on-disk sizes.

use std::path::Path;

/// Resident set size of `pid` in MiB, from `/proc/<pid>/status`.
pub fn rss_mib(pid: u32) -> Option<f64> {
    status_mib(pid, "VmRSS:")
}

/// The peak resident set size of `pid` so far (`VmHWM`), in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    status_mib(pid, "VmHWM:")
}

fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 =
        status.lines().find_map(|l| l.strip_prefix(field))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}

pub fn file_mib(path: &Path) -> Option<f64> {
    Some(std::fs::metadata(path).ok()?.len() as f64 / (1024.0 * 1024.0))
}

/// The container tool that can build images here, if any.
pub fn container_tool() -> Option<&'static str> {
    ["podman", "buildah", "docker"].into_iter().find(|tool| {
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
    })
}

/// Size in MiB of an image already built by `make image`, via `podman`/`docker image inspect`.
pub fn image_mib(tool: &str, image: &str) -> Option<f64> {
    let tool = if tool == "buildah" { "podman" } else { tool };
    let out =
        std::process::Command::new(tool).args(["image", "inspect", "--format", "{{.Size}}", image]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let bytes: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(bytes / (1024.0 * 1024.0))
}
