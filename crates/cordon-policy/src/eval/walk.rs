//! The syntax tree: lists, pipelines, subshells, `{ }`, loops, functions, substitutions and
//! redirections, and what each command reads on stdin (a pipeline stage what the stages before
//! it wrote, a compound command what it was fed, `< <(..)` and here-docs what they feed).

use std::cell::RefCell;

use super::{Ev, Stdin};
use crate::vars::dangerous_env;
use crate::words::word;
use crate::{hit, Decision, Word, MAX_INPUT_BYTES, MAX_TREE_DEPTH, MAX_WRAP_DEPTH};

thread_local! {
    static PARSER: RefCell<Option<tree_sitter::Parser>> = const { RefCell::new(None) };
}

/// Parse with this thread's tree-sitter-bash parser (made once, reused).
pub(crate) fn parse(src: &str) -> Option<tree_sitter::Tree> {
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

/// The source text of a node.
pub(crate) fn text<'s>(n: tree_sitter::Node, src: &'s str) -> &'s str {
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

impl Ev<'_> {
    /// Parse and evaluate a shell string.
    pub(crate) fn source(&mut self, src: &str, depth: usize, via: &str) {
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

    pub(crate) fn limit_nodes(&mut self, level: usize) -> bool {
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

    pub(crate) fn walk(
        &mut self,
        n: tree_sitter::Node,
        src: &str,
        depth: usize,
        via: &str,
        level: usize,
    ) {
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
    pub(crate) fn inherited(&self) -> Stdin {
        Stdin {
            fetch: self.stdin.fetch,
            script: None,
        }
    }

    /// Evaluate `n` (a compound command: `( )`, `{ }`, a loop) with `stdin` as what its
    /// commands read.
    pub(crate) fn walk_with_stdin(
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
    pub(crate) fn pipeline(
        &mut self,
        n: tree_sitter::Node,
        src: &str,
        depth: usize,
        via: &str,
        level: usize,
    ) {
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

    pub(crate) fn assignment(&mut self, n: tree_sitter::Node, src: &str, via: &str) {
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

    pub(crate) fn redirected(
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
    pub(crate) fn redirect(
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

    pub(crate) fn walk_children(
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

    pub(crate) fn command_node(
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
}
