//! git: its global options are dropped so rules see `git SUBCOMMAND ...`; those that can
//! make git run a program (or use a repository elsewhere) ask. The subcommand's own options are
//! read by `crate::options` (tables generated from git).

use super::Program;
use crate::{hit, Decision, Hit, Word};

pub(crate) static GIT: Program = Program {
    names: &["git"],
    prepare: Some(prepare),
    ..Program::NONE
};

fn prepare(args: Vec<Word>, hits: &mut Vec<Hit>) -> Vec<Word> {
    let (rest, risky) = git_normalize(&args);
    if let Some(r) = risky {
        hits.push(hit(
            Decision::Ask,
            "git-config-override",
            format!("git {r} can set core.pager, core.sshCommand, alias.* and other keys that run programs, or use a repository whose config does"),
        ));
    }
    rest
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
