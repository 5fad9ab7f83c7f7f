//! Per-program checks that rules cannot express: sed and awk programs, `find` deleting under
//! a critical directory, `dd of=`, `printf -v`, publishing through options and npm's
//! abbreviations, and where downloads are saved.

use crate::options::{self, Item, Spec};
use crate::{hit, Decision, Ev, Hit, Stdin, Word};

impl Ev<'_> {
    /// The checks for `program`; their hits join the rules'.
    pub(crate) fn program_checks(
        &mut self,
        program: &str,
        args: &[Word],
        stdin: &Stdin,
        hits: &mut Vec<Hit>,
    ) {
        match program {
            "rm" => hits.extend(self.rm_check(args)),
            "sed" | "gsed" => hits.push(if sed_readonly(args) {
                hit(
                    Decision::Allow,
                    "sed-readonly",
                    "sed that only prints (no -i, no e/w/r commands)",
                )
            } else {
                hit(
                    Decision::Ask,
                    "sed-script",
                    "this sed can write files (-i, w) or run commands (e)",
                )
            }),
            "uniq" => {
                // `uniq IN OUT` writes OUT.
                let files = args
                    .iter()
                    .filter(|a| !a.text.starts_with('-') || a.text == "-");
                if files.count() > 1 {
                    hits.push(hit(
                        Decision::Ask,
                        "uniq-output",
                        "uniq writes its second file argument",
                    ));
                }
            }
            "awk" | "gawk" | "mawk" | "nawk" => hits.push(if awk_readonly(args) {
                hit(
                    Decision::Allow,
                    "awk-readonly",
                    "awk program without system(), pipes, redirections or getline",
                )
            } else {
                hit(
                    Decision::Ask,
                    "awk-program",
                    "this awk program can run commands (system, |), write files (>, -o, -d) or load code (-f, -i, -l, @include)",
                )
            }),
            "find" => hits.extend(self.find_check(args)),
            "dd" => hits.extend(self.dd_check(args)),
            "printf" => hits.extend(printf_assign(args)),
            "time" => {
                // GNU time -o FILE writes FILE.
                let p = options::parse(&options::TIME, args);
                let outs: Vec<Word> = p.values('o', "output").cloned().collect();
                for w in outs {
                    hits.push(self.write_check(&w));
                }
            }
            "curl" | "wget" => self.record_downloads(program, args),
            "tee" if stdin.fetch => {
                for w in args.iter().filter(|w| !w.text.starts_with('-')) {
                    self.downloaded(w);
                }
            }
            _ => {}
        }
        if let Some(h) = publish_check(program, args) {
            hits.push(h);
        }
    }

    /// Remember a file a download writes.
    pub(crate) fn downloaded(&mut self, w: &Word) {
        if let Some(p) = w.value().and_then(|t| self.resolve(&t)) {
            self.downloads.push(p);
        }
    }

    /// Is `path` a file downloaded earlier in this input?
    pub(crate) fn is_download(&self, path: &str) -> bool {
        !self.downloads.is_empty()
            && self
                .resolve(path)
                .is_some_and(|p| self.downloads.contains(&p))
    }

    /// Where `curl` / `wget` save what they download: `-o F`, `-O` (the URL's file name),
    /// `--output-dir D`; `wget URL` (the file name), `-O F`, `-P D`.
    fn record_downloads(&mut self, program: &str, args: &[Word]) {
        let spec = if program == "curl" {
            &options::CURL
        } else {
            &options::WGET
        };
        let p = options::parse(spec, args);
        let urls: Vec<&Word> = p
            .operands()
            .map(|k| &args[k])
            .chain(p.values('\0', "url"))
            .filter(|w| w.text.contains("://"))
            .collect();
        let mut files: Vec<Word> = Vec::new();
        let (out, named, dir) = if program == "curl" {
            (
                p.values('o', "output").cloned().collect::<Vec<_>>(),
                p.has('O', "remote-name") || p.has('\0', "remote-name-all"),
                p.values('\0', "output-dir").last().cloned(),
            )
        } else {
            (
                p.values('O', "output-document")
                    .filter(|w| w.text != "-")
                    .cloned()
                    .collect(),
                true,
                p.values('P', "directory-prefix").last().cloned(),
            )
        };
        files.extend(out);
        if named && (program == "curl" || files.is_empty()) {
            for u in &urls {
                let name = url_file_name(&u.text, program == "wget");
                let text = match &dir {
                    Some(d) => format!("{}/{name}", d.text),
                    None => name,
                };
                files.push(Word {
                    text,
                    known: u.known && dir.as_ref().is_none_or(|d| d.known),
                    glob: false,
                    fetch: false,
                });
            }
        }
        for f in &files {
            self.downloaded(f);
        }
    }

    /// `find START... EXPR` deleting under a critical directory: `-delete`, or `-exec rm`
    /// (`rmdir`, `unlink`, `shred`, `truncate`; also `-execdir`, `-ok`, `-okdir`). Deny when a
    /// start is `/`, a system directory, the home directory or an ancestor of it or of the
    /// workspace (what `rm -r` may not delete); at the workspace root itself, deny only when
    /// nothing narrows what is deleted (`find . -delete`, not `find . -name '*.o' -delete`).
    fn find_check(&self, args: &[Word]) -> Option<Hit> {
        let f = FindArgs::parse(args);
        if !f.deletes {
            return None;
        }
        let starts: Vec<&Word> = if f.starts.is_empty() {
            Vec::new()
        } else {
            f.starts.iter().map(|&k| &args[k]).collect()
        };
        let dot = Word::known(".".into());
        let starts = if starts.is_empty() {
            vec![&dot]
        } else {
            starts
        };
        for w in starts {
            let Some(p) = w.value().and_then(|t| self.resolve(&t)) else {
                continue; // unknown: find-exec asks already
            };
            let beyond_workspace = p != self.ctx.workspace;
            if self.critical(&p) && (beyond_workspace || !f.narrowed) {
                return Some(hit(
                    Decision::Deny,
                    "find-delete-critical",
                    format!(
                        "find deletes under {} (the root, a system directory, your home or the workspace){}",
                        p.display(),
                        if beyond_workspace { "" } else { " with nothing narrowing what" }
                    ),
                ));
            }
        }
        None
    }

    /// `dd of=FILE` writes FILE: a device or a protected path is deny (however it is spelled:
    /// `of=//dev/sda`, `of=/dev/../dev/sda`, `cd /dev && dd of=sda`).
    fn dd_check(&self, args: &[Word]) -> Option<Hit> {
        for a in args {
            let Some(path) = a.text.strip_prefix("of=") else {
                continue;
            };
            let w = Word {
                text: path.to_string(),
                ..a.clone()
            };
            let h = self.write_check(&w);
            if h.decision == Decision::Deny {
                return Some(hit(Decision::Deny, "dd-device", format!("dd {}", h.reason)));
            }
        }
        None
    }
}

/// `find`'s arguments: the start directories (indices), whether it deletes, and whether some
/// test narrows what it acts on.
struct FindArgs {
    starts: Vec<usize>,
    deletes: bool,
    narrowed: bool,
}

/// Deleting programs run by `find -exec`.
const DELETERS: &[&str] = &["rm", "rmdir", "unlink", "shred", "truncate"];

/// Expression words that do not narrow which files an action applies to.
const NOT_NARROWING: &[&str] = &[
    "-depth",
    "-d",
    "-maxdepth",
    "-mindepth",
    "-xdev",
    "-mount",
    "-noleaf",
    "-ignore_readdir_race",
    "-noignore_readdir_race",
    "-daystart",
    "-follow",
    "-regextype",
    "-warn",
    "-nowarn",
    "-true",
    "-type",
    "-xtype",
    "-print",
    "-print0",
    "-printf",
    "-fprint",
    "-fprint0",
    "-fprintf",
    "-ls",
    "-fls",
    "-a",
    "-and",
    "(",
    ")",
    ",",
    "-delete",
];

impl FindArgs {
    fn parse(args: &[Word]) -> FindArgs {
        let mut i = 0;
        // Options before the starting points: -H -L -P, -D debugopts, -Olevel.
        while i < args.len() {
            match args[i].text.as_str() {
                "-H" | "-L" | "-P" => i += 1,
                "-D" => i += 2,
                t if t.starts_with("-O") => i += 1,
                _ => break,
            }
        }
        let mut f = FindArgs {
            starts: Vec::new(),
            deletes: false,
            narrowed: false,
        };
        while i < args.len() {
            let t = args[i].text.as_str();
            if t.starts_with('-') || matches!(t, "(" | "!" | ")" | ",") {
                break;
            }
            f.starts.push(i);
            i += 1;
        }
        while i < args.len() {
            let t = args[i].text.as_str();
            match t {
                "-delete" => f.deletes = true,
                "-exec" | "-execdir" | "-ok" | "-okdir" => {
                    let prog = args.get(i + 1).map(|w| w.text.as_str()).unwrap_or("");
                    let base = prog.rsplit('/').next().unwrap_or(prog);
                    f.deletes |= DELETERS.contains(&base);
                    while i < args.len() && args[i].text != ";" && args[i].text != "+" {
                        i += 1;
                    }
                }
                _ if NOT_NARROWING.contains(&t) => {
                    if matches!(
                        t,
                        "-maxdepth" | "-mindepth" | "-regextype" | "-type" | "-xtype"
                    ) {
                        i += 1; // its argument
                    }
                    if matches!(t, "-printf" | "-fprint" | "-fprint0" | "-fls") {
                        i += 1;
                    }
                    if t == "-fprintf" {
                        i += 2;
                    }
                }
                _ => f.narrowed = true,
            }
            i += 1;
        }
        f
    }
}

/// The file name a download of `url` is saved as (`wget`: `index.html` for a directory).
fn url_file_name(url: &str, wget: bool) -> String {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let name = match path.split_once('/') {
        Some((_, p)) => p.rsplit('/').next().unwrap_or(""),
        None => "",
    };
    if name.is_empty() && wget {
        "index.html".to_string()
    } else {
        name.to_string()
    }
}

/// bash's `printf -v NAME` assigns a variable: like `NAME=...`, setting `PATH` or
/// `LD_PRELOAD` changes what runs next.
fn printf_assign(args: &[Word]) -> Option<Hit> {
    static PRINTF: Spec = Spec {
        short: "v:",
        long: &[],
        abbrev: false,
        permute: false,
        attached: true,
        strict: false,
    };
    let p = options::parse(&PRINTF, args);
    let name = p.values('v', "").last()?;
    let risky = match name.value() {
        Some(n) => crate::dangerous_env(n.split('[').next().unwrap_or(&n)),
        None => true,
    };
    risky.then(|| {
        hit(
            Decision::Ask,
            "env-assignment",
            format!(
                "printf -v {} sets a variable that changes which program runs or what it loads",
                name.text
            ),
        )
    })
}

/// Package managers and the subcommands that publish (as the `package-publish` rule), found
/// also after options (`npm --registry R publish`, `cargo +nightly publish`) and, for npm,
/// in the spellings npm accepts: any prefix of `publish` from `pu` (npm 11's `cmd-list.js`
/// resolves unique abbreviations).
fn publish_check(program: &str, args: &[Word]) -> Option<Hit> {
    const VERBS: &[&str] = &["publish", "upload", "push", "deploy", "nuget"];
    const PROGRAMS: &[&str] = &[
        "npm", "yarn", "pnpm", "cargo", "poetry", "gem", "twine", "flit", "hatch", "uv", "dotnet",
        "mvn", "gradle",
    ];
    if !PROGRAMS.contains(&program) {
        return None;
    }
    // The subcommand: the first word that is not an option; an option without `=` may have
    // taken the next word as its value, so the word after that is a candidate too.
    let mut candidates = Vec::new();
    let mut i = 0;
    while i < args.len() && candidates.len() < 2 {
        let t = args[i].text.as_str();
        if t == "--" {
            break;
        }
        if t.starts_with('-') || (program == "cargo" && t.starts_with('+')) {
            i += 1;
            continue;
        }
        candidates.push(t);
        let prev = i.checked_sub(1).map(|k| args[k].text.as_str());
        if !prev.is_some_and(|p| {
            p.starts_with("--") && !p.contains('=') || p.len() == 2 && p.starts_with('-')
        }) {
            break; // nothing before it could have taken it as a value
        }
        i += 1;
    }
    let publishes = |c: &str| {
        VERBS.contains(&c) || (program == "npm" && c.len() >= 2 && "publish".starts_with(c))
    };
    candidates.into_iter().any(publishes).then(|| {
        hit(
            Decision::Deny,
            "package-publish",
            "publishing a package is irreversible and public",
        )
    })
}

/// sed that only reads: no `-i`/`--in-place`, no `-f`/`--file` (however abbreviated or
/// clustered: `--in-pl`, `-ni`, `--fil=`), and scripts of print/delete/substitute commands
/// without the `e` and `w` flags and without e/r/R/w/W commands.
pub(crate) fn sed_readonly(args: &[Word]) -> bool {
    let p = options::parse(&options::SED, args);
    if p.uncertain {
        return false;
    }
    let mut scripts = Vec::new();
    for item in &p.items {
        match item {
            Item::Short('e', v, _) | Item::Long("expression", v) => match v {
                Some(w) if w.known => scripts.push(w.text.clone()),
                _ => return false,
            },
            Item::Short('i' | 'f', ..) | Item::Long("in-place" | "file", _) => return false,
            Item::Operand(k) if !args[*k].known => return false,
            _ => {}
        }
    }
    if scripts.is_empty() {
        match p.operands().next() {
            Some(k) => scripts.push(args[k].text.clone()),
            None => return false,
        }
    }
    scripts.iter().all(|s| sed_script_safe(s))
}

fn sed_script_safe(s: &str) -> bool {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < c.len() {
        // separators and addresses
        while i < c.len()
            && (c[i].is_whitespace()
                || c[i] == ';'
                || c[i].is_ascii_digit()
                || c[i] == ','
                || c[i] == '$'
                || c[i] == '!')
        {
            i += 1;
        }
        if i < c.len() && c[i] == '/' {
            i += 1;
            while i < c.len() && c[i] != '/' {
                if c[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if i >= c.len() {
            break;
        }
        match c[i] {
            'p' | 'd' | 'q' | 'Q' | '=' | 'n' | 'N' | 'P' | 'D' | 'h' | 'H' | 'g' | 'G' | 'x'
            | 'l' | '{' | '}' => i += 1,
            's' | 'y' => {
                let cmd = c[i];
                let Some(&delim) = c.get(i + 1) else {
                    return false;
                };
                if delim == '\\' || delim == '\n' {
                    return false;
                }
                i += 2;
                for _ in 0..2 {
                    while i < c.len() && c[i] != delim {
                        if c[i] == '\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                    i += 1;
                }
                if i > c.len() {
                    return false;
                }
                if cmd == 's' {
                    while i < c.len() && !matches!(c[i], ';' | '\n' | '}') {
                        if matches!(c[i], 'e' | 'w' | 'W') {
                            return false;
                        }
                        if !(c[i].is_ascii_digit()
                            || matches!(c[i], 'g' | 'p' | 'i' | 'I' | 'm' | 'M' | ' '))
                        {
                            return false;
                        }
                        i += 1;
                    }
                }
            }
            _ => return false, // e, r, R, w, W, a, i, c, unknown: ask
        }
    }
    true
}

/// awk that only reads: options from an allowlist (`-F`, `-v` and flags that change no
/// behaviour but parsing and output), so `-f`/`-e`/`-i` (program files), `-l` (a shared
/// library), `-o`/`-d`/`-p`/`-D` (files written) and mawk's `-W` are not readonly, however
/// abbreviated; and a program text without `system`, `|`, `>`, `getline`, `ENVIRON` or `@`
/// (`@include`, `@load`, indirect calls such as `@f()` with `f = "system"`).
pub(crate) fn awk_readonly(args: &[Word]) -> bool {
    const FLAGS: &str = "bcCghkLMNnOPrsStVY";
    const LONG: &[&str] = &[
        "assign",
        "field-separator",
        "bignum",
        "characters-as-bytes",
        "copyright",
        "csv",
        "gen-pot",
        "help",
        "lint",
        "no-optimize",
        "non-decimal-data",
        "optimize",
        "posix",
        "re-interval",
        "sandbox",
        "traditional",
        "use-lc-numeric",
        "version",
    ];
    let p = options::parse(&options::AWK, args);
    if p.uncertain {
        return false;
    }
    let mut program = None;
    for item in &p.items {
        match item {
            // (-F and -v values are data, whatever they are.)
            Item::Short('F' | 'v', ..) => {}
            Item::Short(c, ..) if FLAGS.contains(*c) => {}
            Item::Long(n, _) if LONG.contains(n) => {}
            Item::Operand(k) => {
                program = Some(*k);
                break;
            }
            Item::EndOfOptions => {}
            _ => return false,
        }
    }
    let Some(k) = program else {
        return false;
    };
    let w = &args[k];
    if !w.known {
        return false;
    }
    let p = w.text.as_str();
    !(p.contains("system")
        || p.contains('|')
        || p.contains('>')
        || p.contains("getline")
        || p.contains("ENVIRON")
        || p.contains('@'))
}
