//! Redaction of known secret values from a tool's output (PostToolUse), where the agent lets a
//! hook replace it. Known values: the hook's environment values that look like secrets (the
//! same test that drops them from the sandbox), and the contents of the secret files that exist
//! (each line of 12 characters or more; for `KEY=VALUE` lines, the value of 8 or more). Only
//! files up to 64 KiB are read. What a tool printed that cordon never knew is not found.

use std::path::Path;

use serde_json::Value;

const MAX_FILE: u64 = 64 << 10;

/// The values to hide, longest first (so that a value containing another is replaced whole).
pub fn known_values(secret_paths: &[std::path::PathBuf]) -> Vec<String> {
    let mut vals: Vec<String> = std::env::vars()
        .filter(|(k, v)| cordon_sandbox::env::looks_secret(k, v).is_some())
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| v.len() >= 8)
        .collect();
    for p in secret_paths {
        collect_file(p, 0, &mut vals);
    }
    vals.sort_by_key(|v| std::cmp::Reverse(v.len()));
    vals.dedup();
    vals
}

fn collect_file(p: &Path, depth: usize, out: &mut Vec<String>) {
    let Ok(m) = std::fs::metadata(p) else { return };
    if m.is_dir() {
        if depth > 1 {
            return;
        }
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten().take(64) {
                collect_file(&e.path(), depth + 1, out);
            }
        }
        return;
    }
    if !m.is_file() || m.len() > MAX_FILE {
        return;
    }
    let Ok(text) = std::fs::read_to_string(p) else {
        return;
    };
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("-----") || l.starts_with('#') {
            continue;
        }
        if let Some((_, v)) = l.split_once('=') {
            let v = v.trim().trim_matches(['"', '\'']);
            if v.len() >= 8 {
                out.push(v.to_string());
            }
        }
        if l.len() >= 12 {
            out.push(l.to_string());
        }
    }
}

/// `v` with every known value replaced by `[REDACTED]`, in every string it holds; `None` when
/// nothing was found.
pub fn redact(v: &Value, values: &[String]) -> Option<Value> {
    fn walk(v: &Value, values: &[String], hit: &mut bool) -> Value {
        match v {
            Value::String(s) => {
                let mut s = s.clone();
                for k in values {
                    if s.contains(k.as_str()) {
                        s = s.replace(k.as_str(), "[REDACTED]");
                        *hit = true;
                    }
                }
                Value::String(s)
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, values, hit)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), walk(x, values, hit)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    if values.is_empty() {
        return None;
    }
    let mut hit = false;
    let out = walk(v, values, &mut hit);
    hit.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_in_nested_strings_only_when_found() {
        let vals = vec!["ghp_abcdefghijklmnop1234".to_string()];
        let v = serde_json::json!({"stdout": "token ghp_abcdefghijklmnop1234 here", "n": 1,
            "lines": ["x", "ghp_abcdefghijklmnop1234"]});
        let r = redact(&v, &vals).unwrap();
        assert_eq!(r["stdout"], "token [REDACTED] here");
        assert_eq!(r["lines"][1], "[REDACTED]");
        assert_eq!(r["n"], 1);
        assert!(redact(&serde_json::json!({"stdout": "clean"}), &vals).is_none());
    }
}
