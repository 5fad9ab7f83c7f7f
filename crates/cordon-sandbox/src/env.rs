//! The sandbox's environment: a small core passed through, plus what the user names;
//! values that look like secrets are dropped even under an innocent name.
//!
//! Pure functions: they take the parent's environment as data and return the child's.

use serde::Serialize;

/// Variables passed through by default (when set in the parent).
const CORE: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TERM",
    "COLORTERM",
    "TZ",
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "COLUMNS",
    "LINES",
    "EDITOR",
    "VISUAL",
    "PAGER",
];

/// A variable that was not passed into the sandbox, and why. Never carries the value.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DroppedEnv {
    pub name: String,
    pub reason: String,
}

/// What the user asked for on top of the core set.
#[derive(Debug, Clone, Default)]
pub struct EnvRequest {
    /// `--env NAME` (pass through from the parent) and `--env NAME=VALUE` (set).
    pub extra: Vec<String>,
    /// `--secret-env NAME`: pass through even though the value looks like a secret.
    pub secret_ok: Vec<String>,
}

/// Builds the child's environment from the parent's.
/// Returns (kept, dropped). `LC_*` variables are part of the core set.
pub fn filter_env(
    parent: &[(String, String)],
    req: &EnvRequest,
) -> (Vec<(String, String)>, Vec<DroppedEnv>) {
    let mut kept: Vec<(String, String)> = Vec::new();
    let mut dropped = Vec::new();
    let mut named: Vec<&str> = Vec::new();
    let mut set: Vec<(String, String)> = Vec::new();
    for e in &req.extra {
        match e.split_once('=') {
            Some((n, v)) => set.push((n.to_string(), v.to_string())),
            None => named.push(e.as_str()),
        }
    }
    for (name, value) in parent {
        let wanted = CORE.contains(&name.as_str())
            || name.starts_with("LC_")
            || named.contains(&name.as_str())
            || req.secret_ok.iter().any(|s| s == name);
        if !wanted {
            continue;
        }
        if !req.secret_ok.iter().any(|s| s == name) {
            if let Some(why) = looks_secret(name, value) {
                dropped.push(DroppedEnv {
                    name: name.clone(),
                    reason: why.to_string(),
                });
                continue;
            }
        }
        kept.push((name.clone(), value.clone()));
    }
    // Explicit NAME=VALUE from the user's own command line: the user typed the value, so it is kept
    // as given (it is not the parent's environment leaking in).
    for (n, v) in set {
        kept.retain(|(k, _)| *k != n);
        kept.push((n, v));
    }
    for n in named {
        if !parent.iter().any(|(k, _)| k == n) && !kept.iter().any(|(k, _)| k == n) {
            dropped.push(DroppedEnv {
                name: n.to_string(),
                reason: "not set".into(),
            });
        }
    }
    (kept, dropped)
}

/// Prefixes of well-known credential formats.
const TOKEN_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxs-",
    "AKIA",
    "ASIA",
    "AIza",
    "ya29.",
    "npm_",
    "pypi-",
    "hf_",
    "dop_v1_",
    "SG.",
    "shpat_",
    "-----BEGIN",
];

/// Name fragments that mark a variable as holding a credential.
const SECRET_NAMES: &[&str] = &[
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
    "SESSION",
];

/// Why `value` (under `name`) looks like a secret, or None.
pub fn looks_secret(name: &str, value: &str) -> Option<&'static str> {
    let v = value.trim();
    if v.contains("PRIVATE KEY") {
        return Some("value is a private key");
    }
    if TOKEN_PREFIXES
        .iter()
        .any(|p| v.starts_with(p) && v.len() >= p.len() + 8)
    {
        return Some("value has a known token prefix");
    }
    if is_jwt(v) {
        return Some("value is a JSON web token");
    }
    if url_has_password(v) {
        return Some("value is a URL with a password");
    }
    let upper = name.to_ascii_uppercase();
    let secret_name = SECRET_NAMES.iter().any(|s| upper.contains(s));
    if secret_name && v.len() >= 16 && !v.contains(char::is_whitespace) && entropy_bits(v) >= 3.5 {
        return Some("high-entropy value under a credential-like name");
    }
    if v.len() >= 32 && !v.contains(['/', ' ', ':']) && entropy_bits(v) >= 4.5 {
        return Some("long high-entropy value");
    }
    None
}

fn is_jwt(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && v.starts_with("eyJ")
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `scheme://user:password@host...` with a non-empty password.
fn url_has_password(v: &str) -> bool {
    let Some((_, rest)) = v.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => matches!(userinfo.split_once(':'), Some((_, pw)) if !pw.is_empty()),
        None => false,
    }
}

/// Shannon entropy in bits per character.
fn entropy_bits(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn core_only_by_default() {
        let parent = env(&[
            ("PATH", "/usr/bin"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("FOO", "bar"),
        ]);
        let (kept, _) = filter_env(&parent, &EnvRequest::default());
        assert_eq!(kept, env(&[("PATH", "/usr/bin")]));
    }

    #[test]
    fn secrets_dropped_even_under_innocent_names() {
        let parent = env(&[
            ("FOO", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            ("DATABASE_URL", "postgres://app:hunter2@db/app"),
            ("API_KEY", "q8Zr2LmX9vTp4Kw7Yb3N"),
            ("PLAIN", "hello"),
            ("SAFE_URL", "https://example.com/x"),
        ]);
        let req = EnvRequest {
            extra: vec![
                "FOO".into(),
                "DATABASE_URL".into(),
                "API_KEY".into(),
                "PLAIN".into(),
                "SAFE_URL".into(),
            ],
            ..Default::default()
        };
        let (kept, dropped) = filter_env(&parent, &req);
        assert_eq!(
            kept,
            env(&[("PLAIN", "hello"), ("SAFE_URL", "https://example.com/x")])
        );
        let names: Vec<_> = dropped.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["FOO", "DATABASE_URL", "API_KEY"]);
        assert!(
            !format!("{dropped:?}").contains("hunter2"),
            "dropped list must not carry values"
        );
    }

    #[test]
    fn explicit_value_and_secret_env_pass() {
        let parent = env(&[("GH_TOKEN", "ghp_abcdefghijklmnopqrstuvwxyz0123456789")]);
        let req = EnvRequest {
            extra: vec!["X=1".into()],
            secret_ok: vec!["GH_TOKEN".into()],
        };
        let (kept, dropped) = filter_env(&parent, &req);
        assert!(dropped.is_empty());
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn ordinary_values_are_not_secrets() {
        for (n, v) in [
            ("TERM", "xterm-256color"),
            (
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ),
            ("SSH_AUTH_SOCK_NAME", "agent"),
            ("KEYBOARD", "us"),
            ("LANG", "C.UTF-8"),
        ] {
            assert_eq!(looks_secret(n, v), None, "{n}={v}");
        }
    }
}
