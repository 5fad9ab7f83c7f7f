//! Redaction of known secret values from a tool's output (PostToolUse), where the agent lets a
//! hook replace it. Known values: the hook's environment values that look like secrets (the
//! same test that drops them from the sandbox), and the contents of the secret files that exist
//! (each line of 12 characters or more; for `KEY=VALUE` lines, the value of 8 or more). Only
//! files up to 64 KiB are read. What a tool printed that cordon never knew is not found.

use std::path::Path;

use serde_json::Value;

const MAX_FILE: u64 = 64 << 10;

/// Secret files (`.env`, `*.pem`, `*.key`, `id_*`) in `dir` and its subdirectories, `depth`
/// levels down (skipping what tools make: `.git`, `node_modules`, `target`...).
pub fn secret_files(dir: &Path, depth: usize, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten().take(2000) {
        let name = e.file_name();
        let Some(n) = name.to_str() else { continue };
        let Ok(t) = e.file_type() else { continue };
        if t.is_file() && cordon_sandbox::spec::is_secret_file_name(n) {
            out.push(e.path());
        } else if t.is_dir()
            && depth > 0
            && !matches!(
                n,
                ".git" | "node_modules" | "target" | ".venv" | "venv" | "__pycache__"
            )
        {
            secret_files(&e.path(), depth - 1, out);
        }
    }
}

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
    // Read through a handle (non-blocking, regular files only, no symlink on the way): the
    // path was looked at above, but a sandboxed command still running (in the background) may
    // have put a FIFO there since, whose open would hang the hook until the agent gives up on it
    // (and shows the output unredacted).
    let Ok(real) = std::fs::canonicalize(p) else {
        return;
    };
    let Ok(Some(file)) = cordon_sandbox::files::read_pinned(Path::new("/"), &real) else {
        return;
    };
    if file.bytes.len() as u64 > MAX_FILE {
        return;
    }
    let Ok(text) = String::from_utf8(file.bytes) else {
        return;
    };
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("-----") || l.starts_with('#') {
            continue;
        }
        match l.split_once('=') {
            // KEY=VALUE: the value (the key stays readable: `API_TOKEN=[REDACTED]`).
            // (A base64 line's `=` padding is not an assignment.)
            Some((k, v))
                if is_key(k.trim_start_matches("export ").trim())
                    && !v.trim().chars().all(|c| c == '=') =>
            {
                let v = v.trim().trim_matches(['"', '\'']);
                if v.len() >= 8 {
                    out.push(v.to_string());
                }
            }
            _ if l.len() >= 12 => out.push(l.to_string()),
            _ => {}
        }
    }
}

/// A variable name (`API_TOKEN`, `aws_secret_access_key`).
fn is_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 64
        && k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
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

    #[test]
    fn key_lines_and_base64_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("creds");
        std::fs::write(&f, "[default]\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG\nMIIEowIBAAKCAQEAx0abcdefgh==\nexport TOKEN=\"abcdefgh12\"\n").unwrap();
        let mut v = Vec::new();
        collect_file(&f, 0, &mut v);
        assert!(v.contains(&"wJalrXUtnFEMI/K7MDENG".to_string()), "{v:?}");
        assert!(
            v.contains(&"MIIEowIBAAKCAQEAx0abcdefgh==".to_string()),
            "{v:?}"
        );
        assert!(v.contains(&"abcdefgh12".to_string()), "{v:?}");
    }
}
