//! Asking: a remembered grant, else a person on the terminal, else the approver command.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cordon_config::grants::{self, Grant, Script};
use cordon_policy::unicode;
use cordon_policy::Decision;
use cordon_sandbox::host;
use cordon_sandbox::spec::Pinned;
use serde::Deserialize;

use super::scripts::Bound;
use super::{
    display_argv, record, Answer, AnsweredBy, ApprovalRecord, Ctx, Question, Settings,
    APPROVER_TIMEOUT_MS,
};

/// Grant, then terminal, then approver; none → deny. With the record, the files pinned for the
/// run: those of the grant that answered, or of the one stored (allow for the project).
pub(super) fn ask(
    cx: &Ctx,
    q: &Question,
    decision: &Decision,
    rule: &str,
    reason: &str,
) -> (ApprovalRecord, Vec<Pinned>) {
    let (scripts, pins) = split_bound(cx.scripts());
    let r = ask_who(cx, q, decision, rule, reason, &scripts);
    let pinned = r.answered_by == AnsweredBy::Grant || r.answer == Answer::AllowProject;
    (r, if pinned { pins } else { Vec::new() })
}

/// The definitions and, when every file exists, the files read (a missing file cannot be
/// pinned: no grant then).
fn split_bound(bound: Result<Vec<Bound>, String>) -> (Result<Vec<Script>, String>, Vec<Pinned>) {
    let bound = match bound {
        Ok(b) => b,
        Err(e) => return (Err(e), Vec::new()),
    };
    let mut scripts = Vec::new();
    let mut pins: Vec<Pinned> = Vec::new();
    for (s, p) in bound {
        match p {
            Some(p) => {
                if !pins.iter().any(|q| q.path == p.path) {
                    pins.push(p);
                }
            }
            None => {
                return (
                    Err(format!(
                        "{} does not exist, so a grant could not hold it to its content",
                        s.file.display()
                    )),
                    Vec::new(),
                )
            }
        }
        scripts.push(s);
    }
    (Ok(scripts), pins)
}

fn ask_who(
    cx: &Ctx,
    q: &Question,
    decision: &Decision,
    rule: &str,
    reason: &str,
    scripts: &Result<Vec<Script>, String>,
) -> ApprovalRecord {
    let rec = |by, answer, id: Option<String>, note: &str| {
        record(cx, q.stage, q.unsandboxed, by, answer, id, note)
    };
    // 1. A remembered grant (never for a rerun outside the sandbox).
    if !q.unsandboxed && !cx.skip_grants {
        if let Some(id) = remembered(cx, scripts) {
            return rec(
                AnsweredBy::Grant,
                Answer::AllowOnce,
                Some(id),
                "remembered grant",
            );
        }
    }
    let project_ok = !q.unsandboxed && scripts.is_ok();
    let text = prompt_text(cx, q, decision, rule, reason, scripts);
    // 2. A person on the terminal.
    let tty_err = match host::open_tty() {
        Ok(tty) => {
            let answer = prompt_tty(&tty, &text, project_ok);
            let (answer, id, note) = store_if_project(cx, answer, scripts, "tty", "");
            return rec(AnsweredBy::Tty, answer, id, &note);
        }
        Err(e) => e,
    };
    // 3. The approver command (never for a rerun outside the sandbox: that takes a person).
    let cmd_line = display_argv(&cx.spec.argv);
    if q.unsandboxed {
        errln!(
            "cordon: not rerun outside the sandbox: that needs a person's yes on a terminal (/dev/tty: {tty_err})"
        );
        return rec(
            AnsweredBy::None,
            Answer::Deny,
            None,
            "no terminal for a rerun outside the sandbox",
        );
    }
    ask_approver(
        cx,
        q,
        &cmd_line,
        &tty_err.to_string(),
        (decision, rule, reason),
        scripts,
        project_ok,
    )
}

/// The remembered grant that answers this question, if one does (its id).
fn remembered(cx: &Ctx, scripts: &Result<Vec<Script>, String>) -> Option<String> {
    let scripts = scripts.as_ref().ok()?;
    let all = match cx.grants.load() {
        Ok(all) => all,
        Err(e) => {
            errln!("cordon: warning: remembered grants ignored: {e}");
            return None;
        }
    };
    let g = grants::find(
        &all,
        &cx.spec.workspace,
        &cx.spec.argv,
        scripts,
        &cx.requested(),
    )?;
    errln!(
        "cordon: approved by the remembered grant {} ('cordon grants revoke {}' to forget it)",
        g.id,
        g.id
    );
    Some(g.id.clone())
}

/// 3. The approver command from the config (no terminal could be asked).
#[allow(clippy::too_many_arguments)]
fn ask_approver(
    cx: &Ctx,
    q: &Question,
    cmd_line: &str,
    tty_err: &str,
    (decision, rule, reason): (&Decision, &str, &str),
    scripts: &Result<Vec<Script>, String>,
    project_ok: bool,
) -> ApprovalRecord {
    let rec = |by, answer, id: Option<String>, note: &str| {
        record(cx, q.stage, q.unsandboxed, by, answer, id, note)
    };
    let requested = cx.requested();
    let Some(approver) = &cx.settings.approver else {
        let where_ = cx
            .settings
            .source
            .clone()
            .clone()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.config/cordon/config.toml".into());
        errln!(
            "cordon: not approved: {cmd_line}: {} and nobody can be asked: no terminal (/dev/tty: {tty_err}) and no approver configured; \
             add approver = [\"/path/to/approver\"] to {where_}, or run cordon from a terminal",
            q.title
        );
        return rec(
            AnsweredBy::None,
            Answer::Deny,
            None,
            "no terminal and no approver",
        );
    };
    let request = serde_json::json!({
        "version": 1,
        "stage": q.stage,
        "mode": cx.mode.as_str(),
        "command": cmd_line,
        "argv": cx.spec.argv,
        "cwd": cx.spec.cwd,
        "workspace": cx.spec.workspace,
        "decision": decision.as_str(),
        "rule": rule,
        "reason": reason,
        "escalations": requested,
        "allow_project": project_ok,
    });
    let timeout = cx
        .settings
        .approver_timeout_ms()
        .unwrap_or(APPROVER_TIMEOUT_MS);
    let shown = display_argv(approver);
    let (answer, why) = match run_approver(approver, &request.to_string(), timeout) {
        Ok((Answer::Deny, why)) => {
            errln!(
                "cordon: not approved: {cmd_line}: the approver {shown} said no: {}",
                unicode::escape(&why)
            );
            (Answer::Deny, why)
        }
        Ok((a, why)) => {
            errln!(
                "cordon: approved by the approver {shown}: {}",
                unicode::escape(&why)
            );
            (a, why)
        }
        Err(why) => {
            errln!(
                "cordon: not approved: {cmd_line}: the approver {shown} gave no valid answer, which counts as deny: {}",
                unicode::escape(&why)
            );
            (Answer::Deny, why)
        }
    };
    let answer = if answer == Answer::AllowProject && !project_ok {
        Answer::AllowOnce
    } else {
        answer
    };
    let (answer, id, note) = store_if_project(cx, answer, scripts, "approver", &why);
    rec(AnsweredBy::Approver, answer, id, &note)
}

/// Stores a grant for an allow-for-project answer; if it cannot be stored, it was allowed once.
fn store_if_project(
    cx: &Ctx,
    answer: Answer,
    scripts: &Result<Vec<Script>, String>,
    by: &str,
    why: &str,
) -> (Answer, Option<String>, String) {
    let (Answer::AllowProject, Ok(scripts)) = (answer, scripts) else {
        return (answer, None, why.to_string());
    };
    let g = Grant {
        id: String::new(),
        created_ms: 0,
        workspace: cx.spec.workspace.clone(),
        argv: cx.spec.argv.clone(),
        scripts: scripts.clone(),
        escalations: cx.requested(),
        approved_by: by.into(),
        reason: why.into(),
    };
    match cx.grants.add(g) {
        Ok(g) => {
            errln!(
                "cordon: remembered for this project as grant {} ('cordon grants revoke {}' to forget it)",
                g.id, g.id
            );
            (Answer::AllowProject, Some(g.id), why.to_string())
        }
        Err(e) => {
            errln!("cordon: warning: the grant could not be stored ({e}); allowed this once");
            (Answer::AllowOnce, None, format!("grant not stored: {e}"))
        }
    }
}

fn prompt_text(
    cx: &Ctx,
    q: &Question,
    decision: &Decision,
    rule: &str,
    reason: &str,
    scripts: &Result<Vec<Script>, String>,
) -> String {
    let mut t = format!("\ncordon: approval needed: {}\n", q.title);
    t += &format!("  command:   {}\n", display_argv(&cx.spec.argv));
    t += &format!(
        "  in:        {}\n",
        unicode::escape(&cx.spec.cwd.display().to_string())
    );
    t += &format!(
        "  workspace: {}\n",
        unicode::escape(&cx.spec.workspace.display().to_string())
    );
    t += &format!(
        "  policy:    {} ({}): {}\n",
        decision.as_str(),
        unicode::escape(rule),
        unicode::escape(reason)
    );
    if q.unsandboxed {
        t += "  grants:    a rerun OUTSIDE the sandbox, with your full access (files, secrets, network)\n";
    } else if cx.escalations.is_empty() {
        t += "  grants:    running it, inside the sandbox (nothing beyond the sandbox)\n";
    } else {
        for (i, e) in cx.escalations.iter().enumerate() {
            t += &format!(
                "  {}{}\n",
                if i == 0 { "grants:    " } else { "           " },
                e.describe()
            );
        }
        if q.stage == "after-failure" {
            t += "             (a rerun, inside the sandbox)\n";
        }
    }
    match scripts {
        Ok(s) if !q.unsandboxed => {
            for s in s {
                let what = if s.entry.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", s.entry)
                };
                t += &format!(
                    "  pinned to: {}{what}\n",
                    unicode::escape(&s.file.display().to_string())
                );
            }
        }
        Err(e) if !q.unsandboxed => t += &format!("  note:      {}\n", unicode::escape(e)),
        _ => {}
    }
    t
}

/// Written before a question: normal attributes, main screen, visible cursor, full scroll
/// region, start of line.
const TERM_RESET: &str = "\x1b[0m\x1b[?1049l\x1b[?25h\x1b[r\r\n";

/// Asks on the terminal: line mode with echo for the answer, type-ahead discarded (nothing typed
/// before the question was shown can answer it), the terminal's settings restored after.
fn prompt_tty(file: &File, text: &str, project_ok: bool) -> Answer {
    let mode = host::LineMode::new(file);
    let mut tty = file;
    let choices = if project_ok {
        "  [y] allow once   [p] allow for this project (remembered)   [n] deny (default)\ncordon: allow? [y/p/N] "
    } else {
        "  [y] allow once   [n] deny (default)\ncordon: allow? [y/N] "
    };
    let mut answer = Answer::Deny;
    for attempt in 0..3 {
        mode.discard_input();
        let _ = if attempt == 0 {
            // A command that ran before (on-failure) may have left the terminal showing text
            // in the background colour, on the alternate screen or with the cursor hidden:
            // reset what would hide the question (SGR attributes, alternate screen, cursor
            // visibility, scroll region) without clearing the screen.
            tty.write_all(format!("{TERM_RESET}{text}{choices}").as_bytes())
        } else {
            tty.write_all(b"cordon: answer y, p or n: ")
        };
        let _ = tty.flush();
        let line = read_line(file);
        let Some(line) = line else { break }; // EOF
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => answer = Answer::AllowOnce,
            "p" if project_ok => answer = Answer::AllowProject,
            "" | "n" | "no" => answer = Answer::Deny,
            _ => continue,
        }
        break;
    }
    let said = match answer {
        Answer::AllowOnce => "cordon: allowed once\n",
        Answer::AllowProject => "cordon: allowed for this project\n",
        Answer::Deny => "cordon: denied\n",
    };
    let _ = tty.write_all(said.as_bytes());
    drop(mode); // the terminal's settings back
    answer
}

/// One line from the terminal (at most 256 bytes are kept); None on EOF before a newline.
fn read_line(mut tty: &File) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match tty.read(&mut b) {
            Ok(0) => return None,
            Ok(_) if b[0] == b'\n' => break,
            Ok(_) => {
                if line.len() < 256 {
                    line.push(b[0]);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
    Some(String::from_utf8_lossy(&line).into_owned())
}

#[derive(Deserialize)]
struct ApproverAnswer {
    decision: String,
    #[serde(default)]
    reason: String,
}

/// Runs the approver outside the sandbox: one JSON object on stdin, one on stdout. A non-zero
/// exit, bad JSON, an unknown decision or the timeout is deny (with the reason why).
fn run_approver(
    cmd: &[String],
    request: &str,
    timeout_ms: u64,
) -> Result<(Answer, String), String> {
    let shown = display_argv(cmd);
    let mut child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the approver {shown}: {e}"))?;
    let pid = child.id();
    let mut stdin = child.stdin.take();
    let req = request.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(&req);
        }
    });
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        stdout
            .as_mut()
            .map(|s| read_capped(s, 64 * 1024))
            .unwrap_or_default()
    });
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    let Some(status) = status else {
        // Its whole process group: a shell script's children too.
        host::kill_process_group(pid);
        let _ = child.wait();
        return Err(format!(
            "no answer within {} ms (approver_timeout)",
            timeout_ms
        ));
    };
    let _ = writer.join();
    // Children it left holding stdout would keep the reader waiting: end them.
    host::kill_process_group(pid);
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("it exited with {status}"));
    }
    let a: ApproverAnswer = serde_json::from_slice(&out).map_err(|e| {
        format!(
            "its answer is not {{\"decision\":\"allow\"|\"allow_project\"|\"deny\",\"reason\":\"...\"}} ({e})"
        )
    })?;
    let answer = match a.decision.as_str() {
        "allow" => Answer::AllowOnce,
        "allow_project" => Answer::AllowProject,
        "deny" => Answer::Deny,
        other => {
            return Err(format!(
                "unknown decision {:?} (allow, allow_project or deny)",
                unicode::escape(other)
            ))
        }
    };
    let reason = if a.reason.is_empty() {
        "no reason given".to_string()
    } else {
        a.reason
    };
    Ok((answer, reason))
}

/// Reads at most `max` bytes (an approver's answer).
fn read_capped(r: &mut impl Read, max: usize) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = r.take(max as u64).read_to_end(&mut v);
    v
}

/// A question that is not about running a command (an MCP tool call, say): asked of a person on
/// the terminal, else of the approver (with `request` as its JSON), else nobody: deny. Only
/// "allow once" is offered. Returns who answered, the answer and a note.
pub fn ask_other(
    settings: &Settings,
    text: &str,
    request: serde_json::Value,
) -> (AnsweredBy, Answer, String) {
    let tty_err = match host::open_tty() {
        Ok(tty) => {
            return (
                AnsweredBy::Tty,
                prompt_tty(&tty, text, false),
                String::new(),
            )
        }
        Err(e) => e,
    };
    let Some(approver) = &settings.approver else {
        let where_ = settings
            .source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.config/cordon/config.toml".into());
        return (
            AnsweredBy::None,
            Answer::Deny,
            format!("nobody can be asked: no terminal (/dev/tty: {tty_err}) and no approver configured (approver = [...] in {where_})"),
        );
    };
    let timeout = settings
        .approver_timeout_ms()
        .unwrap_or(APPROVER_TIMEOUT_MS);
    match run_approver(approver, &request.to_string(), timeout) {
        Ok((Answer::Deny, why)) => (AnsweredBy::Approver, Answer::Deny, why),
        Ok((_, why)) => (AnsweredBy::Approver, Answer::AllowOnce, why),
        Err(why) => (
            AnsweredBy::Approver,
            Answer::Deny,
            format!("the approver gave no valid answer, which counts as deny: {why}"),
        ),
    }
}
