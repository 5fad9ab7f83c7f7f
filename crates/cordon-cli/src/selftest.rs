//! `cordon install --self-test` (and `cordon doctor`): run the hook command that is installed in
//! each agent's settings, exactly as the agent would (`sh -c COMMAND`, the event JSON on stdin),
//! with sample events of that agent's protocol, and check the answers: a destructive command and
//! a secret read are refused, a harmless command is not, input that is not JSON is refused (fail
//! closed). Also records the agent's version found on PATH and whether that agent honours the
//! command rewrite that runs an allowed command inside `cordon run`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::agents::{self, AgentId};
use cordon_pipeline::Error;
use cordon_sandbox::exit::CHECK_FAILED;

/// What one sample expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Expect {
    Deny,
    NotDeny,
}

/// How the hook answered, read in the agent's own terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Deny,
    Ask,
    Allow {
        rewritten: bool,
    },
    /// Not an answer the agent understands (it would treat it as "allow").
    Garbled(String),
}

#[derive(Serialize)]
pub struct Case {
    name: &'static str,
    expect: Expect,
    verdict: Verdict,
    ok: bool,
    ms: u128,
}

#[derive(Serialize)]
pub struct AgentReport {
    agent: AgentId,
    /// The agent's binary and `--version`, when it is on PATH.
    found: Option<agents::Found>,
    /// Where the hook tested was installed.
    installed_in: Option<String>,
    command: Option<String>,
    cases: Vec<Case>,
    ok: bool,
    /// Whether the hook answered the harmless command with a rewrite into `cordon run`.
    hook_rewrites: bool,
    /// Whether this agent honours a rewritten command, and what it was verified with.
    rewrite_honoured: String,
    note: Option<String>,
}

impl AgentReport {
    pub fn ok(&self) -> bool {
        self.ok
    }
    pub fn agent_name(&self) -> &'static str {
        self.agent.display()
    }
    pub fn agent_arg(&self) -> &'static str {
        self.agent.arg()
    }
}

/// The versions a hook's rewrite (`updatedInput`/`tool_input`) was verified against, end to end
/// through the real agent (tests/agents in the repository).
fn rewrite_support(agent: AgentId, found: Option<&agents::Found>) -> String {
    let (verified, what) = match agent {
        AgentId::Claude => ("2.1.332", "PreToolUse updatedInput"),
        AgentId::Codex => ("0.171.0", "PreToolUse updatedInput with allow"),
        AgentId::Gemini => ("0.61.0", "BeforeTool hookSpecificOutput.tool_input"),
        AgentId::Copilot => ("1.0.102", "preToolUse modifiedArgs"),
        AgentId::Cursor | AgentId::Goose => {
            return "no: its hook protocol has no rewrite; allowed commands run unsandboxed, \
                    asked ones are asked (Cursor) or refused (goose)"
                .into()
        }
    };
    match found {
        Some(f) if f.version.split_whitespace().any(|w| w == verified) => {
            format!("yes ({what}; verified with {verified}, the version found)")
        }
        Some(f) => format!(
            "expected ({what}; verified with {verified}, found {}: not verified for it)",
            f.version
        ),
        None => format!("yes with {verified} ({what}); the agent is not on PATH"),
    }
}

fn shell_event(agent: AgentId, cwd: &str, command: &str) -> (Value, Option<&'static str>) {
    match agent {
        AgentId::Claude => (
            json!({"session_id": "cordon-self-test", "transcript_path": "/dev/null", "cwd": cwd,
                   "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
                   "tool_input": {"command": command, "description": "cordon self-test"},
                   "tool_use_id": "toolu_cordon_self_test"}),
            None,
        ),
        AgentId::Codex => (
            json!({"session_id": "cordon-self-test", "turn_id": "1", "transcript_path": null,
                   "cwd": cwd, "hook_event_name": "PreToolUse", "model": "self-test",
                   "permission_mode": "default", "tool_name": "Bash",
                   "tool_input": {"command": command}, "tool_use_id": "call_cordon_self_test"}),
            None,
        ),
        AgentId::Gemini => (
            json!({"session_id": "cordon-self-test", "transcript_path": "", "cwd": cwd,
                   "hook_event_name": "BeforeTool", "timestamp": "2026-01-01T00:00:00Z",
                   "tool_name": "run_shell_command", "tool_input": {"command": command}}),
            None,
        ),
        AgentId::Cursor => (
            json!({"conversation_id": "cordon-self-test", "generation_id": "1",
                   "hook_event_name": "beforeShellExecution", "workspace_roots": [cwd],
                   "command": command, "cwd": cwd}),
            None,
        ),
        AgentId::Copilot => (
            json!({"timestamp": 1767225600000u64, "cwd": cwd, "toolName": "bash",
                   "toolArgs": json!({"command": command}).to_string()}),
            Some("preToolUse"),
        ),
        AgentId::Goose => (
            json!({"event": "PreToolUse", "hook_event_name": "PreToolUse",
                   "session_id": "cordon-self-test", "tool_name": "developer__shell",
                   "tool_input": {"command": command}, "working_dir": cwd, "cwd": cwd}),
            None,
        ),
    }
}

fn read_event(agent: AgentId, cwd: &str, path: &str) -> Option<Value> {
    Some(match agent {
        AgentId::Claude => json!({"session_id": "cordon-self-test", "transcript_path": "/dev/null",
            "cwd": cwd, "permission_mode": "default", "hook_event_name": "PreToolUse",
            "tool_name": "Read", "tool_input": {"file_path": path}, "tool_use_id": "toolu_r"}),
        AgentId::Gemini => json!({"session_id": "cordon-self-test", "transcript_path": "",
            "cwd": cwd, "hook_event_name": "BeforeTool", "timestamp": "2026-01-01T00:00:00Z",
            "tool_name": "read_file", "tool_input": {"file_path": path}}),
        AgentId::Cursor => json!({"conversation_id": "cordon-self-test", "generation_id": "1",
            "hook_event_name": "beforeReadFile", "workspace_roots": [cwd], "file_path": path,
            "content": ""}),
        AgentId::Copilot => json!({"timestamp": 1767225600000u64, "cwd": cwd, "toolName": "view",
            "toolArgs": json!({"path": path}).to_string()}),
        // Codex reads files through its shell; goose's reads are its shell too.
        AgentId::Codex | AgentId::Goose => return None,
    })
}

/// Reads the hook's answer the way `agent` would.
pub fn classify(agent: AgentId, status: Option<i32>, stdout: &str) -> Verdict {
    if status == Some(2) {
        return Verdict::Deny;
    }
    let out = stdout.trim();
    let v: Option<Value> = if out.is_empty() {
        None
    } else {
        match serde_json::from_str(out) {
            Ok(v) => Some(v),
            Err(_) => return Verdict::Garbled(format!("stdout is not JSON: {}", shorten(out))),
        }
    };
    if status != Some(0) {
        return Verdict::Garbled(format!("exit status {status:?}"));
    }
    let Some(v) = v else {
        return Verdict::Allow { rewritten: false };
    };
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let rewritten = |cmd: Option<&Value>| {
        cmd.and_then(Value::as_str)
            .is_some_and(|c| c.contains("cordon") && c.contains(" run "))
    };
    let decision = match agent {
        AgentId::Claude | AgentId::Codex => s("/hookSpecificOutput/permissionDecision")
            .or_else(|| s("/decision").map(|d| if d == "block" { "deny".into() } else { d })),
        AgentId::Gemini | AgentId::Goose => {
            s("/decision").map(|d| if d == "block" { "deny".into() } else { d })
        }
        AgentId::Cursor => s("/permission"),
        AgentId::Copilot => s("/permissionDecision"),
    };
    let rw = match agent {
        AgentId::Claude | AgentId::Codex => {
            rewritten(v.pointer("/hookSpecificOutput/updatedInput/command"))
        }
        AgentId::Gemini => rewritten(v.pointer("/hookSpecificOutput/tool_input/command")),
        AgentId::Copilot => rewritten(v.pointer("/modifiedArgs/command")),
        _ => false,
    };
    match decision.as_deref() {
        Some("deny") => Verdict::Deny,
        Some("ask") => Verdict::Ask,
        Some("allow") | None => Verdict::Allow { rewritten: rw },
        Some(other) => Verdict::Garbled(format!("unknown decision {other:?}")),
    }
}

fn shorten(s: &str) -> String {
    let mut t: String = s.chars().take(120).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

/// Runs `sh -c COMMAND` with `input` on stdin, 10 s at most.
fn run_hook(
    command: &str,
    input: &[u8],
    cwd: &Path,
) -> Result<(Option<i32>, String, u128), String> {
    let start = Instant::now();
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the hook: {e}"))?;
    if let Some(mut si) = child.stdin.take() {
        let _ = si.write_all(input);
    }
    let out = loop {
        match child.try_wait() {
            Ok(Some(_)) => break child.wait_with_output().map_err(|e| e.to_string())?,
            Ok(None) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(2))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the hook did not answer within 10 s (the agent would allow)".into());
            }
        }
    };
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        start.elapsed().as_millis(),
    ))
}

/// Tests one agent's installed hook (or `command`, when given).
pub fn test_agent(agent: AgentId, found: Option<agents::Found>) -> AgentReport {
    let env = agents::Env::from_process();
    let project = crate::installed::project_dir(None).unwrap_or_default();
    let installed = crate::installed::installed_command(agent, &env, &project);
    let mut rep = AgentReport {
        agent,
        rewrite_honoured: rewrite_support(agent, found.as_ref()),
        found,
        installed_in: installed
            .as_ref()
            .map(|(s, p, _)| format!("{} ({})", p.display(), crate::installed::scope_name(*s))),
        command: installed.as_ref().map(|(_, _, c)| c.clone()),
        cases: vec![],
        ok: false,
        hook_rewrites: false,
        note: None,
    };
    let Some((_, _, command)) = installed else {
        rep.note = Some(format!("not installed: cordon install {}", agent.arg()));
        return rep;
    };
    let Ok(tmp) = tempdir() else {
        rep.note = Some("cannot create a temporary directory".into());
        return rep;
    };
    let cwd = tmp.to_string_lossy().into_owned();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let mut samples: Vec<(&'static str, Expect, Vec<u8>, Option<&'static str>)> = Vec::new();
    let (ev, flag) = shell_event(agent, &cwd, "rm -rf ~");
    samples.push((
        "shell: rm -rf ~ is refused",
        Expect::Deny,
        ev.to_string().into_bytes(),
        flag,
    ));
    let (ev, flag) = shell_event(agent, &cwd, "ls");
    samples.push((
        "shell: ls is not refused",
        Expect::NotDeny,
        ev.to_string().into_bytes(),
        flag,
    ));
    if let Some(ev) = read_event(agent, &cwd, &format!("{home}/.ssh/id_ed25519")) {
        let flag = if agent == AgentId::Copilot {
            Some("preToolUse")
        } else {
            None
        };
        samples.push((
            "read: ~/.ssh/id_ed25519 is refused",
            Expect::Deny,
            ev.to_string().into_bytes(),
            flag,
        ));
    }
    samples.push((
        "input that is not JSON is refused (fail closed)",
        Expect::Deny,
        b"{not json".to_vec(),
        flag,
    ));
    let mut all_ok = true;
    for (name, expect, input, _flag) in samples {
        // The installed command already carries `--event` where the agent needs it
        // (Copilot's entries are per event): the pre-tool one is the one tested.
        let cmd = if agent == AgentId::Copilot && !command.contains("--event") {
            format!("{command} --event preToolUse")
        } else if agent == AgentId::Copilot {
            let base = command.split(" --event").next().unwrap_or(&command);
            format!("{base} --event preToolUse")
        } else {
            command.clone()
        };
        let (verdict, ms) = match run_hook(&cmd, &input, &tmp) {
            Ok((status, out, ms)) => (classify(agent, status, &out), ms),
            Err(e) => (Verdict::Garbled(e), 0),
        };
        let ok = match expect {
            Expect::Deny => verdict == Verdict::Deny,
            Expect::NotDeny => matches!(verdict, Verdict::Allow { .. } | Verdict::Ask),
        };
        if let Verdict::Allow { rewritten: true } = verdict {
            rep.hook_rewrites = true;
        }
        all_ok &= ok;
        rep.cases.push(Case {
            name,
            expect,
            verdict,
            ok,
            ms,
        });
    }
    let _ = std::fs::remove_dir_all(&tmp);
    rep.ok = all_ok;
    rep
}

fn tempdir() -> std::io::Result<std::path::PathBuf> {
    let base = std::env::temp_dir();
    for i in 0..100u32 {
        let p = base.join(format!("cordon-self-test-{}-{i}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free name"))
}

/// Reports for `agent`, or for every agent that has cordon's hook installed or is on PATH.
pub fn reports(agent: Option<AgentId>) -> Vec<AgentReport> {
    let found = agents::find_installed();
    let env = agents::Env::from_process();
    let project = crate::installed::project_dir(None).unwrap_or_default();
    agents::ALL
        .into_iter()
        .filter(|a| agent.is_none_or(|x| x == *a))
        .filter(|a| {
            agent.is_some() || crate::installed::installed_command(*a, &env, &project).is_some()
        })
        .map(|a| test_agent(a, found.iter().find(|f| f.agent == a).cloned()))
        .collect()
}

pub fn print(reps: &[AgentReport]) -> Result<(), Error> {
    for r in reps {
        outln!(
            "  {} {}",
            r.agent.display(),
            r.found
                .as_ref()
                .map(|f| format!("({}, {})", f.binary.display(), f.version))
                .unwrap_or_else(|| "(not on PATH)".into())
        )?;
        if let Some(n) = &r.note {
            outln!("    {n}")?;
            continue;
        }
        if let Some(i) = &r.installed_in {
            outln!("    hook: {} in {i}", r.command.as_deref().unwrap_or(""))?;
        }
        for c in &r.cases {
            outln!(
                "    [{}] {} -> {} ({} ms)",
                if c.ok { " ok " } else { "FAIL" },
                c.name,
                match &c.verdict {
                    Verdict::Deny => "deny".to_string(),
                    Verdict::Ask => "ask".to_string(),
                    Verdict::Allow { rewritten: true } => "allow, rewritten into cordon run".into(),
                    Verdict::Allow { rewritten: false } => "allow".into(),
                    Verdict::Garbled(g) => format!("not an answer: {g}"),
                },
                c.ms
            )?;
        }
        outln!("    rewrite honoured by the agent: {}", r.rewrite_honoured)?;
    }
    Ok(())
}

/// `cordon install [AGENT] --self-test`: exit 0 when every tested hook answered as expected.
pub fn run(agent: Option<AgentId>, as_json: bool) -> Result<ExitCode, Error> {
    let reps = reports(agent);
    let ok = reps.iter().all(|r| r.ok);
    if as_json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({"ok": ok, "agents": reps})).unwrap_or_default()
        )?;
    } else if reps.is_empty() {
        outln!("cordon self-test: no agent has cordon's hook installed (cordon install AGENT)")?;
    } else {
        outln!("cordon self-test:")?;
        print(&reps)?;
        outln!("  result: {}", if ok { "ok" } else { "FAILED" })?;
    }
    Ok(if ok && !reps.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(CHECK_FAILED)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_in_each_protocol() {
        use AgentId::*;
        let deny = r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"no"}}"#;
        assert_eq!(classify(Claude, Some(0), deny), Verdict::Deny);
        assert_eq!(classify(Codex, Some(2), ""), Verdict::Deny);
        let rw = r#"{"hookSpecificOutput":{"permissionDecision":"allow","updatedInput":{"command":"/usr/bin/cordon run -- bash -c 'ls'"}}}"#;
        assert_eq!(
            classify(Claude, Some(0), rw),
            Verdict::Allow { rewritten: true }
        );
        assert_eq!(
            classify(Claude, Some(0), ""),
            Verdict::Allow { rewritten: false }
        );
        assert_eq!(
            classify(Gemini, Some(0), r#"{"decision":"block"}"#),
            Verdict::Deny
        );
        assert_eq!(
            classify(Cursor, Some(0), r#"{"permission":"ask"}"#),
            Verdict::Ask
        );
        assert_eq!(
            classify(Copilot, Some(0), r#"{"permissionDecision":"deny"}"#),
            Verdict::Deny
        );
        assert_eq!(
            classify(Goose, Some(0), r#"{"decision":"block","reason":"x"}"#),
            Verdict::Deny
        );
        // What an agent would take as "allow" by accident is not an answer.
        assert!(matches!(classify(Claude, Some(1), ""), Verdict::Garbled(_)));
        assert!(matches!(classify(Claude, None, ""), Verdict::Garbled(_)));
        assert!(matches!(
            classify(Claude, Some(0), "ok"),
            Verdict::Garbled(_)
        ));
        assert!(matches!(
            classify(Cursor, Some(0), r#"{"permission":"maybe"}"#),
            Verdict::Garbled(_)
        ));
    }
}
