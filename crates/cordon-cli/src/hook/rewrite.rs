//! The shell command rewritten to run inside cordon's sandbox:
//! `'/path/to/cordon' run --workspace W --agent NAME --approval never [--no-policy] -- bash -c
//! '<the command>'`, quoted so that the command reaches bash byte for byte (single quotes;
//! a `'` becomes `'\''`; everything else, newlines and bytes above 0x7f included, is literal
//! inside single quotes). The binary is named by its absolute path, so nothing on PATH (a
//! `./cordon` the model planted) can stand in for it.
//!
//! The hook already decided on the command, so the inner `cordon run` gets `--approval never`
//! (no second question) and `--no-policy` (no second decision record; unless the managed
//! policy requires the policy, and then it decides the same way again).
//!
//! Claude Code keeps shell state between calls (it sources a snapshot of the user's aliases and
//! functions, then tracks the working directory with `pwd -P` after the command); see
//! [`stateful`].

use std::path::Path;

/// `s` in single quotes, for sh/bash. `None` when it holds a NUL byte (an argument cannot).
pub fn sq(s: &str) -> Option<String> {
    if s.contains('\0') {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Some(out)
}

fn p(p: &Path) -> Option<String> {
    sq(p.to_str()?)
}

/// The options of the inner `cordon run`.
pub struct Inner<'a> {
    pub exe: &'a Path,
    pub workspace: &'a Path,
    pub agent: &'a str,
    pub no_policy: bool,
    /// Extra flags granted by an answered escalation (`--writable X`, `--allow-domain D`...).
    pub grants: &'a [String],
}

fn head(i: &Inner, extra: &str) -> Option<String> {
    let mut s = format!(
        "{} run --workspace {} --agent {} --approval never",
        p(i.exe)?,
        p(i.workspace)?,
        sq(i.agent)?
    );
    if i.no_policy {
        s.push_str(" --no-policy");
    }
    for g in i.grants {
        s.push(' ');
        s.push_str(&sq(g)?);
    }
    s.push_str(extra);
    Some(s)
}

/// `cordon run ... -- bash -c '<command>'`: for agents whose shell calls are independent
/// (Codex, Gemini CLI).
pub fn plain(i: &Inner, command: &str) -> Option<String> {
    Some(format!("{} -- bash -c {}", head(i, "")?, sq(command)?))
}

/// The rewrite for Claude Code, which runs the command with `eval` in a bash that has sourced
/// the user's shell snapshot, then records `pwd -P`. So that the command behaves as it would
/// without cordon:
/// - aliases and functions: the outer shell serializes its own (`alias -p; declare -f`) into
///   `__CORDON_DEFS` (skipped above 100 kB: a single environment string is limited to 128 kB),
///   which the inner bash evaluates before the command (`expand_aliases` on);
/// - the working directory: the inner bash writes its final `pwd -P` (an EXIT trap) to
///   `CWD_FILE`, in a directory that is one more writable root for this run; the outer shell
///   then `cd`s there, so Claude Code's own `pwd -P` sees it. A sandboxed command can write
///   anything there, so the outer shell (outside the sandbox) reads one line of a regular file
///   (never through a symlink: it could name a FIFO or a huge file) and changes directory with
///   the *builtin* `cd`, never a `cd` function of the user's (rvm, autoenv and their kin source
///   files from the directory entered: the sandboxed command chose it), and in zsh with `-q`
///   (no `chpwd` hooks);
/// - the exit status is the command's (cordon run passes it through).
pub fn stateful(i: &Inner, command: &str, cwd_dir: &Path, cwd_file: &Path) -> Option<String> {
    let cf = p(cwd_file)?;
    let inner_script = format!(
        "eval \"$__CORDON_DEFS\" 2>/dev/null; unset __CORDON_DEFS; shopt -s expand_aliases; trap {} EXIT\n{}",
        sq(&format!("pwd -P >| {cf} 2>/dev/null"))?,
        command
    );
    let extra = format!(
        " --writable {} --env __CORDON_DEFS --secret-env __CORDON_DEFS",
        p(cwd_dir)?
    );
    Some(format!(
        "__cordon_d=\"$(alias -p; declare -f)\"; [ ${{#__cordon_d}} -lt 100000 ] || __cordon_d=; \
         export __CORDON_DEFS=\"$__cordon_d\"; unset __cordon_d; \
         {} -- bash -c {}; __cordon_rc=$?; unset __CORDON_DEFS; \
         if [ -f {cf} ] && [ ! -L {cf} ] && IFS= read -r __cordon_d < {cf}; then \
         if [ -n \"${{ZSH_VERSION-}}\" ]; then builtin cd -q -- \"$__cordon_d\"; else builtin cd -- \"$__cordon_d\"; fi 2>/dev/null; fi; \
         unset __cordon_d; command rm -f -- {cf}; (exit $__cordon_rc)",
        head(i, &extra)?,
        sq(&inner_script)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What bash receives as `$1` after the quoting is read back by a shell.
    fn roundtrip(s: &str) -> Vec<u8> {
        let q = sq(s).unwrap();
        let out = Command::new("bash")
            .args(["-c", &format!("printf '%s' {q}")])
            .output()
            .unwrap();
        out.stdout
    }

    #[test]
    fn hostile_strings_reach_bash_byte_for_byte() {
        for s in [
            "",
            "'",
            "''",
            "a'b\"c",
            "$'\\x41' `id` $(id) ${HOME} \\ \\\\",
            "line1\nline2\r\n\t end",
            "it's a \"test\"; echo 'nested ''quotes'''",
            "héllo ✓ 日本語 \u{200b} \u{202e}",
            "!!  !$ #comment",
            "\u{1}\u{7f}\u{1b}[31m",
        ] {
            assert_eq!(roundtrip(s), s.as_bytes(), "{s:?}");
        }
    }

    #[test]
    fn nul_is_refused() {
        assert!(sq("a\0b").is_none());
    }
}
