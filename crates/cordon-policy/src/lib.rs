//! cordon-policy: decide a shell command (or an argv) against a policy: allow / ask / deny,
//! with the rule and the reason for every simple command found.
//!
//! Pure: no I/O except reading policy files in [`Policy::load`]. The shell is parsed with
//! tree-sitter-bash (one parser per thread, reused); every simple command in lists, pipelines,
//! subshells, substitutions, here-docs and wrappers (`bash -c`, `env`, `sudo`, `xargs`,
//! `find -exec`, `eval`, …) is evaluated. Options of the programs cordon knows are read as the
//! program reads them (see `options`). What cannot be known statically asks; limits and
//! parse errors ask; deny wins over ask, ask over allow.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

mod checks;
mod code;
mod glob;
mod options;
// Generated from builtin.toml (see tests.rs); kept as the generator writes it.
#[rustfmt::skip]
mod builtin_rules;
mod rules;
pub mod tool_rules;
pub mod unicode;

use code::Code;
pub use rules::Rule;
use rules::{Subject, Token};
pub use tool_rules::{ToolCall, ToolHit, ToolRule};

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

/// A policy file could not be loaded: where, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A source that may only tighten tried to loosen.
    #[error("{message}")]
    Loosens { message: String },
}

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
    program: String,
    #[serde(skip)]
    args: Vec<Option<String>>,
    #[serde(skip)]
    tail_unknown: bool,
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

const BUILTIN_TOML: &str = include_str!("builtin.toml");

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
                    let (line, _) = rules::line_col(&f.text, off);
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
                    return Err(rules::err_at(
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

    fn from_rules(rules: Vec<Rule>) -> Policy {
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

    /// Decide a shell string (what an agent hands over to `bash -lc`).
    pub fn check_shell(&self, src: &str, ctx: &Context) -> Evaluation {
        let mut ev = Ev::new(self, ctx);
        ev.source(src, 0, "");
        ev.finish()
    }

    /// Decide an argv (`cordon run -- argv`): argv[0] is not shell-parsed, but wrappers in it
    /// (`bash -c`, `env`, `xargs`, …) are unwrapped and what they run is evaluated.
    pub fn check_argv(&self, argv: &[String], ctx: &Context) -> Evaluation {
        let mut ev = Ev::new(self, ctx);
        for a in argv {
            ev.unicode_check(a);
        }
        let words = argv.iter().map(|a| Word::known(a.clone())).collect();
        ev.command(words, Vec::new(), Stdin::default(), 0, "", false);
        ev.finish()
    }

    fn rule_hits(&self, s: &Subject, hits: &mut Vec<Hit>) {
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
                return Err(rules::err_at(
                    path,
                    &f.text,
                    *off,
                    format!("example {ex:?} does not match this rule's command pattern; expected every example to match (fix the pattern or the example)"),
                ));
            }
        }
        for (ex, off) in rule.counter_examples.iter().zip(cex_offs) {
            if matches_any(ex) {
                return Err(rules::err_at(
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

// ------------------------------------------------------------------------------------------
// Words: the static value of a shell word, when there is one.

#[derive(Debug, Clone)]
struct Word {
    text: String,
    /// The value is known statically (no `$x`, `$(..)`, brace expansion, `~user`).
    known: bool,
    /// Unquoted glob characters: the shell will expand it into file names.
    glob: bool,
    /// Contains a substitution that downloads something (`$(curl ..)`, `<(wget ..)`).
    fetch: bool,
}

impl Word {
    fn known(text: String) -> Word {
        Word {
            text,
            known: true,
            glob: false,
            fetch: false,
        }
    }
    /// The value rules see: None when it is not a fixed string.
    fn value(&self) -> Option<String> {
        (self.known && !self.glob).then(|| self.text.clone())
    }
}

#[derive(Default, Clone)]
struct Stdin {
    /// An earlier pipeline stage downloads something.
    fetch: bool,
    /// A here-doc or here-string feeds this text.
    script: Option<String>,
}

thread_local! {
    static PARSER: RefCell<Option<tree_sitter::Parser>> = const { RefCell::new(None) };
}

fn parse(src: &str) -> Option<tree_sitter::Tree> {
    PARSER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut p = tree_sitter::Parser::new();
            p.set_language(&tree_sitter_bash::LANGUAGE.into()).ok()?;
            *slot = Some(p);
        }
        slot.as_mut()?.parse(src, None)
    })
}

fn text<'s>(n: tree_sitter::Node, src: &'s str) -> &'s str {
    src.get(n.byte_range()).unwrap_or("")
}

/// The operator of a file redirection (`>`, `>>`, `<`, `&>`, ...).
fn redirect_op<'s>(r: tree_sitter::Node, src: &'s str) -> &'s str {
    let mut cur = r.walk();
    let op = r
        .children(&mut cur)
        .find(|c| !c.is_named())
        .map_or("", |c| text(c, src));
    op
}

/// The text a here-doc feeds, when it is a literal: a quoted delimiter (`<<'EOF'`) keeps the
/// body as written; an unquoted one expands `$x`, `$(..)` and backquotes in it (then the text
/// is data only known at run time: None) and removes the `\` before `$`, `` ` ``, `\` and a
/// newline (`\$(id)` feeds `$(id)`).
fn heredoc_script(r: tree_sitter::Node, src: &str) -> Option<String> {
    let mut cur = r.walk();
    let mut quoted = false;
    let mut body = None;
    for c in r.named_children(&mut cur) {
        match c.kind() {
            "heredoc_start" => quoted = text(c, src).contains(['\'', '"', '\\']),
            "heredoc_body" => body = Some(c),
            _ => {}
        }
    }
    let raw = body.map_or("", |b| text(b, src));
    if quoted {
        return Some(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' | '`' => return None, // an expansion
            '\\' => match chars.peek() {
                Some('$' | '`' | '\\') => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                Some('\n') => {
                    chars.next();
                }
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    Some(out)
}

const SYSTEM_DIRS: &[&str] = &[
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
];
const FETCHERS: &[&str] = &[
    "curl",
    "wget",
    "aria2c",
    "fetch",
    "http",
    "https",
    "xh",
    "lwp-request",
];

/// Environment variables that change which program runs or what it loads.
fn dangerous_env(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "PATH",
        "BASH_ENV",
        "ENV",
        "PROMPT_COMMAND",
        "SHELLOPTS",
        "BASHOPTS",
        "IFS",
        "PS4",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_EXEC_PATH",
        "GIT_PAGER",
        "GIT_EDITOR",
        "GIT_EXTERNAL_DIFF",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "GIT_PROXY_COMMAND",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "PAGER",
        "MANPAGER",
        "EDITOR",
        "VISUAL",
        "BROWSER",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONHOME",
        "NODE_OPTIONS",
        "NODE_PATH",
        "PERL5LIB",
        "PERL5OPT",
        "PERLLIB",
        "RUBYOPT",
        "RUBYLIB",
        "RUSTC_WRAPPER",
        "RUSTC",
        "RUSTFLAGS",
        "CC",
        "CXX",
        "LESSOPEN",
        "LESSCLOSE",
        "ZDOTDIR",
        "HOME",
        "XDG_CONFIG_HOME",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "MAKEFLAGS",
        "CARGO_BUILD_RUSTC_WRAPPER",
        "TERMINFO",
        "RIPGREP_CONFIG_PATH",
        "GIT_TEMPLATE_DIR",
        "GIT_COMMON_DIR",
        "GIT_ALLOW_PROTOCOL",
        "GIT_SEQUENCE_EDITOR",
        "PYTHONWARNINGS",
    ];
    // GIT_TRACE*: git writes its trace to the file named (`GIT_TRACE=/home/u/.bashrc`).
    const PREFIX: &[&str] = &[
        "LD_",
        "DYLD_",
        "GIT_CONFIG",
        "GIT_TRACE",
        "BASH_FUNC_",
        "CARGO_TARGET_",
    ];
    EXACT.contains(&name) || PREFIX.iter().any(|p| name.starts_with(p))
}

/// The evaluator: walks the tree, collects commands and findings.
struct Ev<'a> {
    policy: &'a Policy,
    ctx: &'a Context,
    /// The current directory as `cd` changes it; None once it is not known statically.
    cwd: Option<PathBuf>,
    out: Vec<CommandEval>,
    findings: Vec<Hit>,
    commands_seen: usize,
    /// What the commands being walked read on stdin when nothing redirects it: what the
    /// enclosing pipeline stage, `( )`, `{ }`, loop or `bash -c` was fed.
    stdin: Stdin,
    /// Files written by a download earlier in the same input (`curl -o f`, `wget URL`,
    /// `curl URL > f`): running one of them is running downloaded code.
    downloads: Vec<PathBuf>,
    /// Downloading commands (`curl`, `wget`, ...) evaluated so far: a pipeline stage or a
    /// redirected body that raised it downloads.
    fetches: usize,
}

fn hit(decision: Decision, rule: &str, reason: impl Into<String>) -> Hit {
    Hit {
        decision,
        rule: format!("builtin:{rule}"),
        reason: reason.into(),
    }
}

impl<'a> Ev<'a> {
    fn new(policy: &'a Policy, ctx: &'a Context) -> Self {
        Ev {
            policy,
            ctx,
            cwd: Some(ctx.cwd.clone()),
            out: Vec::new(),
            findings: Vec::new(),
            commands_seen: 0,
            stdin: Stdin::default(),
            downloads: Vec::new(),
            fetches: 0,
        }
    }

    fn finding(&mut self, h: Hit) {
        if !self
            .findings
            .iter()
            .any(|f| f.rule == h.rule && f.reason == h.reason)
        {
            self.findings.push(h);
        }
    }

    fn finish(self) -> Evaluation {
        let mut best: Option<&Hit> = None;
        for h in self
            .findings
            .iter()
            .chain(self.out.iter().flat_map(|c| c.hits.iter()))
        {
            if best.is_none_or(|b| h.decision > b.decision) {
                best = Some(h);
            }
        }
        let (decision, rule, reason) = match best {
            Some(h) => (h.decision, h.rule.clone(), h.reason.clone()),
            None => (
                Decision::Allow,
                "builtin:empty".to_string(),
                "no command to run".to_string(),
            ),
        };
        // Report the first command that carries the deciding decision, not just any hit.
        let (rule, reason) = self
            .out
            .iter()
            .find(|c| {
                c.decision == decision && !self.findings.iter().any(|f| f.decision == decision)
            })
            .map(|c| (c.rule.clone(), c.reason.clone()))
            .unwrap_or((rule, reason));
        Evaluation {
            decision,
            rule,
            reason,
            commands: self.out,
            findings: self.findings,
        }
    }

    fn unicode_check(&mut self, s: &str) {
        if let Some((c, why)) = unicode::find(s) {
            self.finding(hit(
                Decision::Ask,
                "invisible-char",
                format!(
                    "the command contains a {why} (U+{:04X}): what you read is not what runs: {}",
                    c as u32,
                    unicode::escape(truncate(s, 200))
                ),
            ));
        }
    }

    /// Parse and evaluate a shell string.
    fn source(&mut self, src: &str, depth: usize, via: &str) {
        if depth > MAX_WRAP_DEPTH {
            self.finding(hit(
                Decision::Ask,
                "limit-depth",
                format!("wrappers nested deeper than {MAX_WRAP_DEPTH} levels are not evaluated"),
            ));
            return;
        }
        if src.len() > MAX_INPUT_BYTES {
            self.finding(hit(
                Decision::Ask,
                "limit-length",
                format!(
                    "the command is {} bytes, more than the {MAX_INPUT_BYTES} cordon evaluates",
                    src.len()
                ),
            ));
            return;
        }
        self.unicode_check(src);
        let Some(tree) = parse(src) else {
            self.finding(hit(
                Decision::Ask,
                "parse-error",
                "the shell parser gave up on this command",
            ));
            return;
        };
        let root = tree.root_node();
        if root.has_error() {
            self.finding(hit(
                Decision::Ask,
                "parse-error",
                "the command is not valid bash; what runs cannot be known",
            ));
        }
        self.walk(root, src, depth, via, 0);
    }

    fn limit_nodes(&mut self, level: usize) -> bool {
        if level > MAX_TREE_DEPTH {
            self.finding(hit(
                Decision::Ask,
                "limit-nesting",
                format!("the command nests deeper than {MAX_TREE_DEPTH} levels"),
            ));
            return true;
        }
        false
    }

    fn walk(&mut self, n: tree_sitter::Node, src: &str, depth: usize, via: &str, level: usize) {
        if self.limit_nodes(level) {
            return;
        }
        match n.kind() {
            "command" => self.command_node(n, src, depth, via, self.inherited(), level),
            "redirected_statement" => self.redirected(n, src, depth, via, self.inherited(), level),
            "pipeline" => self.pipeline(n, src, depth, via, level),
            "variable_assignment" => {
                self.assignment(n, src, via);
                if let Some(v) = n.child_by_field_name("value") {
                    self.walk(v, src, depth, via, level + 1);
                }
            }
            "function_definition" => {
                if let Some(b) = n.child_by_field_name("body") {
                    self.walk(b, src, depth, via, level + 1);
                }
            }
            _ => {
                let mut cur = n.walk();
                for c in n.named_children(&mut cur) {
                    self.walk(c, src, depth, via, level + 1);
                }
            }
        }
    }

    /// Stdin as a command inherits it from what encloses it (never a here-doc's script: that
    /// was read by the shell it fed).
    fn inherited(&self) -> Stdin {
        Stdin {
            fetch: self.stdin.fetch,
            script: None,
        }
    }

    /// Evaluate `n` (a compound command: `( )`, `{ }`, a loop) with `stdin` as what its
    /// commands read.
    fn walk_with_stdin(
        &mut self,
        n: tree_sitter::Node,
        src: &str,
        depth: usize,
        via: &str,
        stdin: &Stdin,
        level: usize,
    ) {
        let saved = std::mem::replace(
            &mut self.stdin,
            Stdin {
                fetch: stdin.fetch,
                script: None,
            },
        );
        match n.kind() {
            "command" => self.command_node(n, src, depth, via, stdin.clone(), level),
            "redirected_statement" => self.redirected(n, src, depth, via, stdin.clone(), level),
            _ => self.walk(n, src, depth, via, level),
        }
        self.stdin = saved;
    }

    /// Each stage reads what the stages before it wrote: once one of them downloads, every
    /// later stage is fed downloaded data (`curl x | gunzip | sh`, `curl x | (sh)`,
    /// `curl x | tee >(sh)`). The first stage reads what the pipeline was fed.
    fn pipeline(&mut self, n: tree_sitter::Node, src: &str, depth: usize, via: &str, level: usize) {
        let mut fetch = self.stdin.fetch;
        let mut cur = n.walk();
        let stages: Vec<_> = n.named_children(&mut cur).collect();
        for st in stages {
            let stdin = Stdin {
                fetch,
                script: None,
            };
            let before = self.fetches;
            self.walk_with_stdin(st, src, depth, via, &stdin, level + 1);
            fetch |= self.fetches > before;
        }
    }

    fn assignment(&mut self, n: tree_sitter::Node, src: &str, via: &str) {
        let name = n.child_by_field_name("name").map_or("", |x| text(x, src));
        if dangerous_env(name) {
            let h = hit(
                Decision::Ask,
                "env-assignment",
                format!("setting {name} changes which program runs or what it loads"),
            );
            self.push_entry("command", vec![text(n, src).to_string()], via, vec![h]);
        }
    }

    fn push_entry(&mut self, kind: &'static str, argv: Vec<String>, via: &str, hits: Vec<Hit>) {
        let best = hits.iter().fold(None::<&Hit>, |b, h| match b {
            Some(b) if b.decision >= h.decision => Some(b),
            _ => Some(h),
        });
        let (decision, rule, reason) = match best {
            Some(h) => (h.decision, h.rule.clone(), h.reason.clone()),
            None => (Decision::Allow, String::new(), String::new()),
        };
        self.out.push(CommandEval {
            kind,
            argv,
            via: via.to_string(),
            decision,
            rule,
            reason,
            hits,
            program: String::new(),
            args: Vec::new(),
            tail_unknown: false,
        });
    }

    fn redirected(
        &mut self,
        n: tree_sitter::Node,
        src: &str,
        depth: usize,
        via: &str,
        mut stdin: Stdin,
        level: usize,
    ) {
        let mut cur = n.walk();
        let mut body = None;
        let mut redirects = Vec::new();
        if cur.goto_first_child() {
            loop {
                let c = cur.node();
                match cur.field_name() {
                    Some("body") => body = Some(c),
                    _ if c.is_named() => redirects.push(c),
                    _ => {}
                }
                if !cur.goto_next_sibling() {
                    break;
                }
            }
        }
        // Here-docs, here-strings and `<` feed the body; writes are checked after the body so
        // a `cd` in it is taken into account (tree-sitter attaches `> f` in `cd d && ls > f`
        // to the whole list).
        let (feeds, files): (Vec<_>, Vec<_>) = redirects
            .into_iter()
            .partition(|r| r.kind() != "file_redirect" || redirect_op(*r, src).starts_with('<'));
        for r in feeds {
            self.redirect(r, src, depth, via, &mut stdin, level);
        }
        let before = self.fetches;
        if let Some(b) = body {
            self.walk_with_stdin(b, src, depth, via, &stdin, level + 1);
        }
        // A download saved by a redirection (`curl URL > f`, `curl URL | gunzip > f`), or
        // read by a process substitution (`curl URL > >(sh)`).
        let fetcher = stdin.fetch || self.fetches > before;
        let mut none = Stdin::default();
        let saved = std::mem::replace(
            &mut self.stdin,
            Stdin {
                fetch: fetcher,
                script: None,
            },
        );
        for r in files {
            if let Some(target) = self.redirect(r, src, depth, via, &mut none, level) {
                if fetcher {
                    self.downloaded(&target);
                }
            }
        }
        self.stdin = saved;
    }

    /// A redirection: a write to a file is checked as a write (and its target returned); a
    /// here-doc, here-string or `< file` becomes the command's stdin; substitutions inside
    /// are walked.
    fn redirect(
        &mut self,
        r: tree_sitter::Node,
        src: &str,
        depth: usize,
        via: &str,
        stdin: &mut Stdin,
        level: usize,
    ) -> Option<Word> {
        let mut target = None;
        match r.kind() {
            "file_redirect" => {
                let op = redirect_op(r, src);
                let dest = r.child_by_field_name("destination");
                let writes = matches!(op, ">" | ">>" | ">|" | "&>" | "&>>" | "<>" | ">&" | "&>|");
                if let (true, Some(d)) = (writes, dest) {
                    let w = word(d, src, self.ctx);
                    let is_fd =
                        w.known && (w.text == "-" || w.text.bytes().all(|b| b.is_ascii_digit()));
                    if !(op == ">&" && is_fd) {
                        let h = self.write_check(&w);
                        self.push_entry(
                            "redirect",
                            vec![op.to_string(), w.text.clone()],
                            via,
                            vec![h],
                        );
                        target = Some(w);
                    }
                }
                if let (true, Some(d)) = (matches!(op, "<" | "<>"), dest) {
                    // stdin is now that file (or what `<(cmd)` prints).
                    let w = word(d, src, self.ctx);
                    *stdin = Stdin {
                        fetch: w.fetch,
                        script: None,
                    };
                }
                self.walk_children(r, src, depth, via, level);
            }
            "heredoc_redirect" => {
                stdin.script = heredoc_script(r, src);
                stdin.fetch = false;
                self.walk_children(r, src, depth, via, level);
            }
            "herestring_redirect" => {
                let mut cur = r.walk();
                for c in r.named_children(&mut cur) {
                    let w = word(c, src, self.ctx);
                    // Only a literal is a script cordon can read (`sh <<< "$x"` runs data).
                    stdin.script = w.known.then(|| w.text.clone());
                    stdin.fetch = w.fetch;
                }
                self.walk_children(r, src, depth, via, level);
            }
            _ => self.walk(r, src, depth, via, level + 1),
        }
        target
    }

    fn walk_children(
        &mut self,
        n: tree_sitter::Node,
        src: &str,
        depth: usize,
        via: &str,
        level: usize,
    ) {
        let mut cur = n.walk();
        for c in n.named_children(&mut cur) {
            self.walk(c, src, depth, via, level + 1);
        }
    }

    fn command_node(
        &mut self,
        n: tree_sitter::Node,
        src: &str,
        depth: usize,
        via: &str,
        mut stdin: Stdin,
        level: usize,
    ) {
        let mut argv = Vec::new();
        let mut assigns = Vec::new();
        let mut nested = Vec::new();
        let mut redirects = Vec::new();
        let mut cur = n.walk();
        if cur.goto_first_child() {
            loop {
                let c = cur.node();
                match (cur.field_name(), c.kind()) {
                    (Some("name"), _) => {
                        argv.push(word(c, src, self.ctx));
                        nested.push(c);
                    }
                    (Some("argument"), _) => {
                        argv.push(word(c, src, self.ctx));
                        nested.push(c);
                    }
                    (Some("redirect"), _) => redirects.push(c),
                    (_, "variable_assignment") => {
                        let name = c.child_by_field_name("name").map_or("", |x| text(x, src));
                        assigns.push(name.to_string());
                        if let Some(v) = c.child_by_field_name("value") {
                            nested.push(v);
                        }
                    }
                    (_, "herestring_redirect" | "file_redirect" | "heredoc_redirect") => {
                        redirects.push(c)
                    }
                    _ if c.is_named() => nested.push(c),
                    _ => {}
                }
                if !cur.goto_next_sibling() {
                    break;
                }
            }
        }
        let mut written = Vec::new();
        for r in redirects {
            written.extend(self.redirect(r, src, depth, via, &mut stdin, level));
        }
        let before = self.fetches;
        // Substitutions in the words run with the command's stdin (`tee >(sh)` reads what
        // tee is fed).
        let stdin_fetch = stdin.fetch;
        let saved = std::mem::replace(
            &mut self.stdin,
            Stdin {
                fetch: stdin.fetch,
                script: None,
            },
        );
        self.command(argv, assigns, stdin, depth, via, false);
        for c in nested {
            self.walk(c, src, depth, via, level + 1);
        }
        self.stdin = saved;
        if stdin_fetch || self.fetches > before {
            for w in &written {
                self.downloaded(w);
            }
        }
    }

    /// Evaluate one simple command (and what it wraps).
    fn command(
        &mut self,
        mut argv: Vec<Word>,
        assigns: Vec<String>,
        stdin: Stdin,
        depth: usize,
        via: &str,
        tail_unknown: bool,
    ) {
        self.commands_seen += 1;
        if self.commands_seen > MAX_COMMANDS {
            if self.commands_seen == MAX_COMMANDS + 1 {
                self.finding(hit(
                    Decision::Ask,
                    "limit-commands",
                    format!("more than {MAX_COMMANDS} simple commands; the rest are not evaluated"),
                ));
            }
            return;
        }
        let mut hits = Vec::new();
        for a in &assigns {
            if dangerous_env(a) {
                hits.push(hit(
                    Decision::Ask,
                    "env-assignment",
                    format!("setting {a} changes which program runs or what it loads"),
                ));
            }
        }
        let shown: Vec<String> = argv.iter().map(|w| w.text.clone()).collect();
        if argv.is_empty() {
            if !hits.is_empty() {
                self.push_entry("command", assigns, via, hits);
            }
            return;
        }
        for w in &argv {
            if let Some((c, why)) = unicode::find(&w.text) {
                hits.push(hit(
                    Decision::Ask,
                    "invisible-char",
                    format!(
                        "an argument contains a {why} (U+{:04X}): {}",
                        c as u32,
                        unicode::escape(truncate(&w.text, 200))
                    ),
                ));
            }
        }
        let prog = &argv[0];
        if !prog.known || prog.glob {
            hits.push(hit(
                Decision::Ask,
                "dynamic-program",
                format!(
                    "the program {} is computed at run time; cordon cannot see what runs",
                    prog.text
                ),
            ));
            self.push_entry("command", shown, via, hits);
            return;
        }
        // A file downloaded earlier in this input, run by path (`./install.sh`).
        if prog.text.contains('/') && self.is_download(&prog.text) {
            hits.push(download_exec(&prog.text));
        }
        let mut program = program_name(&prog.text);
        if program == "busybox" && argv.len() > 1 && argv[1].known {
            argv.remove(0);
            program = program_name(&argv[0].text);
        }
        if FETCHERS.contains(&program.rsplit('/').next().unwrap_or(&program)) {
            self.fetches += 1;
        }
        if !program.is_ascii() {
            hits.push(hit(
                Decision::Ask,
                "confusable-name",
                format!(
                    "the program name has non-ASCII characters (homoglyphs?): {}",
                    unicode::escape(&program)
                ),
            ));
        }
        let mut args: Vec<Word> = argv[1..].to_vec();
        let mut transparent = false;

        // git: strip global options so rules see `git SUBCOMMAND ...`; `-c` can run programs.
        if program == "git" {
            let (rest, risky) = git_normalize(&args);
            if let Some(r) = risky {
                hits.push(hit(
                    Decision::Ask,
                    "git-config-override",
                    format!("git {r} can set core.pager, core.sshCommand, alias.* and other keys that run programs, or use a repository whose config does"),
                ));
            }
            args = rest;
        }

        // Wrappers, shells and interpreters: evaluate what they run.
        let inner_via = |name: &str| {
            if via.is_empty() {
                name.to_string()
            } else {
                format!("{via} > {name}")
            }
        };
        match unwrap(&program, &args, tail_unknown) {
            Unwrapped::None => {}
            Unwrapped::Argv {
                argv: inner,
                assigns: inner_assigns,
                tail_unknown: tu,
                chdir,
            } => {
                for a in &inner_assigns {
                    if dangerous_env(a) {
                        hits.push(hit(
                            Decision::Ask,
                            "env-assignment",
                            format!("setting {a} changes which program runs or what it loads"),
                        ));
                    }
                }
                if !inner.is_empty() {
                    transparent = true;
                    let saved = self.cwd.clone();
                    if let Some(d) = chdir {
                        self.cwd = d.value().and_then(|d| self.resolve(&d));
                    }
                    self.command(
                        inner,
                        Vec::new(),
                        stdin.clone(),
                        depth + 1,
                        &inner_via(&program),
                        tu || tail_unknown,
                    );
                    self.cwd = saved;
                }
            }
            Unwrapped::Source(s) => {
                transparent = true;
                self.source_with(&s, &stdin, depth + 1, &inner_via(&program));
            }
            Unwrapped::Dynamic(why, fetch) => dynamic(&mut hits, why, fetch || stdin.fetch),
            Unwrapped::Code(c) => {
                transparent |=
                    self.code(c, &program, &stdin, depth, &inner_via(&program), &mut hits);
            }
        }
        if program == "find" {
            for inner in find_exec(&args) {
                self.command(
                    inner,
                    Vec::new(),
                    stdin.clone(),
                    depth + 1,
                    &inner_via("find -exec"),
                    true,
                );
            }
        }
        if program == "cd" {
            self.cd(&args);
        }

        // Code checks that rules cannot express.
        self.program_checks(&program, &args, &stdin, &mut hits);

        let values = options::rule_view(&program, &args);
        let subject = Subject {
            program: &program,
            args: &values,
            tail_unknown,
        };
        self.policy.rule_hits(&subject, &mut hits);
        if hits.is_empty() {
            if transparent {
                hits.push(hit(
                    Decision::Allow,
                    "wrapper",
                    format!("{program} runs another command, which is evaluated on its own"),
                ));
            } else {
                hits.push(hit(
                    Decision::Ask,
                    "default",
                    format!("no rule knows {program}; commands not known to be read-only need a person's look"),
                ));
            }
        }
        self.push_entry("command", shown, via, hits);
        if let Some(last) = self.out.last_mut() {
            last.program = program;
            last.args = values;
            last.tail_unknown = tail_unknown;
        }
    }

    /// Evaluate a shell string as `bash -c` would, its commands reading `stdin`.
    fn source_with(&mut self, s: &str, stdin: &Stdin, depth: usize, via: &str) {
        let saved = std::mem::replace(
            &mut self.stdin,
            Stdin {
                fetch: stdin.fetch,
                script: None,
            },
        );
        self.source(s, depth, via);
        self.stdin = saved;
    }

    /// What a shell or interpreter runs (see `code::Code`). Returns whether it was evaluated
    /// (the program is then a transparent wrapper).
    fn code(
        &mut self,
        c: Code,
        program: &str,
        stdin: &Stdin,
        depth: usize,
        via: &str,
        hits: &mut Vec<Hit>,
    ) -> bool {
        let is_shell = code::SHELLS.contains(&program) || matches!(program, "source" | ".");
        match c {
            Code::None | Code::Opaque => {}
            Code::Shell(s) => {
                self.source_with(&s, stdin, depth + 1, via);
                return true;
            }
            Code::Dynamic(why, fetch) => dynamic(hits, why, fetch || stdin.fetch),
            Code::File(w) if w.fetch => hits.push(fed_download(program, is_shell)),
            Code::File(w) if w.value().is_none() => dynamic(
                hits,
                format!("{program} runs a script whose name is only known at run time: {}", w.text),
                stdin.fetch,
            ),
            Code::File(w) => {
                if self.is_download(&w.text) {
                    hits.push(download_exec(&w.text));
                }
            }
            Code::Stdin if stdin.fetch => hits.push(fed_download(program, is_shell)),
            Code::Stdin => match &stdin.script {
                Some(s) if is_shell => {
                    let s = s.clone();
                    self.source_with(&s, &Stdin::default(), depth + 1, via);
                    return true;
                }
                Some(_) => {} // a literal program in another language: the rules decide
                None => hits.push(hit(
                    Decision::Ask,
                    "code-from-input",
                    format!("{program} reads its program from standard input (a pipe, a file, the terminal), which cordon cannot see"),
                )),
            },
        }
        false
    }

    fn cd(&mut self, args: &[Word]) {
        let target = args
            .iter()
            .find(|w| !w.text.starts_with('-') || w.text == "-");
        self.cwd = match target {
            None => Some(self.ctx.home.clone()),
            Some(w) if w.known && !w.glob && w.text != "-" => self.resolve(&w.text),
            _ => None,
        };
    }

    fn resolve(&self, p: &str) -> Option<PathBuf> {
        let path = Path::new(p);
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.cwd.as_ref()?.join(path)
        };
        Some(normalize(&abs))
    }

    /// Is this path one that `rm -r` must never delete: `/`, a system directory, the home or
    /// workspace directory, or an ancestor of them?
    fn critical(&self, p: &Path) -> bool {
        const SYS: &[&str] = &[
            "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc",
            "/root", "/sbin", "/srv", "/sys", "/usr", "/var", "/Users", "/System",
        ];
        SYS.iter().any(|s| p == Path::new(s))
            || self.ctx.home.starts_with(p)
            || self.ctx.workspace.starts_with(p)
    }

    fn rm_check(&self, args: &[Word]) -> Option<Hit> {
        let mut recursive = false;
        let mut targets = Vec::new();
        let mut opts_done = false;
        for a in args {
            if !opts_done && a.known && a.text.starts_with('-') && a.text.len() > 1 {
                if a.text == "--" {
                    opts_done = true;
                } else if a.text == "--recursive" {
                    recursive = true;
                } else if a.text == "--no-preserve-root" {
                    return Some(hit(
                        Decision::Deny,
                        "rm-root",
                        "rm --no-preserve-root exists only to delete /",
                    ));
                } else if !a.text.starts_with("--") && a.text.contains(['r', 'R']) {
                    recursive = true;
                }
            } else {
                targets.push(a);
            }
        }
        if !recursive {
            return None;
        }
        for t in targets {
            if !t.known {
                return Some(hit(
                    Decision::Ask,
                    "rm-dynamic",
                    format!("rm -r of {}, a path only known at run time", t.text),
                ));
            }
            let (path, what) = if t.glob {
                // `/*`, `~/*`, `./*`: everything in the directory before the first glob char.
                let cut = t.text.find(['*', '?', '[']).unwrap_or(t.text.len());
                let pre = &t.text[..cut];
                let dir = match pre.rfind('/') {
                    Some(0) => "/".to_string(),
                    Some(i) => pre[..i].to_string(),
                    None => ".".to_string(),
                };
                (self.resolve(&dir), "everything in")
            } else {
                (self.resolve(&t.text), "")
            };
            match path {
                Some(p) if self.critical(&p) => {
                    return Some(hit(
                        Decision::Deny,
                        "rm-critical",
                        format!("rm -r deletes {what} {} (the root, a system directory, your home or the workspace)", p.display()).replace("  ", " "),
                    ))
                }
                None => {
                    return Some(hit(
                        Decision::Ask,
                        "rm-dynamic",
                        format!("rm -r of {} relative to a directory not known statically", t.text),
                    ))
                }
                _ => {}
            }
        }
        None
    }

    /// A write by redirection: harmless sinks, the workspace and /tmp are allow; protected
    /// paths and devices are deny; anywhere else asks.
    fn write_check(&self, w: &Word) -> Hit {
        if !w.known || w.glob {
            return hit(
                Decision::Ask,
                "redirect-dynamic",
                format!("writes to {}, a path only known at run time", w.text),
            );
        }
        let t = w.text.as_str();
        if matches!(t, "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/tty")
            || t.starts_with("/dev/fd/")
        {
            return hit(
                Decision::Allow,
                "redirect-harmless",
                format!("writes to {t}"),
            );
        }
        let Some(p) = self.resolve(t) else {
            return hit(
                Decision::Ask,
                "redirect-dynamic",
                format!("writes to {t} relative to a directory not known statically"),
            );
        };
        if p.starts_with("/dev") {
            return hit(
                Decision::Deny,
                "redirect-device",
                format!("writes to the device {}", p.display()),
            );
        }
        if let Ok(rel) = p.strip_prefix(&self.ctx.workspace) {
            if protected(rel) {
                return hit(
                    Decision::Deny,
                    "redirect-protected",
                    format!("writes to {}, a protected path (code there runs later, outside the sandbox)", p.display()),
                );
            }
            return hit(
                Decision::Allow,
                "redirect-workspace",
                format!("writes to {} inside the workspace", p.display()),
            );
        }
        if p.starts_with("/tmp") {
            return hit(
                Decision::Allow,
                "redirect-workspace",
                format!("writes to {} in the private /tmp", p.display()),
            );
        }
        hit(
            Decision::Ask,
            "redirect-outside",
            format!("writes to {} outside the workspace", p.display()),
        )
    }
}

/// Code only known at run time: ask; deny when what feeds it was downloaded.
fn dynamic(hits: &mut Vec<Hit>, why: String, fetch: bool) {
    if fetch {
        hits.push(hit(
            Decision::Deny,
            "curl-pipe-shell",
            "runs code downloaded from the network without showing it",
        ));
    }
    hits.push(hit(Decision::Ask, "dynamic-wrapper", why));
}

/// A shell or interpreter whose program is a download (`curl .. | sh`, `python3 <(curl ..)`).
fn fed_download(program: &str, is_shell: bool) -> Hit {
    let into = if is_shell {
        "a shell".to_string()
    } else {
        format!("an interpreter ({program})")
    };
    hit(
        Decision::Deny,
        "curl-pipe-shell",
        format!("pipes code downloaded from the network into {into}"),
    )
}

fn download_exec(path: &str) -> Hit {
    hit(
        Decision::Deny,
        "download-exec",
        format!("runs {path}, downloaded earlier in the same command: nobody has seen what it does (download it, read it, then run it in a separate command)"),
    )
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Protected paths inside the workspace (DESIGN.md): writes there persist past the sandbox.
fn protected(rel: &Path) -> bool {
    let s = rel.to_string_lossy();
    const DIRS: &[&str] = &[
        ".git/hooks",
        ".git/info",
        ".cordon",
        ".claude",
        ".codex",
        ".agents",
        ".vscode",
        ".idea",
    ];
    const FILES: &[&str] = &[".git/config", ".gitmodules", ".mcp.json", ".envrc"];
    FILES.iter().any(|f| s == *f) || DIRS.iter().any(|d| rel.starts_with(d))
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(x) => out.push(x),
            _ => {}
        }
    }
    out
}

/// The name rules see: the basename when the program is on a system path or has no slash,
/// else the path as written (so `./git` is not `git`).
fn program_name(p: &str) -> String {
    match p.rfind('/') {
        None => p.to_string(),
        Some(i) => {
            let dir = &p[..i];
            if SYSTEM_DIRS.contains(&dir) {
                p[i + 1..].to_string()
            } else {
                p.to_string()
            }
        }
    }
}

fn has_fetcher(n: tree_sitter::Node, src: &str, ctx: &Context) -> bool {
    let mut stack = vec![n];
    let mut budget = 10_000;
    while let Some(x) = stack.pop() {
        budget -= 1;
        if budget == 0 {
            return true; // too big to inspect: assume the worst
        }
        if x.kind() == "command" {
            let mut cur = x.walk();
            for w in x.named_children(&mut cur).take(4) {
                // Resolve quoting (`c''url`, `$'\x63url'`) before comparing names.
                let t = word_plain(w, src, ctx).text;
                let base = t.rsplit('/').next().unwrap_or(&t);
                if FETCHERS.contains(&base) {
                    return true;
                }
            }
        }
        let mut cur = x.walk();
        stack.extend(x.named_children(&mut cur));
    }
    false
}

enum Unwrapped {
    None,
    /// A command line run as it is (`env X=1 cmd`, `timeout 5 cmd`), in `chdir` if set
    /// (`env -C DIR`).
    Argv {
        argv: Vec<Word>,
        assigns: Vec<String>,
        tail_unknown: bool,
        chdir: Option<Word>,
    },
    /// A shell string (`eval`, `watch`, `trap`, `su -c`).
    Source(String),
    /// Runs something cordon cannot know: why, and whether a substitution downloads.
    Dynamic(String, bool),
    /// A shell or an interpreter.
    Code(Code),
}

/// Skip options of a wrapper: `with_arg` lists options that take a separate argument.
/// Returns the index of the first non-option word. (Only for the privilege wrappers, which
/// are deny whatever they run.)
fn skip_opts(args: &[Word], with_arg: &[&str]) -> usize {
    let mut i = 0;
    while i < args.len() {
        let t = &args[i].text;
        if t == "--" {
            return i + 1;
        }
        if !t.starts_with('-') || t == "-" {
            break;
        }
        if with_arg.contains(&t.as_str()) {
            i += 1;
        }
        i += 1;
    }
    i
}

/// The command line from `args[from..]`, leading `NAME=value` words being assignments.
fn argv_from(args: &[Word], from: usize, tail_unknown: bool, chdir: Option<Word>) -> Unwrapped {
    let mut assigns = Vec::new();
    let mut i = from.min(args.len());
    while i < args.len() && args[i].known && is_assignment(&args[i].text) {
        assigns.push(args[i].text.split('=').next().unwrap_or("").to_string());
        i += 1;
    }
    Unwrapped::Argv {
        argv: args[i..].to_vec(),
        assigns,
        tail_unknown,
        chdir,
    }
}

/// A wrapper whose command starts at its operand number `skip` (0: the first; `timeout`: 1,
/// after the duration), its options read as the program reads them.
fn wrapped(program: &str, spec: &options::Spec, args: &[Word], skip: usize) -> Unwrapped {
    let p = options::parse(spec, args);
    if p.uncertain {
        return uncertain(program, args);
    }
    let first = p.operands().nth(skip);
    match first {
        Some(k) => argv_from(args, k, false, None),
        None => Unwrapped::None,
    }
}

/// Options cordon cannot read: which word is the command is not known.
fn uncertain(program: &str, args: &[Word]) -> Unwrapped {
    Unwrapped::Dynamic(
        format!("{program} is given options cordon cannot read (unknown, or only known at run time): which word is the command is not known"),
        args.iter().any(|a| a.fetch),
    )
}

fn unwrap(program: &str, args: &[Word], tail_unknown: bool) -> Unwrapped {
    match program {
        "env" => unwrap_env(args),
        "sudo" | "doas" | "pkexec" | "run0" => argv_from(
            args,
            skip_opts(
                args,
                &[
                    "-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "--user", "--group",
                ],
            ),
            false,
            None,
        ),
        "xargs" => unwrap_xargs(args),
        "timeout" => wrapped(program, &options::TIMEOUT, args, 1),
        "nice" => wrapped(program, &options::NICE, args, 0),
        "ionice" => {
            let p = options::parse(&options::IONICE, args);
            if p.has('p', "pid") || p.has('P', "pgid") || p.has('u', "uid") {
                Unwrapped::None // changes running processes; runs nothing
            } else {
                wrapped(program, &options::IONICE, args, 0)
            }
        }
        "stdbuf" => wrapped(program, &options::STDBUF, args, 0),
        "setsid" => wrapped(program, &options::SETSID, args, 0),
        "time" => wrapped(program, &options::TIME, args, 0),
        "nohup" => wrapped(program, &options::NOHUP, args, 0),
        "chronic" => wrapped(program, &options::CHRONIC, args, 0),
        "builtin" | "coproc" => argv_from(args, skip_opts(args, &[]), false, None),
        "exec" => wrapped(program, &options::EXEC, args, 0),
        // cordon's own `run`: what it runs is decided (a model writing `cordon run --no-policy
        // -- X` gets X decided); `cordon` itself is no rule's, so it asks.
        "cordon" if args.first().is_some_and(|a| a.known && a.text == "run") => {
            unwrap_cordon_run(&args[1..])
        }
        "command" => {
            let p = options::parse(&options::COMMAND, args);
            if p.has('v', "") || p.has('V', "") {
                Unwrapped::None
            } else {
                wrapped(program, &options::COMMAND, args, 0)
            }
        }
        "watch" => unwrap_watch(args),
        "eval" => join_source(args, "eval of a string only known at run time"),
        "trap" => unwrap_trap(args),
        "su" => match args
            .iter()
            .position(|a| a.text == "-c" || a.text == "--command")
        {
            Some(i) if i + 1 < args.len() => shell_string(&args[i + 1]),
            _ => Unwrapped::None,
        },
        "parallel" | "sem" => Unwrapped::Dynamic(
            "GNU parallel runs commands built from its arguments and its input".into(),
            args.iter().any(|a| a.fetch),
        ),
        "source" | "." => Unwrapped::Code(match args.iter().find(|a| a.text != "--") {
            Some(w) if code::is_stdin_path(w) => Code::Stdin,
            Some(w) => Code::File(w.clone()),
            None => Code::None,
        }),
        p if code::SHELLS.contains(&p) => Unwrapped::Code(code::shell(p, args, tail_unknown)),
        p => match code::interpreter(p, args, tail_unknown) {
            Some(c) => Unwrapped::Code(c),
            None => Unwrapped::None,
        },
    }
}

/// `cordon run [OPTIONS] -- CMD...` or `cordon run [OPTIONS] -c STRING` (clap: exact long
/// options; the command only after `--`).
fn unwrap_cordon_run(args: &[Word]) -> Unwrapped {
    let p = options::parse(&options::CORDON_RUN, args);
    if p.uncertain {
        return uncertain("cordon run", args);
    }
    if let Some(s) = p.values('c', "").last() {
        return shell_string(s);
    }
    let Some(dd) = p
        .items
        .iter()
        .position(|i| matches!(i, options::Item::EndOfOptions))
    else {
        return Unwrapped::None; // nothing to run (clap refuses it)
    };
    let first = p.items[dd..].iter().find_map(|i| match i {
        options::Item::Operand(k) => Some(*k),
        _ => None,
    });
    match first {
        Some(k) => argv_from(args, k, false, None),
        None => Unwrapped::None,
    }
}

/// `env [-i] [-u NAME] [-C DIR] [NAME=VALUE]... [COMMAND]`; `-S STRING` splits a string
/// into the command (not read: ask); a lone `-` is `-i`.
fn unwrap_env(args: &[Word]) -> Unwrapped {
    let p = options::parse(&options::ENV, args);
    if p.has('S', "split-string") {
        let fetch = p.values('S', "split-string").any(|w| w.fetch);
        return Unwrapped::Dynamic("env -S splits a string into a command".into(), fetch);
    }
    if p.uncertain {
        return uncertain("env", args);
    }
    let mut ops = p.operands().peekable();
    if ops
        .peek()
        .is_some_and(|&k| args[k].known && args[k].text == "-")
    {
        ops.next();
    }
    let chdir = p.values('C', "chdir").last().cloned();
    match ops.next() {
        Some(k) => argv_from(args, k, false, chdir),
        None => Unwrapped::None,
    }
}

/// `xargs [OPTIONS] [COMMAND [ARGS]]`: the command gets more arguments from the input;
/// with `-I R` / `-i` / `--replace`, every word containing R is replaced by input.
fn unwrap_xargs(args: &[Word]) -> Unwrapped {
    let p = options::parse(&options::XARGS, args);
    if p.uncertain {
        return uncertain("xargs", args);
    }
    let mut replace: Option<Option<String>> = None;
    for item in &p.items {
        if item.is('I', "") || item.is('i', "replace") {
            replace = Some(match item.value() {
                Some(w) => w.value(),
                None => Some("{}".to_string()),
            });
        }
    }
    let Some(k) = p.operands().next() else {
        return Unwrapped::Argv {
            argv: vec![Word::known("echo".into())],
            assigns: vec![],
            tail_unknown: true,
            chdir: None,
        };
    };
    let mut inner = argv_from(args, k, true, None);
    if let (Some(r), Unwrapped::Argv { argv, .. }) = (replace, &mut inner) {
        for w in argv.iter_mut() {
            // The replace string unknown: any word may be replaced.
            if r.as_deref().is_none_or(|r| w.text.contains(r)) {
                w.known = false;
            }
        }
    }
    inner
}

/// `watch [OPTIONS] COMMAND...`: the words joined and run by `sh -c`, or with `-x` as they are.
fn unwrap_watch(args: &[Word]) -> Unwrapped {
    let p = options::parse(&options::WATCH, args);
    if p.uncertain {
        return uncertain("watch", args);
    }
    let Some(k) = p.operands().next() else {
        return Unwrapped::None;
    };
    if p.has('x', "exec") {
        argv_from(args, k, false, None)
    } else {
        join_source(&args[k..], "watch runs a computed command")
    }
}

/// `trap [-lpP] [ACTION] [SIGNAL...]`: ACTION is shell code (run later, in this shell).
fn unwrap_trap(args: &[Word]) -> Unwrapped {
    let ops: Vec<&Word> = args
        .iter()
        .skip_while(|a| a.known && a.text.starts_with('-') && a.text != "-" && a.text != "--")
        .skip_while(|a| a.known && a.text == "--")
        .collect();
    if args
        .iter()
        .take_while(|a| a.text.starts_with('-'))
        .any(|a| matches!(a.text.as_str(), "-l" | "-p" | "-P"))
        || ops.len() < 2
    {
        return Unwrapped::None;
    }
    let action = ops[0];
    if action.known && (action.text == "-" || action.text.is_empty()) {
        return Unwrapped::None;
    }
    shell_string(action)
}

fn shell_string(w: &Word) -> Unwrapped {
    if w.known {
        Unwrapped::Source(w.text.clone())
    } else {
        Unwrapped::Dynamic(
            format!("runs a shell string only known at run time: {}", w.text),
            w.fetch,
        )
    }
}

fn join_source(args: &[Word], why: &str) -> Unwrapped {
    if args.iter().all(|a| a.known) {
        Unwrapped::Source(
            args.iter()
                .map(|a| a.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
    } else {
        Unwrapped::Dynamic(why.to_string(), args.iter().any(|a| a.fetch))
    }
}

fn is_assignment(t: &str) -> bool {
    match t.find('=') {
        Some(i) if i > 0 => t[..i]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        _ => false,
    }
}

/// Drop git's global options (git.c matches them exactly: no abbreviations); report the first
/// one that can make git run a program: `-c`, `--config-env`, `--exec-path`, and
/// `--git-dir`/`--work-tree` (like `GIT_DIR`: a repository elsewhere, whose config and hooks
/// run).
fn git_normalize(args: &[Word]) -> (Vec<Word>, Option<String>) {
    let mut i = 0;
    let mut risky = None;
    while i < args.len() {
        let t = args[i].text.as_str();
        if !t.starts_with('-') {
            break;
        }
        let name = t.split('=').next().unwrap_or(t);
        let separate = !t.contains('=');
        match name {
            "-c" | "--config-env" | "--exec-path" | "--git-dir" | "--work-tree" => {
                risky.get_or_insert_with(|| t.to_string());
                if separate && name != "--exec-path" {
                    i += 1;
                }
            }
            "-C" | "--namespace" | "--super-prefix" | "--attr-source" | "--shallow-file"
                if separate =>
            {
                i += 1
            }
            _ => {}
        }
        i += 1;
    }
    (args[i.min(args.len())..].to_vec(), risky)
}

/// The commands that `find -exec/-execdir/-ok/-okdir ... ;` runs (`{}` is a run-time word).
fn find_exec(args: &[Word]) -> Vec<Vec<Word>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if matches!(
            args[i].text.as_str(),
            "-exec" | "-execdir" | "-ok" | "-okdir"
        ) {
            let mut inner = Vec::new();
            i += 1;
            while i < args.len() && args[i].text != ";" && args[i].text != "+" {
                let mut w = args[i].clone();
                if w.text.contains("{}") {
                    w.known = false;
                }
                inner.push(w);
                i += 1;
            }
            if !inner.is_empty() {
                out.push(inner);
            }
        }
        i += 1;
    }
    out
}

/// Like `word`, without looking for downloads inside substitutions.
fn word_plain(n: tree_sitter::Node, src: &str, ctx: &Context) -> Word {
    let mut w = Word::known(String::new());
    word_into(n, src, ctx, &mut w, 0, false);
    w
}

/// The static value of a word node, or its source text marked unknown.
fn word(n: tree_sitter::Node, src: &str, ctx: &Context) -> Word {
    let mut w = Word {
        text: String::new(),
        known: true,
        glob: false,
        fetch: false,
    };
    word_into(n, src, ctx, &mut w, 0, true);
    w
}

fn word_into(
    n: tree_sitter::Node,
    src: &str,
    ctx: &Context,
    w: &mut Word,
    level: usize,
    scan: bool,
) {
    let raw = text(n, src);
    if level > 32 {
        w.known = false;
        w.text.push_str(raw);
        return;
    }
    match n.kind() {
        "word" | "number" => {
            let mut chars = raw.chars().peekable();
            let at_start = w.text.is_empty();
            if at_start && (raw == "~" || raw.starts_with("~/")) {
                w.text.push_str(&ctx.home.to_string_lossy());
                chars.next();
            } else if at_start && raw.starts_with('~') {
                w.known = false; // ~user
            }
            let mut brace = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(nc) = chars.next() {
                            if nc != '\n' {
                                w.text.push(nc);
                            }
                        }
                    }
                    '*' | '?' | '[' => {
                        w.glob = true;
                        w.text.push(c);
                    }
                    '{' => {
                        brace = true;
                        w.text.push(c);
                    }
                    ',' | '.' if brace => {
                        // `{a,b}` or `{1..3}`: brace expansion changes the words.
                        w.known = false;
                        w.text.push(c);
                    }
                    _ => w.text.push(c),
                }
            }
        }
        "command_name" => {
            let mut cur = n.walk();
            let kids: Vec<_> = n.named_children(&mut cur).collect();
            if kids.len() == 1 {
                word_into(kids[0], src, ctx, w, level + 1, scan);
            } else {
                w.known = false;
                w.text.push_str(raw);
            }
        }
        "raw_string" => {
            w.text.push_str(
                raw.strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .unwrap_or(raw),
            );
        }
        "ansi_c_string" => {
            let inner = raw
                .strip_prefix("$'")
                .and_then(|s| s.strip_suffix('\''))
                .unwrap_or(raw);
            w.text.push_str(&ansi_c_decode(inner));
        }
        "string" | "translated_string" => {
            let start = n.start_byte();
            let open = if raw.starts_with('$') { 2 } else { 1 };
            let inner_start = start + open.min(raw.len());
            let inner_end = n.end_byte().saturating_sub(1).max(inner_start);
            let mut pos = inner_start;
            let mut cur = n.walk();
            for c in n.named_children(&mut cur) {
                if c.kind() == "string_content" {
                    continue;
                }
                if c.start_byte() > pos {
                    push_dq(src.get(pos..c.start_byte().min(inner_end)).unwrap_or(""), w);
                }
                word_into(c, src, ctx, w, level + 1, scan);
                pos = c.end_byte();
            }
            if pos < inner_end {
                push_dq(src.get(pos..inner_end).unwrap_or(""), w);
            }
        }
        "concatenation" => {
            let mut cur = n.walk();
            let kids: Vec<_> = n.children(&mut cur).collect();
            let mut pos = n.start_byte();
            for c in kids {
                if c.start_byte() > pos {
                    w.text.push_str(src.get(pos..c.start_byte()).unwrap_or(""));
                }
                word_into(c, src, ctx, w, level + 1, scan);
                pos = c.end_byte();
            }
        }
        "simple_expansion" | "expansion" => {
            let name = raw
                .trim_start_matches('$')
                .trim_start_matches('{')
                .trim_end_matches('}');
            match name {
                "HOME" => w.text.push_str(&ctx.home.to_string_lossy()),
                "PWD" => w.text.push_str(&ctx.cwd.to_string_lossy()),
                _ => {
                    w.known = false;
                    w.text.push_str(raw);
                }
            }
        }
        "command_substitution" | "process_substitution" => {
            w.known = false;
            // `scan` is off while has_fetcher itself resolves names: no quadratic re-scans.
            w.fetch |= scan && has_fetcher(n, src, ctx);
            w.text.push_str(raw);
        }
        _ => {
            w.known = false;
            w.text.push_str(raw);
        }
    }
}

/// Literal text inside double quotes: only `\$ \` \" \\ \newline` are escapes.
fn push_dq(s: &str, w: &mut Word) {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('$' | '`' | '"' | '\\') => {
                    if let Some(n) = chars.next() {
                        w.text.push(n);
                    }
                }
                Some('\n') => {
                    chars.next();
                }
                _ => w.text.push('\\'),
            }
        } else {
            w.text.push(c);
        }
    }
}

/// Decode bash's `$'...'` escapes.
fn ansi_c_decode(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let hex = |chars: &mut std::iter::Peekable<std::str::Chars>, max: usize| {
        let mut v = 0u32;
        let mut n = 0;
        while n < max {
            match chars.peek().and_then(|c| c.to_digit(16)) {
                Some(d) => {
                    v = v * 16 + d;
                    chars.next();
                    n += 1;
                }
                None => break,
            }
        }
        (v, n)
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'e' | 'E' => out.push('\x1b'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\\' | '\'' | '"' | '?' => out.push(e),
            'x' => {
                let (v, _) = hex(&mut chars, 2);
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            'u' | 'U' => {
                let (v, _) = hex(&mut chars, if e == 'u' { 4 } else { 8 });
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            'c' => {
                if let Some(x) = chars.next() {
                    out.push(char::from_u32((x as u32) & 0x1f).unwrap_or('\u{fffd}'));
                }
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
