//! Git's configuration format, read the way git reads it (config.c `git_parse_source`), for two
//! uses:
//!
//! - after a run, a config the command created or changed is accepted only when every key in it
//!   is one that git itself writes or that only holds data ([`is_data_key`]); anything else
//!   (`core.fsmonitor`, `alias.*`, `include.path`, `filter.*`, a key this module does not know)
//!   is neutralised. An allowlist, because the list of keys that run something keeps growing
//!   (`hook.<name>.command` arrived in 2.4x);
//! - before a run, the existing (trusted) configs are read for the keys that name a hooks
//!   directory or a command ([`command_paths`]): when those lie inside a writable root they are
//!   protected like `.git/hooks`.
//!
//! The parser is faithful rather than lenient: what git would read differently (a backslash at
//! the end of a line continues the value; `[core] fsmonitor = x` on the header's line is a key;
//! `[remote.origin]` is the old spelling of `[remote "origin"]`) is read as git reads it, and
//! what git refuses is an error (which, after a run, counts as suspicious).

/// One `section[.subsection].key = value`. Section and key are lower case (git compares them
/// case-insensitively); the subsection keeps its case. `value` is None for a bare `key` (true).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub section: String,
    pub subsection: Option<String>,
    pub key: String,
    pub value: Option<String>,
    pub line: usize,
}

impl Entry {
    pub fn name(&self) -> String {
        match &self.subsection {
            Some(s) => format!("{}.{}.{}", self.section, s, self.key),
            None => format!("{}.{}", self.section, self.key),
        }
    }
}

struct P<'a> {
    b: &'a [u8],
    i: usize,
    line: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }
}

/// Parses a config file. Errors carry the 1-based line.
pub fn parse(text: &[u8]) -> Result<Vec<Entry>, String> {
    let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
    // get_next_char: CR LF reads as LF.
    let mut b = Vec::with_capacity(text.len());
    for (i, c) in text.iter().enumerate() {
        if !(*c == b'\r' && text.get(i + 1) == Some(&b'\n')) {
            b.push(*c);
        }
    }
    let mut p = P {
        b: &b,
        i: 0,
        line: 1,
    };
    let mut out = Vec::new();
    let mut section: Option<(String, Option<String>)> = None;
    loop {
        let Some(c) = p.next() else { return Ok(out) };
        match c {
            c if is_space(c) => continue,
            b'#' | b';' => {
                while let Some(c) = p.next() {
                    if c == b'\n' {
                        break;
                    }
                }
            }
            b'[' => section = Some(header(&mut p)?),
            c if c.is_ascii_alphabetic() => {
                let line = p.line;
                let mut key = vec![c.to_ascii_lowercase()];
                while let Some(c) = p.peek() {
                    if c.is_ascii_alphanumeric() || c == b'-' {
                        key.push(c.to_ascii_lowercase());
                        p.next();
                    } else {
                        break;
                    }
                }
                while matches!(p.peek(), Some(b' ') | Some(b'\t')) {
                    p.next();
                }
                let value = match p.peek() {
                    None | Some(b'\n') => None,
                    Some(b'=') => {
                        p.next();
                        Some(value(&mut p)?)
                    }
                    _ => return Err(format!("line {line}: bad key")),
                };
                let Some((s, sub)) = &section else {
                    return Err(format!("line {line}: a key outside any section"));
                };
                out.push(Entry {
                    section: s.clone(),
                    subsection: sub.clone(),
                    key: String::from_utf8_lossy(&key).into_owned(),
                    value,
                    line,
                });
            }
            _ => return Err(format!("line {}: unexpected character", p.line)),
        }
    }
}

/// `[section]`, `[section "sub"]`, or the old `[section.sub]` (whose subsection is lower-cased).
fn header(p: &mut P<'_>) -> Result<(String, Option<String>), String> {
    let line = p.line;
    let mut name = Vec::new();
    loop {
        match p.next() {
            Some(b']') => break,
            Some(c) if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' => {
                name.push(c.to_ascii_lowercase())
            }
            Some(c) if is_space(c) && c != b'\n' => {
                while p.peek().is_some_and(|c| is_space(c) && c != b'\n') {
                    p.next();
                }
                if p.next() != Some(b'"') {
                    return Err(format!("line {line}: bad section header"));
                }
                let mut sub = Vec::new();
                loop {
                    match p.next() {
                        None | Some(b'\n') => {
                            return Err(format!("line {line}: unterminated subsection"))
                        }
                        Some(b'"') => break,
                        Some(b'\\') => match p.next() {
                            None | Some(b'\n') => {
                                return Err(format!("line {line}: unterminated subsection"))
                            }
                            Some(c) => sub.push(c),
                        },
                        Some(c) => sub.push(c),
                    }
                }
                if p.next() != Some(b']') {
                    return Err(format!("line {line}: bad section header"));
                }
                let name = String::from_utf8_lossy(&name).into_owned();
                let sub = String::from_utf8_lossy(&sub).into_owned();
                if name.is_empty() {
                    return Err(format!("line {line}: bad section name"));
                }
                // `[a.b "c"]` is the variable a.b.c.KEY: section a, subsection "b.c".
                return Ok(match name.split_once('.') {
                    Some((s, rest)) => (s.to_string(), Some(format!("{rest}.{sub}"))),
                    None => (name, Some(sub)),
                });
            }
            _ => return Err(format!("line {line}: bad section header")),
        }
    }
    let name = String::from_utf8_lossy(&name).into_owned();
    if name.is_empty() {
        return Err(format!("line {line}: empty section name"));
    }
    Ok(match name.split_once('.') {
        Some((s, sub)) => (s.to_string(), Some(sub.to_string())),
        None => (name, None),
    })
}

/// `isspace` in the C locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// A value after `=`, as `parse_value` in config.c: quotes, escapes (`\n \t \b \\ \"`; any
/// other is an error), backslash-newline continuation, comments outside quotes, blanks inside
/// kept as they are and trailing ones dropped.
fn value(p: &mut P<'_>) -> Result<String, String> {
    let line = p.line;
    let mut out: Vec<u8> = Vec::new();
    let mut quoted = false;
    let mut comment = false;
    let mut trim_len = 0usize;
    loop {
        let c = p.next().unwrap_or(b'\n');
        if c == b'\n' {
            if quoted {
                return Err(format!("line {line}: newline in a quoted value"));
            }
            if trim_len > 0 {
                out.truncate(trim_len);
            }
            return Ok(String::from_utf8_lossy(&out).into_owned());
        }
        if comment {
            continue;
        }
        if is_space(c) && !quoted {
            if trim_len == 0 {
                trim_len = out.len();
            }
            if !out.is_empty() {
                out.push(c);
            }
            continue;
        }
        if !quoted && (c == b'#' || c == b';') {
            comment = true;
            continue;
        }
        trim_len = 0;
        match c {
            b'\\' => match p.next() {
                Some(b'\n') => continue,
                Some(b't') => out.push(b'\t'),
                Some(b'b') => out.push(0x08),
                Some(b'n') => out.push(b'\n'),
                Some(b'\\') => out.push(b'\\'),
                Some(b'"') => out.push(b'"'),
                _ => return Err(format!("line {line}: bad escape in a value")),
            },
            b'"' => quoted = !quoted,
            c => out.push(c),
        }
    }
}

/// `core.*` keys that only hold data. Not: fsmonitor, hookspath, pager, editor, sshcommand,
/// gitproxy, askpass, alternaterefscommand (each runs something).
const CORE_DATA: &[&str] = &[
    "repositoryformatversion",
    "filemode",
    "bare",
    "logallrefupdates",
    "worktree",
    "ignorecase",
    "precomposeunicode",
    "symlinks",
    "hidedotfiles",
    "protecthfs",
    "protectntfs",
    "fsmonitorhookversion",
    "trustctime",
    "splitindex",
    "untrackedcache",
    "checkstat",
    "quotepath",
    "eol",
    "safecrlf",
    "autocrlf",
    "checkroundtripencoding",
    "ignorestat",
    "prefersymlinkrefs",
    "alternaterefsprefixes",
    "lockfilepid",
    "sharedrepository",
    "warnambiguousrefs",
    "compression",
    "loosecompression",
    "packedgitwindowsize",
    "packedgitlimit",
    "deltabasecachelimit",
    "bigfilethreshold",
    "excludesfile",
    "attributesfile",
    "commentchar",
    "commentstring",
    "filesreflocktimeout",
    "packedrefstimeout",
    "configlocktimeout",
    "whitespace",
    "fsync",
    "fsyncmethod",
    "fsyncobjectfiles",
    "preloadindex",
    "unsetenvvars",
    "createobject",
    "notesref",
    "commitgraph",
    "usereplacerefs",
    "multipackindex",
    "sparsecheckout",
    "sparsecheckoutcone",
    "abbrev",
    "maxtreedepth",
    "longpaths",
    "fscache",
    "restrictinheritedhandles",
];

/// Sections whose every key (with or without a subsection) only holds data: settings of git's
/// own behaviour, nothing it executes.
const DATA_SECTIONS: &[&str] = &[
    "extensions",
    "user",
    "init",
    "gc",
    "maintenance",
    "pack",
    "index",
    "status",
    "log",
    "color",
    "advice",
    "column",
    "rerere",
    "stash",
    "versionsort",
    "checkout",
    "clone",
    "feature",
    "fsck",
    "fetch",
    "pull",
    "push",
    "receive",
    "notes",
    "blame",
    "am",
    "apply",
    "grep",
    "i18n",
    "mailmap",
    "mailinfo",
    "splitindex",
    "sparse",
    "worktree",
    "fastimport",
    "promisor",
    "reftable",
    "repack",
    "replay",
    "revert",
    "showbranch",
    "transfer",
    "commitgraph",
    "bitmappseudomerge",
    "add",
    "clean",
    "lsrefs",
    "attr",
    "http",
    "lfs",
    "safe",
    "commit",
    "tag",
    "rebase",
    "pretty",
    "format",
    "bundle",
    "url",
    "fsmonitor",
    "ssh",
];

/// Git's own transports (`protocol.<name>.allow`); `ext` runs a command, and `protocol.allow`
/// would allow it.
const PROTOCOLS: &[&str] = &["file", "git", "http", "https", "ssh"];

/// A URL that makes git run a command: `ext::` (a shell command) and `fd::`.
fn url_runs_something(v: &str) -> bool {
    let l = v.trim_start().to_ascii_lowercase();
    l.starts_with("ext::") || l.starts_with("fd::")
}

/// Is this key one git writes itself, or one that only holds data? (See the module comment; the
/// README lists what is in and out.)
pub fn is_data_key(e: &Entry) -> bool {
    let v = e.value.as_deref().unwrap_or("");
    let sub = e.subsection.is_some();
    let k = e.key.as_str();
    match e.section.as_str() {
        "core" => !sub && CORE_DATA.contains(&k),
        "remote" => match k {
            "url" | "pushurl" => !url_runs_something(v),
            "fetch" | "push" | "mirror" | "tagopt" | "prune" | "prunetags" | "promisor"
            | "partialclonefilter" | "skipdefaultupdate" | "skipfetchall" | "followremotehead"
            | "serveroption" | "proxy" | "proxyauthmethod" => true,
            _ => false,
        },
        "branch" => matches!(
            k,
            "remote" | "merge" | "rebase" | "pushremote" | "description" | "mergeoptions"
        ),
        "submodule" => match (sub, k) {
            (true, "url") => !url_runs_something(v),
            (true, "update") => matches!(v, "checkout" | "rebase" | "merge" | "none"),
            (true, "active" | "branch" | "fetchrecursesubmodules" | "ignore" | "shallow") => true,
            (false, _) => matches!(
                k,
                "active"
                    | "recurse"
                    | "fetchjobs"
                    | "propagatebranches"
                    | "alternatelocation"
                    | "alternateerrorstrategy"
            ),
            _ => false,
        },
        // Without a subsection: diff/merge options. With one: a driver (a command).
        "diff" => !sub && k != "external",
        "merge" => !sub,
        "protocol" => match &e.subsection {
            Some(p) => k == "allow" && PROTOCOLS.contains(&p.as_str()),
            None => k == "version",
        },
        // `git lfs install --local` writes exactly these.
        "filter" => {
            e.subsection.as_deref() == Some("lfs")
                && match k {
                    "clean" => v == "git-lfs clean -- %f",
                    "smudge" => v == "git-lfs smudge -- %f",
                    "process" => v == "git-lfs filter-process",
                    "required" => true,
                    _ => false,
                }
        }
        s => DATA_SECTIONS.contains(&s),
    }
}

/// The keys of a config that are not [`is_data_key`]; Err when git would not read the file.
pub fn suspicious_keys(text: &[u8]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = parse(text)?
        .iter()
        .filter(|e| !is_data_key(e))
        .map(Entry::name)
        .collect();
    out.dedup();
    Ok(out)
}

/// What an existing config names that git runs or reads as code, for protecting the parts that
/// lie in a writable root.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Named {
    /// `core.hooksPath` values (a directory; relative to the work tree's top).
    pub hooks_paths: Vec<String>,
    /// Paths mentioned by command-valued keys (the first word, and any word with a `/`).
    pub command_words: Vec<String>,
    /// `include.path` and `includeIf.*.path` values (relative to the config file's directory).
    pub includes: Vec<String>,
    /// `extensions.worktreeConfig` is true: `config.worktree` files are read.
    pub worktree_config: bool,
}

/// Keys whose value is a command git runs (through the shell, from the work tree's top).
fn is_command_key(e: &Entry) -> bool {
    let k = e.key.as_str();
    match (e.section.as_str(), e.subsection.is_some()) {
        ("core", false) => matches!(
            k,
            "fsmonitor"
                | "pager"
                | "editor"
                | "sshcommand"
                | "gitproxy"
                | "askpass"
                | "alternaterefscommand"
        ),
        ("sequence", false) => k == "editor",
        ("pager", _) | ("alias", _) => true,
        ("diff", false) => k == "external",
        ("diff", true) => matches!(k, "command" | "textconv"),
        ("difftool" | "mergetool" | "man" | "browser" | "guitool", true) => {
            matches!(k, "cmd" | "path")
        }
        ("merge", true) => k == "driver",
        ("filter", true) => matches!(k, "clean" | "smudge" | "process"),
        ("credential", _) => k == "helper",
        ("gpg", _) => matches!(k, "program" | "defaultkeycommand"),
        ("remote", true) => matches!(k, "uploadpack" | "receivepack"),
        ("submodule", true) => k == "update",
        ("hook", true) => k == "command",
        ("trailer", true) => matches!(k, "command" | "cmd"),
        ("tar", true) => k == "command",
        ("interactive", false) => k == "difffilter",
        ("sendemail", _) => matches!(k, "sendmailcmd" | "smtpserver" | "tocmd" | "cccmd"),
        ("imap", false) => k == "tunnel",
        ("uploadpack", false) => k == "packobjectshook",
        ("web", false) => k == "browser",
        ("instaweb", false) => k == "httpd",
        _ => false,
    }
}

/// Reads an existing config for what it names (see [`Named`]); a file git would refuse gives
/// what could be read before the error.
pub fn named(text: &[u8]) -> Named {
    let entries = match parse(text) {
        Ok(e) => e,
        Err(_) => parse_prefix(text),
    };
    let mut n = Named::default();
    for e in &entries {
        let Some(v) = e.value.as_deref() else {
            if e.section == "extensions" && e.key == "worktreeconfig" {
                n.worktree_config = true;
            }
            continue;
        };
        match (e.section.as_str(), e.key.as_str()) {
            ("core", "hookspath") if e.subsection.is_none() => n.hooks_paths.push(v.to_string()),
            ("include", "path") | ("includeif", "path") => n.includes.push(v.to_string()),
            ("extensions", "worktreeconfig") => {
                n.worktree_config =
                    matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1")
            }
            _ => {}
        }
        if is_command_key(e) {
            // `!cmd` (aliases, submodule.update) is a shell command; a bool fsmonitor is not.
            let cmd = v.strip_prefix('!').unwrap_or(v);
            if e.section == "core"
                && e.key == "fsmonitor"
                && matches!(cmd.to_ascii_lowercase().as_str(), "true" | "false" | "")
            {
                continue;
            }
            for (i, w) in cmd.split_whitespace().enumerate() {
                let w = w.trim_matches(|c| c == '"' || c == '\'');
                if (i == 0 && !w.is_empty()) || w.contains('/') {
                    n.command_words.push(w.to_string());
                }
            }
        }
    }
    n
}

/// The entries before the first line git would refuse.
fn parse_prefix(text: &[u8]) -> Vec<Entry> {
    let mut end = text.len();
    while end > 0 {
        end = text[..end].iter().rposition(|b| *b == b'\n').unwrap_or(0);
        if let Ok(e) = parse(&text[..end]) {
            return e;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(t: &str) -> Vec<String> {
        parse(t.as_bytes())
            .unwrap()
            .iter()
            .map(Entry::name)
            .collect()
    }

    #[test]
    fn reads_what_git_writes() {
        let init = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n";
        assert!(suspicious_keys(init.as_bytes()).unwrap().is_empty());
        let clone = "[core]\n\trepositoryformatversion = 0\n[remote \"origin\"]\n\turl = https://example.com/x.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n[branch \"main\"]\n\tremote = origin\n\tmerge = refs/heads/main\n";
        assert!(suspicious_keys(clone.as_bytes()).unwrap().is_empty());
        let sub = "[core]\n\tworktree = ../../../sub\n[submodule \"sub\"]\n\turl = ../sub\n\tactive = true\n";
        assert!(suspicious_keys(sub.as_bytes()).unwrap().is_empty());
        let test_suite = "[user]\n\tname = A\n\temail = a@example.com\n[protocol \"file\"]\n\tallow = always\n[receive]\n\tdenyCurrentBranch = ignore\n";
        assert!(suspicious_keys(test_suite.as_bytes()).unwrap().is_empty());
    }

    #[test]
    fn flags_what_runs() {
        for (t, want) in [
            ("[core]\n\tfsmonitor = touch /tmp/x\n", "core.fsmonitor"),
            ("[core]\n\thooksPath = .githooks\n", "core.hookspath"),
            ("[alias]\n\tst = status\n", "alias.st"),
            ("[include]\n\tpath = ../x\n", "include.path"),
            (
                "[includeIf \"gitdir:/\"]\n\tpath = x\n",
                "includeif.gitdir:/.path",
            ),
            ("[filter \"x\"]\n\tclean = ./c.sh\n", "filter.x.clean"),
            (
                "[filter \"lfs\"]\n\tclean = sh -c evil\n",
                "filter.lfs.clean",
            ),
            (
                "[hook \"a\"]\n\tcommand = x\n\tevent = pre-commit\n",
                "hook.a.command",
            ),
            ("[diff]\n\texternal = x\n", "diff.external"),
            ("[diff \"pdf\"]\n\ttextconv = x\n", "diff.pdf.textconv"),
            ("[remote \"o\"]\n\turl = ext::sh -c x\n", "remote.o.url"),
            ("[remote \"o\"]\n\tuploadpack = x\n", "remote.o.uploadpack"),
            ("[submodule \"s\"]\n\tupdate = !x\n", "submodule.s.update"),
            ("[protocol]\n\tallow = always\n", "protocol.allow"),
            (
                "[protocol \"ext\"]\n\tallow = always\n",
                "protocol.ext.allow",
            ),
            ("[credential]\n\thelper = x\n", "credential.helper"),
            ("[sequence]\n\teditor = x\n", "sequence.editor"),
            ("[trailer \"x\"]\n\tcommand = x\n", "trailer.x.command"),
            ("[somethingnew]\n\tx = y\n", "somethingnew.x"),
            // Old spelling of [core "..."]: still core's subsection form, which git reads as
            // core.<sub>.key: not a core data key.
            ("[Core.X]\n\tbare = 1\n", "core.x.bare"),
            // On the header's line, and after a continuation.
            ("[core] fsmonitor = x\n", "core.fsmonitor"),
            (
                "[core]\n\tbare = false \\\n\n\tfsmonitor = x\n",
                "core.fsmonitor",
            ),
        ] {
            let got = suspicious_keys(t.as_bytes()).unwrap();
            assert!(got.contains(&want.to_string()), "{t:?}: {got:?}");
        }
    }

    #[test]
    fn parses_like_git() {
        assert_eq!(names("[a \"B c\"]\nK = v\n"), vec!["a.B c.k"]);
        let e = parse(b"[a]\n k = \"x # y\" ; c\n k2 = a\\tb\\\n c\n k3\n").unwrap();
        assert_eq!(e[0].value.as_deref(), Some("x # y"));
        assert_eq!(e[1].value.as_deref(), Some("a\tb c"));
        assert_eq!(e[2].value, None);
        assert!(parse(b"k = v\n").is_err());
        assert!(parse(b"[a]\nk = \"open\n").is_err());
        assert!(parse(b"[a]\nk = \\q\n").is_err());
        assert!(parse(b"[a]\n=x\n").is_err());
        // A BOM and CRLF line ends are fine.
        assert_eq!(names("\u{feff}[a]\r\nk = v\r\n"), vec!["a.k"]);
    }

    #[test]
    fn finds_what_a_config_names() {
        let n = named(b"[core]\n\thooksPath = .githooks\n\tfsmonitor = ./tools/fsmon.sh\n\tpager = less\n[filter \"x\"]\n\tclean = sh scripts/clean.sh %f\n[include]\n\tpath = ../local.gitconfig\n[extensions]\n\tworktreeConfig = true\n[alias]\n\tst = !./bin/st --x\n");
        assert_eq!(n.hooks_paths, vec![".githooks"]);
        assert_eq!(n.includes, vec!["../local.gitconfig"]);
        assert!(n.worktree_config);
        for w in [
            "./tools/fsmon.sh",
            "less",
            "sh",
            "scripts/clean.sh",
            "./bin/st",
        ] {
            assert!(n.command_words.contains(&w.to_string()), "{w}: {n:?}");
        }
        assert!(named(b"[core]\n\tfsmonitor = true\n")
            .command_words
            .is_empty());
    }
}
