//! The repository's copies of `../shared/cases/<kind>/` (`tests/cases/<kind>/`):
//! the situations from the field the end-to-end tests replay, kept in the clone so
//! it is self-contained, and checked against the shared originals when those sit
//! beside the checkout.

use std::path::{Path, PathBuf};

/// `tests/cases/<kind>`.
pub fn dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases").join(kind)
}

/// Compares every file under `../shared/cases/<kind>/` with its copy and returns
/// how many it compared (`None` when the originals are not beside the checkout).
/// People's display names are left out of the comparison: the originals still
/// carry real full names in `fullname` values, which the copies replace with the
/// fixtures' made-up ones (issue #26).
pub fn compare_with_shared(kind: &str) -> Option<usize> {
    let original = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/cases").join(kind);
    if !original.exists() {
        return None;
    }
    let mut compared = 0;
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        for entry in std::fs::read_dir(original.join(&rel)).unwrap() {
            let entry = entry.unwrap();
            let rel = rel.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                pending.push(rel);
                continue;
            }
            assert_eq!(
                without_full_names(std::fs::read(entry.path()).unwrap()),
                without_full_names(std::fs::read(dir(kind).join(&rel)).unwrap_or_default()),
                "{kind}/{} differs from its copy",
                rel.display()
            );
            compared += 1;
        }
    }
    Some(compared)
}

/// The text with every `"fullname": "…"` value replaced by `…`.
fn without_full_names(bytes: Vec<u8>) -> String {
    const KEY: &str = "\"fullname\": \"";
    let text = String::from_utf8(bytes).unwrap();
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(KEY) {
        let (head, tail) = rest.split_at(at + KEY.len());
        out.push_str(head);
        out.push('…');
        rest = &tail[tail.find('"').unwrap_or(tail.len())..];
    }
    out + rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_names_are_left_out() {
        let a = without_full_names(br#"{"fullname": "A Person", "name": "jdoe"}"#.to_vec());
        let b = without_full_names(br#"{"fullname": "Zoe White", "name": "jdoe"}"#.to_vec());
        assert_eq!(a, b);
        assert_ne!(a, without_full_names(br#"{"fullname": "Zoe White", "name": "jdoe2"}"#.to_vec()));
    }
}
