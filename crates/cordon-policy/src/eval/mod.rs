//! The evaluator: walks the parsed command, evaluates every simple command it finds (and
//! what wrappers, shells and interpreters run), and gathers the decision.
//!
//! - `walk`: the syntax tree (lists, pipelines, compound commands, redirections, here-docs),
//!   and what each command reads on stdin;
//! - `command`: one simple command: its program, what it runs (`crate::unwrap`), the
//!   per-program checks (`crate::programs`) and the rules.

use std::path::PathBuf;

use crate::decision::truncate;
use crate::{hit, unicode, CommandEval, Context, Decision, Evaluation, Hit, Policy, Word};

mod command;
mod walk;

pub(crate) use walk::text;

#[derive(Default, Clone)]
pub(crate) struct Stdin {
    /// An earlier pipeline stage downloads something.
    pub(crate) fetch: bool,
    /// A here-doc or here-string feeds this text.
    pub(crate) script: Option<String>,
}

/// The evaluator: walks the tree, collects commands and findings.
pub(crate) struct Ev<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) ctx: &'a Context,
    /// The current directory as `cd` changes it; None once it is not known statically.
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) out: Vec<CommandEval>,
    pub(crate) findings: Vec<Hit>,
    pub(crate) commands_seen: usize,
    /// What the commands being walked read on stdin when nothing redirects it: what the
    /// enclosing pipeline stage, `( )`, `{ }`, loop or `bash -c` was fed.
    pub(crate) stdin: Stdin,
    /// Files written by a download earlier in the same input (`curl -o f`, `wget URL`,
    /// `curl URL > f`): running one of them is running downloaded code.
    pub(crate) downloads: Vec<PathBuf>,
    /// Downloading commands (`curl`, `wget`, ...) evaluated so far: a pipeline stage or a
    /// redirected body that raised it downloads.
    pub(crate) fetches: usize,
}

impl Policy {
    /// Decide a shell string (what an agent hands over to `bash -lc`).
    pub fn check_shell(&self, src: &str, ctx: &Context) -> Evaluation {
        let mut ev = Ev::new(self, ctx);
        ev.source(src, 0, "");
        ev.finish()
    }

    /// Decide an argv (`cordon run -- argv`): `argv[0]` is not shell-parsed, but wrappers in it
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

    pub(crate) fn unicode_check(&mut self, s: &str) {
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

    pub(crate) fn push_entry(
        &mut self,
        kind: &'static str,
        argv: Vec<String>,
        via: &str,
        hits: Vec<Hit>,
    ) {
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
}
