//! `cordon hook claude`'s rewrite, run by bash as Claude Code runs it (its shell has the user's
//! aliases and functions; it records `pwd -P` after the command): the command's bytes reach the
//! inner bash unchanged, it runs in the sandbox (the secret stays unreadable, the file outside
//! unchanged), its exit status and working directory come back, and the audit log has the
//! hook's decision and one run without a second decision. As the invoking and an unprivileged
//! user, with namespaces and with the fallback.

mod harness;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use harness::{Case, Who};

fn hook(c: &Case, input: &serde_json::Value) -> serde_json::Value {
    let mut child = c
        .command(&["hook", "claude"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", harness::text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", harness::text(&o)))
}

/// bash -c SCRIPT as the case's user, with the case's environment, in the workspace.
fn bash(c: &Case, script: &str) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(script)
        .current_dir(&c.ws)
        .env_clear()
        .env("HOME", &c.home)
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LANG", "C.UTF-8")
        .env("XDG_RUNTIME_DIR", &c.runtime)
        .env("CORDON_ETC_DIR", c.base.join("etc"))
        .env("CORDON_AUDIT_DIR", c.audit_dir())
        .stdin(Stdio::null());
    if c.fallback {
        cmd.env("CORDON_NO_USERNS", "1");
    }
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 && c.who == Who::Unprivileged {
        cmd.uid(c.uid).gid(c.gid);
    }
    cmd.output().unwrap()
}

fn rewrite_runs_in_the_sandbox(c: &Case) {
    c.write("proj/sub/.keep", "");
    c.chown_all();
    let hostile = "cd sub && printf '%s|' \"it's\" $'a\\tb' 'héllo ✓' \"$((6*7))\" \"$(ll)\" \"$(myfn)\" > out.txt; \
                   cat ~/.ssh/id_rsa > leak.txt 2>&1; echo pwned >> ../../outside/victim.txt; exit 7";
    let input = serde_json::json!({"session_id": "s-1", "transcript_path": "/t", "cwd": c.ws,
        "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": hostile, "description": "d"}, "tool_use_id": "toolu_1"});
    let ans = hook(c, &input);
    let o = &ans["hookSpecificOutput"];
    assert_eq!(o["permissionDecision"], "allow", "{ans}");
    let cmd = o["updatedInput"]["command"].as_str().unwrap();
    assert_eq!(
        o["updatedInput"]["description"], "d",
        "other fields are kept"
    );
    // As Claude Code runs it: its snapshot's aliases and functions, `eval`, then `pwd -P`.
    let script = format!(
        "alias ll='echo aliased'; myfn() {{ echo fn-ok; }}; eval {} && pwd -P > {}/pwd.txt; echo \"rc=$?\"",
        shell_quote(cmd),
        c.home.display()
    );
    let out = bash(c, &script);
    let all = harness::text(&out);
    assert!(
        all.contains("rc=7"),
        "{}: exit status not passed through: {all}",
        c.label()
    );
    let got = c.read("proj/sub/out.txt").unwrap_or_default();
    assert_eq!(
        got,
        "it's|a\tb|héllo ✓|42|aliased|fn-ok|",
        "{}: {all}",
        c.label()
    );
    // `exit 7` fails the `&&`: Claude Code does not record the cwd after a failing command.
    // The working directory after a successful `cd`:
    let ans = hook(
        c,
        &serde_json::json!({"session_id": "s-1", "cwd": c.ws, "hook_event_name": "PreToolUse",
            "tool_name": "Bash", "tool_input": {"command": "cd sub"}}),
    );
    let cmd = ans["hookSpecificOutput"]["updatedInput"]["command"]
        .as_str()
        .unwrap();
    let out = bash(
        c,
        &format!(
            "eval {} && pwd -P > {}/pwd.txt",
            shell_quote(cmd),
            c.home.display()
        ),
    );
    assert_eq!(
        c.read("pwd.txt").unwrap_or_default().trim(),
        c.ws.join("sub").display().to_string(),
        "{}: cwd not tracked: {}",
        c.label(),
        harness::text(&out)
    );
    // Inside the sandbox: the secret unreadable, the file outside the workspace unchanged.
    let leak = c.read("proj/sub/leak.txt").unwrap_or_default();
    assert!(
        !leak.contains("SECRET-SSH-KEY-MARKER"),
        "{}: {leak}",
        c.label()
    );
    assert_eq!(
        c.read("outside/victim.txt").unwrap(),
        "original\n",
        "{}",
        c.label()
    );
    // The audit log: the hook's decisions, the runs as claude-code's, no second decision.
    let log = std::fs::read_to_string(c.audit_dir().join("audit.jsonl")).unwrap();
    let recs: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hooks = recs.iter().filter(|r| r["event"] == "hook").count();
    let runs: Vec<_> = recs
        .iter()
        .filter(|r| r["event"] == "session_start" && r["command"] == "run")
        .collect();
    assert_eq!(hooks, 2, "{}: {log}", c.label());
    assert_eq!(runs.len(), 2, "{}: {log}", c.label());
    assert!(runs.iter().all(|r| r["agent"] == "claude-code"));
    assert!(
        !recs.iter().any(|r| r["event"] == "decision"),
        "{}: a second decision: {log}",
        c.label()
    );
}

/// The working directory a sandboxed command leaves is chosen by that command, and the outer
/// shell (outside the sandbox, with the user's functions) changes to it: with the builtin `cd`,
/// never a `cd` function of the user's (rvm, autoenv and their kin source a file from the
/// directory entered, which the command planted). Checked outside: the planted file did not run,
/// the directory did change.
fn cwd_channel_runs_nothing_outside(c: &Case) {
    // (One level down: in the fallback nothing new can be made at the workspace's top.)
    c.write("proj/sub/.keep", "");
    c.chown_all();
    let marker = c.home.join("OUTSIDE-RAN");
    let cmd = format!(
        "mkdir -p sub/evil && echo 'touch {}' > sub/evil/.hookrc && cd sub/evil",
        marker.display()
    );
    let ans = hook(
        c,
        &serde_json::json!({"session_id": "s-2", "cwd": c.ws, "hook_event_name": "PreToolUse",
            "tool_name": "Bash", "tool_input": {"command": cmd}}),
    );
    let rewritten = ans["hookSpecificOutput"]["updatedInput"]["command"]
        .as_str()
        .unwrap_or_else(|| panic!("{ans}"));
    // The user's shell (Claude Code's snapshot): a `cd` that sources what it finds there.
    let script = format!(
        "cd() {{ for a in \"$@\"; do [ -f \"$a/.hookrc\" ] && . \"$a/.hookrc\"; done; builtin cd \"$@\"; }}; \
         eval {} && pwd -P > {}/pwd.txt",
        shell_quote(rewritten),
        c.home.display()
    );
    let out = bash(c, &script);
    assert!(
        !marker.exists(),
        "{}: a file the sandboxed command planted ran outside through the user's cd: {}",
        c.label(),
        harness::text(&out)
    );
    assert_eq!(
        c.read("pwd.txt").unwrap_or_default().trim(),
        c.ws.join("sub/evil").display().to_string(),
        "{}: cwd not tracked: {}",
        c.label(),
        harness::text(&out)
    );
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

variants!(
    rewrite_runs_in_the_sandbox,
    cwd_channel_runs_nothing_outside
);
