//! Tool-call rules: allow / ask / deny an agent's or an MCP client's call of a tool, by server,
//! tool name and argument patterns. One schema for the MCP gateway (`cordon mcp wrap`: the
//! wrapped server's `--name` and the tool) and for agents' hooks (`mcp__SERVER__TOOL`).
//!
//! ```toml
//! [[tool]]                                   # [[policy.tool]] in a config file
//! decision = "deny"                          # allow | ask | deny
//! server = "filesystem"                      # optional (default: any); a glob or { any = [...] }
//! tool = { any = ["write_file", "edit_file"] }
//! args = { path = "~/.ssh/*" }               # optional: every entry must match
//! reason = "keys stay out of reach"
//! examples = [{ server = "filesystem", tool = "write_file", args = { path = "~/.ssh/x" } }]
//! counter_examples = [{ server = "filesystem", tool = "write_file", args = { path = "/tmp/x" } }]
//! ```
//!
//! An `args` key is a top-level argument name, a JSON pointer (`/edits/0/path`), or `*` (every
//! value anywhere in the arguments). A value is matched as text: strings as they are, numbers
//! and booleans as JSON, arrays element by element. Globs: `*` any characters (`/` too), `?`,
//! `[..]`; a leading `~/` is the home directory. Values that contain `/` are also matched in
//! their lexically normalized form (`/a/./b/../c` is `/a/c`). Fail closed: a deny or ask rule
//! matches when **any** value of the argument matches; an allow rule only when **every** value
//! does (an array with one path outside the pattern is not allowed by it).

use serde::Deserialize;
use toml::Spanned;

use crate::error::PatternError;
use crate::error::{err_at, line_col};
use crate::glob;
use crate::{Decision, PolicyError};

/// A text pattern: glob or alternatives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Glob(String),
    Any(Vec<String>),
}

impl Pattern {
    fn matches(&self, text: &str, home: &str) -> bool {
        let one = |p: &str| match p.strip_prefix("~/") {
            Some(rest) if !home.is_empty() => {
                glob::matches(&format!("{}/{rest}", home.trim_end_matches('/')), text)
            }
            _ if p == "~" && !home.is_empty() => text == home,
            _ => glob::matches(p, text),
        };
        match self {
            Pattern::Glob(p) => one(p),
            Pattern::Any(v) => v.iter().any(|p| one(p)),
        }
    }

    fn show(&self) -> String {
        match self {
            Pattern::Glob(p) => format!("{p:?}"),
            Pattern::Any(v) => format!("any of {v:?}"),
        }
    }
}

/// One tool rule.
#[derive(Debug, Clone)]
pub struct ToolRule {
    /// `path:line` of the rule.
    pub id: String,
    pub name: Option<String>,
    pub decision: Decision,
    pub server: Option<Pattern>,
    pub tool: Pattern,
    pub args: Vec<(String, Pattern)>,
    pub reason: String,
}

/// A tool call to decide. `arg` returns the text values of an argument key (see the module
/// docs), or None when the arguments have no such key.
pub struct ToolCall<'a> {
    pub server: &'a str,
    pub tool: &'a str,
    pub arg: &'a dyn Fn(&str) -> Option<Vec<String>>,
    /// The home directory, for `~/` in patterns.
    pub home: &'a str,
}

/// The decision on a tool call: the strictest matching rule. `rule` is `path:line`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ToolHit {
    pub decision: Decision,
    pub rule: String,
    pub reason: String,
}

/// `a/./b//c/../d` → `a/b/d` (lexically; `..` above the root stays at the root).
pub fn normalize(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let j = out.join("/");
    if abs {
        format!("/{j}")
    } else {
        j
    }
}

impl ToolRule {
    pub fn matches(&self, c: &ToolCall) -> bool {
        if let Some(s) = &self.server {
            if !s.matches(c.server, "") {
                return false;
            }
        }
        if !self.tool.matches(c.tool, "") {
            return false;
        }
        let strict = self.decision != Decision::Allow;
        self.args.iter().all(|(key, pat)| {
            let Some(values) = (c.arg)(key) else {
                return false;
            };
            let mut cands = Vec::with_capacity(values.len() * 2);
            for v in &values {
                cands.push(v.clone());
                if v.contains('/') {
                    let n = normalize(v);
                    if &n != v {
                        cands.push(n);
                    }
                }
            }
            if strict {
                cands.iter().any(|v| pat.matches(v, c.home))
            } else {
                !cands.is_empty() && cands.iter().all(|v| pat.matches(v, c.home))
            }
        })
    }

    /// One line for `cordon policy show`.
    pub fn show(&self) -> String {
        let mut s = format!(
            "{} {}: tool {}",
            self.id,
            self.decision.as_str(),
            self.tool.show()
        );
        if let Some(sv) = &self.server {
            s.push_str(&format!(" of server {}", sv.show()));
        }
        for (k, p) in &self.args {
            s.push_str(&format!(" with {k} {}", p.show()));
        }
        s.push_str(&format!("\n      reason: {}", self.reason));
        s
    }
}

/// The strictest of the rules that match (deny over ask over allow; the first of equals).
pub fn decide(rules: &[ToolRule], c: &ToolCall) -> Option<ToolHit> {
    let mut best: Option<&ToolRule> = None;
    for r in rules.iter().filter(|r| r.matches(c)) {
        if best.is_none_or(|b| r.decision > b.decision) {
            best = Some(r);
        }
    }
    best.map(|r| ToolHit {
        decision: r.decision,
        rule: r.id.clone(),
        reason: r.reason.clone(),
    })
}

// ---- TOML ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ToolRuleToml {
    name: Option<String>,
    decision: Spanned<String>,
    #[serde(default)]
    server: Option<PatternToml>,
    tool: Spanned<PatternToml>,
    #[serde(default)]
    args: toml::Table,
    reason: Spanned<String>,
    #[serde(default)]
    examples: Vec<Spanned<ExampleToml>>,
    #[serde(default)]
    counter_examples: Vec<Spanned<ExampleToml>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PatternToml {
    Str(String),
    Table(PatternTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternTable {
    any: Option<Vec<String>>,
    glob: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExampleToml {
    #[serde(default)]
    server: String,
    tool: String,
    #[serde(default)]
    args: toml::Table,
}

fn pattern(p: &PatternToml) -> Result<Pattern, PatternError> {
    match p {
        PatternToml::Str(s) if s.is_empty() => Err(PatternError::EmptyPattern),
        PatternToml::Str(s) => Ok(Pattern::Glob(s.clone())),
        PatternToml::Table(PatternTable {
            any: Some(v),
            glob: None,
        }) if !v.is_empty() && v.iter().all(|s| !s.is_empty()) => Ok(Pattern::Any(v.clone())),
        PatternToml::Table(PatternTable {
            any: None,
            glob: Some(g),
        }) if !g.is_empty() => Ok(Pattern::Glob(g.clone())),
        _ => Err(PatternError::Shape),
    }
}

/// The text values of `key` in TOML arguments (examples), by the same rules as JSON ones.
fn toml_values(args: &toml::Table, key: &str) -> Option<Vec<String>> {
    fn leaves(v: &toml::Value, out: &mut Vec<String>) {
        match v {
            toml::Value::String(s) => out.push(s.clone()),
            toml::Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
            toml::Value::Table(t) => t.values().for_each(|x| leaves(x, out)),
            other => out.push(other.to_string()),
        }
    }
    let mut out = Vec::new();
    if key == "*" {
        args.values().for_each(|v| leaves(v, &mut out));
        return Some(out);
    }
    let v = match key.strip_prefix('/') {
        None => args.get(key)?,
        Some(ptr) => {
            let mut parts = ptr.split('/');
            let first = parts.next()?;
            let mut cur = args.get(first)?;
            for p in parts {
                cur = match cur {
                    toml::Value::Table(t) => t.get(p)?,
                    toml::Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
                    _ => return None,
                };
            }
            cur
        }
    };
    leaves(v, &mut out);
    Some(out)
}

pub(crate) fn parse(
    path: &std::path::Path,
    text: &str,
    rules: Vec<ToolRuleToml>,
) -> Result<Vec<ToolRule>, PolicyError> {
    let mut out = Vec::with_capacity(rules.len());
    for r in rules {
        let at = |off: usize, m: String| err_at(path, text, off, m);
        let tool_off = r.tool.span().start;
        let decision = match r.decision.get_ref().as_str() {
            "allow" => Decision::Allow,
            "ask" => Decision::Ask,
            "deny" => Decision::Deny,
            other => {
                return Err(at(
                    r.decision.span().start,
                    format!("expected decision = \"allow\", \"ask\" or \"deny\", found {other:?}"),
                ))
            }
        };
        if r.reason.get_ref().trim().is_empty() {
            return Err(at(
                r.reason.span().start,
                "expected a non-empty reason (it is shown to the model and the person who reads the decision)".into(),
            ));
        }
        let tool = pattern(r.tool.get_ref()).map_err(|m| at(tool_off, format!("tool: {m}")))?;
        let server = match &r.server {
            Some(p) => Some(pattern(p).map_err(|m| at(tool_off, format!("server: {m}")))?),
            None => None,
        };
        let mut args = Vec::new();
        for (k, v) in &r.args {
            let p = match v {
                toml::Value::String(s) => PatternToml::Str(s.clone()),
                toml::Value::Table(t) => PatternToml::Table(
                    t.clone()
                        .try_into()
                        .map_err(|e| at(tool_off, format!("args.{k}: {e}")))?,
                ),
                _ => {
                    return Err(at(
                        tool_off,
                        format!(
                            "args.{k}: expected a string, {{ any = [..] }} or {{ glob = \"..\" }}"
                        ),
                    ))
                }
            };
            args.push((
                k.clone(),
                pattern(&p).map_err(|m| at(tool_off, format!("args.{k}: {m}")))?,
            ));
        }
        let (line, _) = line_col(text, tool_off);
        let rule = ToolRule {
            id: format!("{}:{}", path.display(), line),
            name: r.name,
            decision,
            server,
            tool,
            args,
            reason: r.reason.into_inner(),
        };
        // Examples must match, counter-examples must not (home: none, so `~/` is literal).
        for (list, want) in [(&r.examples, true), (&r.counter_examples, false)] {
            for ex in list {
                let e = ex.get_ref();
                let arg = |k: &str| toml_values(&e.args, k);
                let call = ToolCall {
                    server: &e.server,
                    tool: &e.tool,
                    arg: &arg,
                    home: "~",
                };
                if rule.matches(&call) != want {
                    return Err(at(
                        ex.span().start,
                        format!(
                            "{} {}/{} {} this tool rule",
                            if want { "example" } else { "counter-example" },
                            e.server,
                            e.tool,
                            if want { "does not match" } else { "matches" }
                        ),
                    ));
                }
            }
        }
        out.push(rule);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(src: &str) -> Result<Vec<ToolRule>, PolicyError> {
        #[derive(Deserialize)]
        struct F {
            tool: Vec<ToolRuleToml>,
        }
        let f: F = toml::from_str(src).unwrap();
        parse(std::path::Path::new("t.toml"), src, f.tool)
    }

    fn call(
        rs: &[ToolRule],
        server: &str,
        tool: &str,
        args: &[(&str, &[&str])],
    ) -> Option<Decision> {
        let arg = |k: &str| {
            args.iter()
                .find(|(n, _)| *n == k || (k == "*"))
                .map(|(_, v)| v.iter().map(|s| s.to_string()).collect())
        };
        decide(
            rs,
            &ToolCall {
                server,
                tool,
                arg: &arg,
                home: "/home/u",
            },
        )
        .map(|h| h.decision)
    }

    #[test]
    fn server_tool_args() {
        let rs = rules(
            r#"
[[tool]]
decision = "deny"
server = "fs*"
tool = { any = ["write_file", "edit_file"] }
args = { path = "~/.ssh/*" }
reason = "keys"
examples = [{ server = "fs", tool = "write_file", args = { path = "~/.ssh/id" } }]
counter_examples = [{ server = "git", tool = "write_file", args = { path = "~/.ssh/id" } }]

[[tool]]
decision = "allow"
tool = "read_*"
args = { paths = "/work/*" }
reason = "the work tree"
"#,
        )
        .unwrap();
        assert_eq!(
            call(&rs, "fs", "write_file", &[("path", &["/home/u/.ssh/x"])]),
            Some(Decision::Deny)
        );
        // Lexical normalization closes `..` detours.
        assert_eq!(
            call(
                &rs,
                "fs",
                "write_file",
                &[("path", &["/tmp/../home/u/.ssh/x"])]
            ),
            Some(Decision::Deny)
        );
        assert_eq!(
            call(&rs, "fs", "write_file", &[("path", &["/tmp/x"])]),
            None
        );
        assert_eq!(call(&rs, "fs", "write_file", &[]), None);
        // Allow needs every value to match; deny any.
        assert_eq!(
            call(&rs, "x", "read_many", &[("paths", &["/work/a", "/work/b"])]),
            Some(Decision::Allow)
        );
        assert_eq!(
            call(
                &rs,
                "x",
                "read_many",
                &[("paths", &["/work/a", "/etc/shadow"])]
            ),
            None
        );
        assert_eq!(
            call(
                &rs,
                "x",
                "read_many",
                &[("paths", &["/work/../etc/shadow"])]
            ),
            None
        );
    }

    #[test]
    fn bad_rules_are_refused_with_position() {
        let e =
            rules("[[tool]]\ndecision = \"maybe\"\ntool = \"x\"\nreason = \"r\"\n").unwrap_err();
        assert!(e.to_string().contains("t.toml:2:"), "{e}");
        let e = rules("[[tool]]\ndecision = \"deny\"\ntool = \"x\"\nreason = \"r\"\nexamples = [{ tool = \"y\" }]\n").unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
        let e = rules(
            "[[tool]]\ndecision = \"deny\"\ntool = \"x\"\nargs = { a = 1 }\nreason = \"r\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("args.a"), "{e}");
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize("/a/./b//c/../d"), "/a/b/d");
        assert_eq!(normalize("/../../etc"), "/etc");
        assert_eq!(normalize("a/../../b"), "../b");
    }
}
