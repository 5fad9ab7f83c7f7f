//! The TOML schema, the same for every layer, and the errors it gives.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::units::did_you_mean;
use crate::ConfigError;

pub(crate) type S<T> = Spanned<T>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileToml {
    pub mode: Option<S<String>>,
    pub approval: Option<S<String>>,
    pub approver: Option<S<Vec<String>>>,
    pub approver_timeout: Option<S<toml::Value>>,
    #[serde(default)]
    pub filesystem: FsToml,
    #[serde(default)]
    pub env: EnvToml,
    #[serde(default)]
    pub network: NetToml,
    #[serde(default)]
    pub limits: LimitsToml,
    #[serde(default)]
    pub policy: PolicyToml,
    #[serde(default)]
    pub audit: AuditToml,
    #[serde(default)]
    pub hook: HookToml,
    #[serde(default)]
    pub caches: CachesToml,
    pub managed: Option<S<ManagedToml>>,
    /// Named profiles (`[profile.NAME]`), applied by `cordon run --profile NAME`.
    #[serde(default)]
    pub profile: std::collections::BTreeMap<String, S<ProfileToml>>,
}

/// A profile: the sandbox an agent (or any program) needs, applied as one more layer after the
/// project's and before the environment and the flags.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileToml {
    pub description: Option<S<String>>,
    pub mode: Option<S<String>>,
    #[serde(default)]
    pub filesystem: FsToml,
    #[serde(default)]
    pub env: EnvToml,
    #[serde(default)]
    pub network: NetToml,
    #[serde(default)]
    pub limits: LimitsToml,
}

/// `[hook]`: what `cordon hook AGENT` does beyond the rules.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct HookToml {
    /// SessionStart: give the model a few lines about the sandbox.
    pub context: Option<S<bool>>,
    /// A tool cordon does not know: allow | ask | deny.
    pub unknown_tool: Option<S<String>>,
}

/// `[caches]`: tool caches overlaid in the sandbox.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CachesToml {
    pub enabled: Option<S<bool>>,
    #[serde(default)]
    pub remove: Vec<S<String>>,
    #[serde(default)]
    pub add: Vec<S<CacheAddToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CacheAddToml {
    pub name: String,
    pub path: String,
    pub env: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FsToml {
    #[serde(default)]
    pub writable: Vec<S<String>>,
    #[serde(default)]
    pub read_secret: Vec<S<String>>,
    #[serde(default)]
    pub secret: Vec<S<String>>,
    #[serde(default)]
    pub protected: Vec<S<String>>,
    #[serde(default)]
    pub remove_secret: Vec<S<String>>,
    #[serde(default)]
    pub remove_protected: Vec<S<String>>,
    /// The most files and directories cordon reads in the writable roots before it refuses.
    pub scan_limit: Option<S<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvToml {
    #[serde(default)]
    pub pass: Vec<S<String>>,
    #[serde(default)]
    pub secret: Vec<S<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetToml {
    pub mode: Option<S<String>>,
    #[serde(default)]
    pub allow: Vec<S<String>>,
    #[serde(default)]
    pub deny: Vec<S<String>>,
    pub allow_local: Option<S<bool>>,
    pub allow_ech: Option<S<bool>>,
    #[serde(default)]
    pub resolve: Vec<S<String>>,
    /// `[[network.credentials]]`: headers the proxy adds on egress (personal: never a project's).
    #[serde(default)]
    pub credentials: Vec<S<CredentialToml>>,
    /// Extra roots for the proxy's own TLS to intercepted hosts (personal).
    pub upstream_ca_file: Option<S<String>>,
}

/// One `[[network.credentials]]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CredentialToml {
    pub host: String,
    pub env: String,
    pub header: Option<String>,
    pub format: Option<String>,
    pub port: Option<u16>,
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsToml {
    pub nproc: Option<S<u64>>,
    pub memory: Option<S<toml::Value>>,
    pub nofile: Option<S<u64>>,
    pub timeout: Option<S<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyToml {
    #[serde(default)]
    pub files: Vec<S<String>>,
    #[serde(default)]
    pub disable_builtins: Vec<S<String>>,
    /// Checked in full by cordon-policy (same schema as policy files); here only the decision
    /// and the position matter.
    #[serde(default)]
    pub rule: Vec<S<toml::Table>>,
    /// Tool-call rules (`[[policy.tool]]`), checked by cordon-policy likewise.
    #[serde(default)]
    pub tool: Vec<S<toml::Table>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditToml {
    pub dir: Option<S<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManagedToml {
    pub allowed_modes: Option<S<Vec<S<String>>>>,
    pub allowed_approvals: Option<S<Vec<S<String>>>>,
    #[serde(default)]
    pub never_allow_domains: Vec<S<String>>,
    pub allow_network_full: Option<S<bool>>,
    pub allow_local_addresses: Option<S<bool>>,
    pub allow_read_secret: Option<S<bool>>,
    pub require_policy: Option<S<bool>>,
}

/// Every key, per table, for "did you mean" hints.
const KEYS: &[&str] = &[
    "mode",
    "approval",
    "approver",
    "approver_timeout",
    "filesystem",
    "env",
    "network",
    "limits",
    "policy",
    "audit",
    "hook",
    "context",
    "unknown_tool",
    "caches",
    "managed",
    "profile",
    "description",
    "writable",
    "read_secret",
    "secret",
    "protected",
    "remove_secret",
    "remove_protected",
    "scan_limit",
    "pass",
    "allow",
    "deny",
    "allow_local",
    "allow_ech",
    "resolve",
    "credentials",
    "upstream_ca_file",
    "host",
    "header",
    "format",
    "port",
    "methods",
    "paths",
    "nproc",
    "memory",
    "nofile",
    "timeout",
    "files",
    "disable_builtins",
    "rule",
    "tool",
    "dir",
    "enabled",
    "remove",
    "add",
    "name",
    "path",
    "allowed_modes",
    "allowed_approvals",
    "never_allow_domains",
    "allow_network_full",
    "allow_local_addresses",
    "allow_read_secret",
    "require_policy",
];

/// A config file's text and name, for positions.
pub(crate) struct Doc<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Doc<'_> {
    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        (line, col)
    }

    /// The key on the line of `offset`, when that line is `key = value`.
    fn key_at(&self, offset: usize) -> Option<String> {
        let (line, _) = self.line_col(offset);
        let l = self.text.lines().nth(line - 1)?;
        let (k, _) = l.split_once('=')?;
        let k = k.trim().trim_matches('"');
        (!k.is_empty() && !k.contains(['[', '#', '"'])).then(|| k.to_string())
    }

    pub fn err(&self, offset: usize, what: impl std::fmt::Display, hint: &str) -> ConfigError {
        let (line, col) = self.line_col(offset);
        ConfigError::At {
            path: self.path.to_path_buf(),
            line,
            col,
            what: what.to_string(),
            hint: hint.into(),
        }
    }

    pub fn err_at<T>(&self, v: &S<T>, what: impl std::fmt::Display, hint: &str) -> ConfigError {
        self.err(v.span().start, what, hint)
    }

    pub fn parse(&self) -> Result<FileToml, ConfigError> {
        toml::from_str(self.text).map_err(|e| {
            let off = e.span().map_or(0, |s| s.start);
            let msg = e.message().trim().to_string();
            if let Some(rest) = msg.strip_prefix("unknown field `") {
                let key = rest.split('`').next().unwrap_or("");
                // serde lists the keys of the table the error is in.
                let expected: Vec<&str> = rest
                    .split('`')
                    .skip(1)
                    .enumerate()
                    .filter(|(i, _)| i % 2 == 1)
                    .map(|(_, s)| s)
                    .collect();
                let pool: Vec<&str> = if expected.is_empty() {
                    KEYS.to_vec()
                } else {
                    expected.clone()
                };
                let hint = match did_you_mean(key, &pool) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None if !expected.is_empty() => {
                        format!("expected one of {}", expected.join(", "))
                    }
                    None => "remove it (see the README's config section for the keys)".into(),
                };
                return self.err(off, format!("unknown key `{key}`"), &hint);
            }
            let (hint, about_value) = if msg.starts_with("invalid type") {
                (
                    "fix the value's type (strings are quoted, lists are [..])",
                    true,
                )
            } else if msg.starts_with("invalid value") {
                ("give a value of the expected kind", true)
            } else if msg.starts_with("duplicate key") {
                ("set each key once", false)
            } else {
                ("fix the TOML syntax", false)
            };
            // Name the key the value belongs to (serde's message does not).
            let msg = match self.key_at(off).filter(|_| about_value) {
                Some(k) => format!("`{k}`: {msg}"),
                None => msg,
            };
            self.err(off, msg, hint)
        })
    }
}

/// Reads a config file: `Ok(None)` when it does not exist; an error when it exists but cannot
/// be read (never silently skipped).
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read(path) {
        Ok(b) => String::from_utf8(b)
            .map(Some)
            .map_err(|_| ConfigError::File {
                path: path.to_path_buf(),
                why: "not valid UTF-8; save it as UTF-8 text".into(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::File {
            path: path.to_path_buf(),
            why: format!("cannot read it ({e}); fix its permissions or remove it"),
        }),
    }
}

/// `~` and `~/x` expanded against `home`; other paths as they are.
pub(crate) fn expand_home(s: &str, home: &Path) -> PathBuf {
    if s == "~" {
        home.to_path_buf()
    } else if let Some(rest) = s.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(s)
    }
}
