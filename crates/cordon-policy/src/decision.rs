//! What a check answers: the decision, the rule and reason behind it, every simple command
//! with its own, and the limits beyond which the answer is ask.

use std::path::PathBuf;

use serde::Serialize;

use crate::unicode;

/// The answer. Ordered: `Allow < Ask < Deny`, so the strictest is the `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Ask,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Ask => "ask",
            Decision::Deny => "deny",
        }
    }
}

/// Where the command runs: relative paths resolve against `cwd`; `~` is `home`; the workspace
/// root is what `rm -rf` must not delete and where redirections may write.
#[derive(Debug, Clone)]
pub struct Context {
    pub cwd: PathBuf,
    pub workspace: PathBuf,
    pub home: PathBuf,
}

/// One reason that contributed to a decision.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub decision: Decision,
    /// `builtin:NAME` or `path:line` of a user rule.
    pub rule: String,
    pub reason: String,
}

/// One simple command (or one file write by a redirection) found in the input.
#[derive(Debug, Clone, Serialize)]
pub struct CommandEval {
    /// `command` or `redirect`.
    pub kind: &'static str,
    /// The argv as cordon resolved it (quotes removed, `$'..'` decoded); words not known
    /// statically are shown as written. For a redirect: `[operator, target]`.
    pub argv: Vec<String>,
    /// How it was reached: `""` at top level, else e.g. `bash -c`, `xargs`, `find -exec`.
    pub via: String,
    pub decision: Decision,
    pub rule: String,
    pub reason: String,
    /// Every rule and check that matched (the deciding one is `rule`/`reason`).
    pub hits: Vec<Hit>,
    #[serde(skip)]
    pub(crate) program: String,
    #[serde(skip)]
    pub(crate) args: Vec<Option<String>>,
    #[serde(skip)]
    pub(crate) tail_unknown: bool,
}

/// The result of a check: the overall decision, the deciding rule and reason, every simple
/// command, and findings about the input as a whole (parse errors, limits, invisible chars).
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub decision: Decision,
    pub rule: String,
    pub reason: String,
    pub commands: Vec<CommandEval>,
    pub findings: Vec<Hit>,
}

impl Evaluation {
    /// A few lines for stderr: the decision with its rule and reason, then each command that
    /// is not allow.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "cordon: {} ({}): {}",
            self.decision.as_str(),
            self.rule,
            self.reason
        );
        for f in &self.findings {
            if f.rule != self.rule {
                s.push_str(&format!(
                    "\n  {}: {} ({})",
                    f.decision.as_str(),
                    f.reason,
                    f.rule
                ));
            }
        }
        for c in self
            .commands
            .iter()
            .filter(|c| c.decision > Decision::Allow)
        {
            let argv = unicode::escape(&c.argv.join(" "));
            let via = if c.via.is_empty() {
                String::new()
            } else {
                format!(" [via {}]", c.via)
            };
            s.push_str(&format!(
                "\n  {}: {}{}: {} ({})",
                c.decision.as_str(),
                argv,
                via,
                c.reason,
                c.rule
            ));
        }
        s
    }
}

/// Limits: beyond them the answer is ask (fail closed), never allow.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;
pub const MAX_WRAP_DEPTH: usize = 8;
pub const MAX_TREE_DEPTH: usize = 128;
pub const MAX_COMMANDS: usize = 1024;

/// The checks done in code (named `builtin:NAME` in evaluations), for `cordon policy show`.
pub const CHECKS: &[(&str, &str)] = &[
    ("parse-error", "ask: the input is not valid bash"),
    ("limit-length", "ask: input longer than MAX_INPUT_BYTES (256 KiB)"),
    ("limit-depth", "ask: wrappers nested deeper than 8 (bash -c 'bash -c ...')"),
    ("limit-nesting", "ask: syntax nested deeper than 128"),
    ("limit-commands", "ask: more than 1024 simple commands"),
    ("invisible-char", "ask: zero-width, bidi, tag, control or non-ASCII space characters"),
    ("confusable-name", "ask: non-ASCII program name (homoglyphs)"),
    ("dynamic-program", "ask: the program is a variable or substitution"),
    ("dynamic-wrapper", "ask: bash -c / eval / env -S / xargs -I / python -c of code not known statically"),
    ("code-from-input", "ask: a shell or interpreter reading its program from stdin that is not a literal here-doc"),
    ("env-assignment", "ask: LD_PRELOAD, PATH, GIT_SSH_COMMAND, BASH_ENV, PAGER, ... set"),
    ("git-config-override", "ask: git -c / --config-env / --exec-path / --git-dir / --work-tree"),
    ("curl-pipe-shell", "deny: downloaded code piped, redirected or substituted into a shell or interpreter"),
    ("download-exec", "deny: a file downloaded earlier in the same command is run"),
    ("find-delete-critical", "deny: find -delete / -exec rm under /, a system directory, home, or the whole workspace"),
    ("dd-device / package-publish", "deny: dd of= a device however spelled; publish after options or abbreviated (npm pu)"),
    ("rm-critical", "deny: rm -r of /, a system directory, home, the workspace or an ancestor"),
    ("rm-root", "deny: rm --no-preserve-root"),
    ("rm-dynamic", "ask: rm -r of a path not known statically"),
    ("sed-readonly / sed-script", "allow sed that only prints; ask for -i, -f, e, w, r (options read as sed reads them)"),
    ("awk-readonly / awk-program", "allow awk with -F/-v only and no system(), |, >, getline, @; else ask"),
    ("redirect-*", "writes: /dev/null allow, workspace or /tmp allow, protected path or device deny, elsewhere ask"),
    ("wrapper", "allow: env/timeout/nice/xargs/... themselves; what they run is evaluated"),
];

pub(crate) fn hit(decision: Decision, rule: &str, reason: impl Into<String>) -> Hit {
    Hit {
        decision,
        rule: format!("builtin:{rule}"),
        reason: reason.into(),
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
