//! Loading a policy: the built-in rules (compiled from `builtin.toml`), then rule files and
//! config tables in order, with what an untrusted or managed source may not loosen, and every
//! rule's examples checked against the rule.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error;
use crate::rules::{self, Rule, Subject, Token};
use crate::tool_rules::{self, ToolCall, ToolHit, ToolRule};
use crate::{builtin_rules, Context, Decision, Hit, PolicyError};

/// Rules to load from memory: a policy file's text, or a cordon config file whose `[policy]`
/// table holds the rules (`embedded`). `origin` names it in rule ids and errors.
#[derive(Debug, Clone)]
pub struct Source {
    pub origin: PathBuf,
    pub text: String,
    pub embedded: bool,
    pub loosening: Loosening,
}

/// What to do with the parts of a source that loosen the policy (allow rules,
/// `disable_builtins`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loosening {
    /// Load them (a trusted source).
    Keep,
    /// Leave them out and report them (an untrusted project).
    Drop,
    /// Refuse to load, naming who may only tighten (e.g. "a managed file").
    Refuse(String),
}

impl Source {
    /// A policy file read from disk, loaded as it is.
    pub fn read(path: &Path) -> Result<Source, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Source {
            origin: path.to_path_buf(),
            text,
            embedded: false,
            loosening: Loosening::Keep,
        })
    }
}

pub(crate) const BUILTIN_TOML: &str = include_str!("builtin.toml");

/// A loaded policy: built-in rules (minus those a user file disables), then user rules.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    /// Rules whose program token is a literal, by program name (indices in `rules`).
    by_program: HashMap<String, Vec<usize>>,
    /// Rules whose program token is a glob or alternatives.
    wild: Vec<usize>,
    /// Tool-call rules (`[[tool]]`), in file order.
    tool_rules: Vec<ToolRule>,
}

impl Policy {
    /// The built-in rules only.
    pub fn builtin() -> Policy {
        // builtin.toml, compiled into Rust (builtin_rules.rs) so that no TOML is parsed at each
        // start; unit tests check the file's syntax and examples and keep the two equal.
        Policy::from_rules(builtin_rules::rules())
    }

    /// Built-ins plus the user's files, in order. Every rule's examples must match it and its
    /// counter-examples must not, or the file refuses to load.
    pub fn load(files: &[PathBuf]) -> Result<Policy, PolicyError> {
        let mut sources = Vec::with_capacity(files.len());
        for path in files {
            sources.push(Source::read(path)?);
        }
        Ok(Policy::load_sources(&sources)?.0)
    }

    /// Built-ins plus rules from text already in memory (policy files, or the `[policy]` table
    /// of config files), in order. Returns the policy and, for sources loaded with
    /// [`Loosening::Drop`], what was left out (one description per item).
    pub fn load_sources(sources: &[Source]) -> Result<(Policy, Vec<String>), PolicyError> {
        let builtin = builtin_rules::rules();
        let mut parsed = Vec::new();
        let mut dropped = Vec::new();
        for src in sources {
            let path = &src.origin;
            let mut f = rules::parse_text(path, &src.text, false, src.embedded)?;
            check_examples(path, &f)?;
            if src.loosening != Loosening::Keep {
                let what = |what: String| {
                    match src.loosening {
                    Loosening::Refuse(ref who) => Err(PolicyError::Loosens {
                        message: format!("{what}: {who} can only tighten the policy (deny and ask rules); remove it"),
                    }),
                    _ => Ok(what),
                }
                };
                for (name, off) in f.disable_builtins.drain(..) {
                    let (line, _) = error::line_col(&f.text, off);
                    dropped.push(what(format!(
                        "disable_builtins {name:?} at {}:{line}",
                        path.display()
                    ))?);
                }
                let mut keep = Vec::new();
                for (r, spans) in f.rules.drain(..).zip(f.example_spans.drain(..)) {
                    if r.decision == Decision::Allow {
                        dropped.push(what(format!("allow rule {}", r.id))?);
                    } else {
                        keep.push((r, spans));
                    }
                }
                (f.rules, f.example_spans) = keep.into_iter().unzip();
                let mut keep_tools = Vec::new();
                for r in f.tool_rules.drain(..) {
                    if r.decision == Decision::Allow {
                        dropped.push(what(format!("allow tool rule {}", r.id))?);
                    } else {
                        keep_tools.push(r);
                    }
                }
                f.tool_rules = keep_tools;
            }
            parsed.push((path.clone(), f));
        }
        let mut all = builtin;
        for (path, f) in &parsed {
            for (name, off) in &f.disable_builtins {
                let id = format!("builtin:{name}");
                let before = all.len();
                all.retain(|r| r.id != id);
                if all.len() == before {
                    return Err(error::err_at(
                        path,
                        &f.text,
                        *off,
                        format!("expected the name of a built-in rule, found {name:?} (see `cordon policy show`)"),
                    ));
                }
            }
        }
        let mut tools = Vec::new();
        for (_, f) in parsed {
            all.extend(f.rules);
            tools.extend(f.tool_rules);
        }
        let mut p = Policy::from_rules(all);
        p.tool_rules = tools;
        Ok((p, dropped))
    }

    pub(crate) fn from_rules(rules: Vec<Rule>) -> Policy {
        let mut by_program: HashMap<String, Vec<usize>> = HashMap::new();
        let mut wild = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            // Index by program name: a literal, or alternatives that are all literals.
            match r.command.first() {
                Some(Token::Literal(p)) => by_program.entry(p.clone()).or_default().push(i),
                Some(Token::Any(alts)) if alts.iter().all(|a| a.literal().is_some()) => {
                    for a in alts.iter().filter_map(Token::literal) {
                        let v = by_program.entry(a.to_string()).or_default();
                        if v.last() != Some(&i) {
                            v.push(i);
                        }
                    }
                }
                _ => wild.push(i),
            }
        }
        Policy {
            rules,
            by_program,
            wild,
            tool_rules: Vec::new(),
        }
    }

    /// The tool-call rules (`[[tool]]`), in evaluation order.
    pub fn tool_rules(&self) -> &[ToolRule] {
        &self.tool_rules
    }

    /// Decide a tool call (an MCP `tools/call`, an agent's `mcp__SERVER__TOOL`): the strictest
    /// matching tool rule, or None when no rule matches (the caller's default applies).
    pub fn check_tool(&self, call: &ToolCall) -> Option<ToolHit> {
        tool_rules::decide(&self.tool_rules, call)
    }

    /// The rules in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub(crate) fn rule_hits(&self, s: &Subject, hits: &mut Vec<Hit>) {
        let bucket: &[usize] = self.by_program.get(s.program).map_or(&[], Vec::as_slice);
        // Merge the two sorted index lists (evaluation order) without allocating.
        let (mut a, mut b) = (bucket.iter().peekable(), self.wild.iter().peekable());
        while let Some(&i) = match (a.peek(), b.peek()) {
            (Some(&&x), Some(&&y)) if x <= y => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        } {
            let r = &self.rules[i];
            if r.matches(s) {
                hits.push(Hit {
                    decision: r.decision,
                    rule: r.id.clone(),
                    reason: r.reason.clone(),
                });
            }
        }
    }
}

/// Check a user file's examples against its own rules.
fn check_examples(path: &Path, f: &rules::ParsedFile) -> Result<(), PolicyError> {
    let ctx = Context {
        cwd: PathBuf::from("/work/project"),
        workspace: PathBuf::from("/work/project"),
        home: PathBuf::from("/home/user"),
    };
    // Evaluate examples with an empty policy: we only need the normalized commands.
    let empty = Policy::from_rules(Vec::new());
    for (rule, (ex_offs, cex_offs)) in f.rules.iter().zip(&f.example_spans) {
        let matches_any = |ex: &str| {
            let e = empty.check_shell(ex, &ctx);
            e.commands.iter().filter(|c| c.kind == "command").any(|c| {
                rule.matches(&Subject {
                    program: &c.program,
                    args: &c.args,
                    tail_unknown: c.tail_unknown,
                })
            })
        };
        for (ex, off) in rule.examples.iter().zip(ex_offs) {
            if !matches_any(ex) {
                return Err(error::err_at(
                    path,
                    &f.text,
                    *off,
                    format!("example {ex:?} does not match this rule's command pattern; expected every example to match (fix the pattern or the example)"),
                ));
            }
        }
        for (ex, off) in rule.counter_examples.iter().zip(cex_offs) {
            if matches_any(ex) {
                return Err(error::err_at(
                    path,
                    &f.text,
                    *off,
                    format!("counter-example {ex:?} matches this rule; expected it not to (narrow the pattern or fix the counter-example)"),
                ));
            }
        }
    }
    Ok(())
}

/// Check the built-in rules' examples (used by tests and `cordon policy test`).
pub fn check_builtin_examples() -> Result<usize, PolicyError> {
    let f = rules::parse_file(&rules::builtin_path(), BUILTIN_TOML, true)?;
    check_examples(&rules::builtin_path(), &f)?;
    Ok(f.rules
        .iter()
        .map(|r| r.examples.len() + r.counter_examples.len())
        .sum())
}

/// Check one user file's syntax and examples; returns the number of rules and examples.
pub fn test_file(path: &Path) -> Result<(usize, usize), PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let f = rules::parse_file(path, &text, false)?;
    check_examples(path, &f)?;
    let n = f
        .rules
        .iter()
        .map(|r| r.examples.len() + r.counter_examples.len())
        .sum();
    Ok((f.rules.len(), n))
}
