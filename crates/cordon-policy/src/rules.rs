//! Policy rules: the TOML schema, its validation (with line and column), and matching.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{err_at, line_col, PatternError};
use crate::glob;
use crate::{Decision, PolicyError};

/// One token of a pattern: a string (literal, or a glob if it contains `*?[`) or alternatives.
#[derive(Debug, Clone)]
pub enum Token {
    Literal(String),
    Glob(String),
    Any(Vec<Token>),
}

impl Token {
    fn from_str(s: &str) -> Token {
        if glob::is_glob(s) {
            Token::Glob(s.to_string())
        } else {
            Token::Literal(s.to_string())
        }
    }

    pub fn matches(&self, word: &str) -> bool {
        match self {
            Token::Literal(l) => l == word,
            Token::Glob(g) => glob::matches(g, word),
            Token::Any(alts) => alts.iter().any(|t| t.matches(word)),
        }
    }

    pub fn literal(&self) -> Option<&str> {
        match self {
            Token::Literal(l) => Some(l),
            _ => None,
        }
    }

    fn show(&self) -> String {
        match self {
            Token::Literal(l) | Token::Glob(l) => l.clone(),
            Token::Any(alts) => {
                let v: Vec<String> = alts.iter().map(|t| t.show()).collect();
                format!("{{{}}}", v.join("|"))
            }
        }
    }
}

/// Where a rule comes from: `builtin:NAME` or `path:line`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub name: Option<String>,
    pub decision: Decision,
    pub command: Vec<Token>,
    pub args_any: Vec<Token>,
    pub args_all: Vec<Token>,
    pub args_none: Vec<Token>,
    pub exact: bool,
    pub reason: String,
    pub examples: Vec<String>,
    pub counter_examples: Vec<String>,
}

/// The view of a simple command that rules see: a normalized program name and its arguments.
/// `None` arguments are words whose value is not known statically (`$x`, `$(...)`, globs).
pub struct Subject<'a> {
    pub program: &'a str,
    pub args: &'a [Option<String>],
    /// More arguments arrive at run time (`xargs`, `find -exec ... {}`).
    pub tail_unknown: bool,
}

impl Rule {
    /// Does this rule apply to the command? Unknown words never satisfy a token, and make
    /// `args_none` unprovable (so an allow rule with exclusions does not apply: fail closed).
    pub fn matches(&self, s: &Subject) -> bool {
        let Some(first) = self.command.first() else {
            return false;
        };
        if !first.matches(s.program) {
            return false;
        }
        let prefix = &self.command[1..];
        if s.args.len() < prefix.len() {
            return false;
        }
        for (tok, arg) in prefix.iter().zip(s.args) {
            match arg {
                Some(a) if tok.matches(a) => {}
                _ => return false,
            }
        }
        let rest = &s.args[prefix.len()..];
        if self.exact && (!rest.is_empty() || s.tail_unknown) {
            return false;
        }
        if !self.args_any.is_empty() {
            let hit = rest
                .iter()
                .flatten()
                .any(|a| self.args_any.iter().any(|t| t.matches(a)));
            if !hit {
                return false;
            }
        }
        for need in &self.args_all {
            if !rest.iter().flatten().any(|a| need.matches(a)) {
                return false;
            }
        }
        if !self.args_none.is_empty() {
            if s.tail_unknown || rest.iter().any(|a| a.is_none()) {
                return false;
            }
            if rest
                .iter()
                .flatten()
                .any(|a| self.args_none.iter().any(|t| t.matches(a)))
            {
                return false;
            }
        }
        true
    }

    /// One line for `cordon policy show`.
    pub fn show(&self) -> String {
        let mut s = format!(
            "{:<5} {:<40} {}",
            self.decision.as_str(),
            self.id,
            self.command
                .iter()
                .map(|t| t.show())
                .collect::<Vec<_>>()
                .join(" ")
        );
        if self.exact {
            s.push_str(" (exactly)");
        }
        let list = |v: &[Token]| v.iter().map(|t| t.show()).collect::<Vec<_>>().join(", ");
        if !self.args_any.is_empty() {
            s.push_str(&format!(" with any of [{}]", list(&self.args_any)));
        }
        if !self.args_all.is_empty() {
            s.push_str(&format!(" with all of [{}]", list(&self.args_all)));
        }
        if !self.args_none.is_empty() {
            s.push_str(&format!(" without [{}]", list(&self.args_none)));
        }
        s.push_str(&format!("\n      reason: {}", self.reason));
        s
    }
}

// ---- the TOML schema ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    disable_builtins: Vec<Spanned<String>>,
    #[serde(default)]
    rule: Vec<RuleToml>,
    /// Tool-call rules (tool_rules.rs).
    #[serde(default)]
    tool: Vec<crate::tool_rules::ToolRuleToml>,
}

/// The `[policy]` table of a cordon config file: the same rules, plus `files` (read by
/// cordon-config, ignored here). Other top-level keys of the config file are not looked at.
#[derive(Deserialize)]
struct ConfigToml {
    #[serde(default)]
    policy: Option<ConfigPolicyToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigPolicyToml {
    #[serde(default)]
    disable_builtins: Vec<Spanned<String>>,
    #[serde(default)]
    rule: Vec<RuleToml>,
    #[serde(default)]
    tool: Vec<crate::tool_rules::ToolRuleToml>,
    #[serde(default)]
    #[allow(dead_code)]
    files: serde::de::IgnoredAny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    name: Option<String>,
    decision: Spanned<String>,
    command: Spanned<Vec<TokenToml>>,
    #[serde(default)]
    args_any: Vec<TokenToml>,
    #[serde(default)]
    args_all: Vec<TokenToml>,
    #[serde(default)]
    args_none: Vec<TokenToml>,
    #[serde(default)]
    exact: bool,
    reason: Spanned<String>,
    #[serde(default)]
    examples: Vec<Spanned<String>>,
    #[serde(default)]
    counter_examples: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TokenToml {
    Str(String),
    Table(TokenTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenTable {
    any: Option<Vec<String>>,
    glob: Option<String>,
}

impl TokenToml {
    fn to_token(&self) -> Result<Token, PatternError> {
        match self {
            TokenToml::Str(s) if s.is_empty() => Err(PatternError::EmptyToken),
            TokenToml::Str(s) => Ok(Token::from_str(s)),
            TokenToml::Table(t) => match (&t.any, &t.glob) {
                (Some(alts), None) if !alts.is_empty() => Ok(Token::Any(
                    alts.iter().map(|a| Token::from_str(a)).collect(),
                )),
                (None, Some(g)) => Ok(Token::Glob(g.clone())),
                _ => Err(PatternError::Shape),
            },
        }
    }
}

/// A parsed policy file, before its examples are checked.
pub struct ParsedFile {
    pub rules: Vec<Rule>,
    pub tool_rules: Vec<crate::tool_rules::ToolRule>,
    pub disable_builtins: Vec<(String, usize)>,
    /// For each rule: byte offsets of its examples and counter-examples (for error positions).
    pub example_spans: Vec<(Vec<usize>, Vec<usize>)>,
    pub text: String,
}

/// Parse one policy file's text. `id_prefix` is `builtin` for the embedded rules (ids become
/// `builtin:NAME`), otherwise rule ids are `path:line`.
pub fn parse_file(path: &Path, text: &str, builtin: bool) -> Result<ParsedFile, PolicyError> {
    parse_text(path, text, builtin, false)
}

/// Like [`parse_file`]; with `embedded`, the rules are the `[policy]` table of a cordon config
/// file (`[[policy.rule]]`, `policy.disable_builtins`).
pub fn parse_text(
    path: &Path,
    text: &str,
    builtin: bool,
    embedded: bool,
) -> Result<ParsedFile, PolicyError> {
    let syntax = |e: toml::de::Error| {
        let off = e.span().map_or(0, |s| s.start);
        err_at(path, text, off, e.message().trim().to_string())
    };
    let file: FileToml = if embedded {
        let c: ConfigToml = toml::from_str(text).map_err(syntax)?;
        match c.policy {
            Some(p) => FileToml {
                disable_builtins: p.disable_builtins,
                rule: p.rule,
                tool: p.tool,
            },
            None => FileToml {
                disable_builtins: Vec::new(),
                rule: Vec::new(),
                tool: Vec::new(),
            },
        }
    } else {
        toml::from_str(text).map_err(syntax)?
    };
    let tool_rules = crate::tool_rules::parse(path, text, file.tool)?;
    let mut rules = Vec::with_capacity(file.rule.len());
    let mut example_spans = Vec::with_capacity(file.rule.len());
    for r in file.rule {
        let decision = match r.decision.get_ref().as_str() {
            "allow" => Decision::Allow,
            "ask" => Decision::Ask,
            "deny" => Decision::Deny,
            other => {
                return Err(err_at(
                    path,
                    text,
                    r.decision.span().start,
                    format!("expected decision = \"allow\", \"ask\" or \"deny\", found {other:?}"),
                ))
            }
        };
        let cmd_span = r.command.span().start;
        if r.command.get_ref().is_empty() {
            return Err(err_at(
                path,
                text,
                cmd_span,
                "expected at least one token in command (the program name)",
            ));
        }
        let conv = |v: &[TokenToml]| -> Result<Vec<Token>, PolicyError> {
            v.iter()
                .map(|t| {
                    t.to_token()
                        .map_err(|m| err_at(path, text, cmd_span, m.to_string()))
                })
                .collect()
        };
        let command = conv(r.command.get_ref())?;
        if r.reason.get_ref().trim().is_empty() {
            return Err(err_at(
                path,
                text,
                r.reason.span().start,
                "expected a non-empty reason (it is shown to the person who reads the decision)",
            ));
        }
        let id = if builtin {
            match &r.name {
                Some(n) => format!("builtin:{n}"),
                None => {
                    return Err(err_at(path, text, cmd_span, "built-in rules need a name"));
                }
            }
        } else {
            // (Counting lines from the top for each rule is quadratic; the built-ins, parsed
            // at every start, are named instead.)
            let (line, _) = line_col(text, cmd_span);
            format!("{}:{}", path.display(), line)
        };
        example_spans.push((
            r.examples.iter().map(|e| e.span().start).collect(),
            r.counter_examples.iter().map(|e| e.span().start).collect(),
        ));
        rules.push(Rule {
            id,
            name: r.name,
            decision,
            command,
            args_any: conv(&r.args_any)?,
            args_all: conv(&r.args_all)?,
            args_none: conv(&r.args_none)?,
            exact: r.exact,
            reason: r.reason.into_inner(),
            examples: r.examples.into_iter().map(|e| e.into_inner()).collect(),
            counter_examples: r
                .counter_examples
                .into_iter()
                .map(|e| e.into_inner())
                .collect(),
        });
    }
    Ok(ParsedFile {
        rules,
        tool_rules,
        disable_builtins: file
            .disable_builtins
            .into_iter()
            .map(|s| {
                let off = s.span().start;
                (s.into_inner(), off)
            })
            .collect(),
        example_spans,
        text: text.to_string(),
    })
}

pub fn builtin_path() -> PathBuf {
    PathBuf::from("builtin.toml")
}

/// Rust source that builds `rules` without parsing (`builtin_rules.rs` is this, for the
/// embedded `builtin.toml`; a unit test keeps the two equal).
#[cfg(test)]
pub(crate) fn render_rust(rules: &[Rule]) -> String {
    fn tok(t: &Token) -> String {
        match t {
            Token::Literal(l) => format!("L({l:?})"),
            Token::Glob(g) => format!("G({g:?})"),
            Token::Any(a) => format!("A(vec![{}])", toks(a)),
        }
    }
    fn toks(v: &[Token]) -> String {
        v.iter().map(tok).collect::<Vec<_>>().join(", ")
    }
    fn strs(v: &[String]) -> String {
        v.iter()
            .map(|x| format!("S({x:?})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
    let header = [
        "// @generated from builtin.toml by",
        "// `CORDON_REGEN_BUILTIN=1 cargo test -p cordon-policy generated_builtin_rules`.",
        "// Do not edit: edit builtin.toml, then regenerate (a unit test keeps the two equal).",
        "",
        "use crate::rules::{Rule, Token};",
        "use crate::Decision;",
        "",
        "#[allow(non_snake_case)]",
        "fn S(s: &str) -> String {",
        "    s.to_string()",
        "}",
        "",
        "#[allow(non_snake_case)]",
        "fn L(s: &str) -> Token {",
        "    Token::Literal(s.to_string())",
        "}",
        "",
        "#[allow(non_snake_case, dead_code)]",
        "fn G(s: &str) -> Token {",
        "    Token::Glob(s.to_string())",
        "}",
        "",
        "#[allow(non_snake_case, dead_code)]",
        "fn A(v: Vec<Token>) -> Token {",
        "    Token::Any(v)",
        "}",
        "",
        "/// The built-in rules, as `builtin.toml` defines them.",
        "#[allow(clippy::too_many_lines)] // data: one entry per rule",
        "pub(crate) fn rules() -> Vec<Rule> {",
        "    vec![",
    ];
    let mut o = header.join("\n");
    o.push('\n');
    for r in rules {
        o.push_str("        Rule {\n");
        o.push_str(&format!("            id: S({:?}),\n", r.id));
        o.push_str(&format!(
            "            name: {},\n",
            match &r.name {
                Some(n) => format!("Some(S({n:?}))"),
                None => "None".into(),
            }
        ));
        o.push_str(&format!(
            "            decision: Decision::{:?},\n",
            r.decision
        ));
        o.push_str(&format!(
            "            command: vec![{}],\n",
            toks(&r.command)
        ));
        o.push_str(&format!(
            "            args_any: vec![{}],\n",
            toks(&r.args_any)
        ));
        o.push_str(&format!(
            "            args_all: vec![{}],\n",
            toks(&r.args_all)
        ));
        o.push_str(&format!(
            "            args_none: vec![{}],\n",
            toks(&r.args_none)
        ));
        o.push_str(&format!("            exact: {},\n", r.exact));
        o.push_str(&format!("            reason: S({:?}),\n", r.reason));
        o.push_str(&format!(
            "            examples: vec![{}],\n",
            strs(&r.examples)
        ));
        o.push_str(&format!(
            "            counter_examples: vec![{}],\n",
            strs(&r.counter_examples)
        ));
        o.push_str("        },\n");
    }
    o.push_str("    ]\n}\n");
    o
}
