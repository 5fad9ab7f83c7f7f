//! Approvals: each `--approval` mode driven through a pseudo-terminal (answers typed at the
//! prompt) and through an approver command; remembered grants and what makes them ask again;
//! deny is never promptable; no terminal and no approver is deny; a sandboxed command cannot add
//! a grant. Each test checks the effect (the file written or not, what the approver received).

mod harness;

use std::fs;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use harness::{code, text, Case};

/// What a run under a pseudo-terminal gave: the process output and what it wrote on the terminal.
struct TtyRun {
    out: Output,
    tty: String,
}

impl TtyRun {
    fn all(&self) -> String {
        format!("{}\n--- terminal ---\n{}", text(&self.out), self.tty)
    }
    fn prompted(&self) -> bool {
        self.tty.contains("cordon: approval needed")
    }
}

fn cloexec(fd: i32) {
    // SAFETY: fcntl on a descriptor the caller owns; no memory is passed.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

/// Runs `cmd` with a fresh pseudo-terminal as its controlling terminal (stdin stays /dev/null,
/// stdout/stderr are pipes: the prompt can only be on /dev/tty). For each `(expect, answer)`,
/// waits until `expect` appears on the terminal, then types `answer`.
fn on_tty(cmd: Command, script: &[(&str, &str)]) -> TtyRun {
    on_tty_typed_ahead(cmd, "", script)
}

/// Like `on_tty`, with `ahead` typed on the terminal before cordon even starts.
fn on_tty_typed_ahead(mut cmd: Command, ahead: &str, script: &[(&str, &str)]) -> TtyRun {
    let (mut m, mut s) = (0, 0);
    // SAFETY: openpty writes the two descriptors into `m` and `s`; the other arguments may be
    // null.
    let rc = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    cloexec(m);
    cloexec(s);
    // SAFETY: `m` and `s` are new descriptors from openpty that nothing else owns.
    let master = unsafe { fs::File::from_raw_fd(m) };
    // SAFETY: as above.
    let slave = unsafe { fs::File::from_raw_fd(s) };
    (&master).write_all(ahead.as_bytes()).unwrap();
    // SAFETY: the closure runs in the forked child before exec and only calls setsid and
    // ioctl(TIOCSCTTY), which are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(s, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn cordon");
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut reader = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut b = [0u8; 4096];
        while let Ok(n) = reader.read(&mut b) {
            if n == 0 || tx.send(b[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    let mut seen = String::new();
    let mut pos = 0;
    let mut writer = master;
    for (expect, answer) in script {
        // A guard against a hang, not a timing assertion.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(i) = seen[pos..].find(expect) {
                pos += i + expect.len();
                break;
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(b) => seen.push_str(&String::from_utf8_lossy(&b)),
                Err(_) if waiter.is_finished() || Instant::now() > deadline => {
                    while let Ok(b) = rx.recv_timeout(Duration::from_millis(200)) {
                        seen.push_str(&String::from_utf8_lossy(&b));
                    }
                    if seen[pos..].contains(expect) {
                        continue;
                    }
                    let out = waiter.join().unwrap();
                    panic!(
                        "never saw {expect:?} on the terminal.\n{}\n--- terminal ---\n{seen}",
                        text(&out)
                    );
                }
                Err(_) => {}
            }
        }
        writer.write_all(answer.as_bytes()).unwrap();
    }
    let out = waiter.join().unwrap();
    while let Ok(b) = rx.recv_timeout(Duration::from_millis(300)) {
        seen.push_str(&String::from_utf8_lossy(&b));
    }
    drop(slave);
    TtyRun { out, tty: seen }
}

/// Runs `cmd` in a new session without a controlling terminal: /dev/tty cannot be opened.
fn no_tty(mut cmd: Command) -> Output {
    // SAFETY: the closure runs in the forked child before exec and only calls setsid, which
    // is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.output().expect("run cordon")
}

const PROMPT: &str = "allow? [y/p/N] ";
const PROMPT_NO_P: &str = "allow? [y/N] ";

/// `cordon run ARGS` with the policy consulted.
fn run(c: &Case, args: &[&str]) -> Command {
    let mut v = vec!["run"];
    v.extend_from_slice(args);
    c.command_with_policy(&v)
}

fn outside(c: &Case, name: &str) -> String {
    c.outside.join(name).to_str().unwrap().to_string()
}

/// Configures an approver script (body after `#!/bin/sh`) that first saves what it received in
/// `<base>/got.json`.
fn set_approver(c: &Case, body: &str, timeout: Option<&str>) {
    let script = c.base.join("approver.sh");
    fs::write(
        &script,
        format!("#!/bin/sh\ncat > {}/got.json\n{body}\n", c.base.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let mut cfg = format!(
        "# other keys belong to other parts of cordon\nmode = \"workspace-write\"\napprover = [\"{}\"]\n",
        script.display()
    );
    if let Some(t) = timeout {
        cfg += &format!("approver_timeout = \"{t}\"\n");
    }
    c.write(".config/cordon/config.toml", &cfg);
    let _ = fs::remove_file(c.base.join("got.json"));
    c.chown_all();
}

fn answer(decision: &str) -> String {
    format!("echo '{{\"decision\":\"{decision}\",\"reason\":\"test approver\"}}'")
}

fn got(c: &Case) -> Option<serde_json::Value> {
    let t = fs::read_to_string(c.base.join("got.json")).ok()?;
    Some(serde_json::from_str(&t).unwrap_or_else(|e| panic!("approver got bad JSON {t:?}: {e}")))
}

fn grants_json(c: &Case) -> Option<String> {
    c.read(".config/cordon/grants.json")
}

// ---------------------------------------------------------------------------------------------
// Through a pseudo-terminal.

/// untrusted: policy ask prompts (n refuses, y runs); allow runs without a prompt; deny is
/// refused without a prompt.
fn untrusted_tty(c: &Case) {
    let made = c.ws.join("made");
    let r = on_tty(
        run(c, &["--approval", "untrusted", "--", "touch", "made"]),
        &[(PROMPT, "n\n")],
    );
    assert_eq!(code(&r.out), 126, "{}", r.all());
    assert!(!made.exists(), "denied, yet it ran: {}", r.all());
    assert!(r.tty.contains("command:   touch made"), "{}", r.all());
    assert!(
        r.tty.contains("policy:    ask (builtin:default)"),
        "{}",
        r.all()
    );
    assert!(r.tty.contains("nothing beyond the sandbox"), "{}", r.all());
    // Nothing of the prompt on stdout (it belongs to the command).
    assert!(
        !String::from_utf8_lossy(&r.out.stdout).contains("approval"),
        "{}",
        r.all()
    );

    let r = on_tty(
        run(c, &["--approval", "untrusted", "--", "touch", "made"]),
        &[(PROMPT, "y\n")],
    );
    assert_eq!(code(&r.out), 0, "{}", r.all());
    assert!(made.exists(), "allowed, yet it did not run: {}", r.all());

    // Whatever was typed before the question was shown does not answer it.
    let r = on_tty_typed_ahead(
        run(c, &["--approval", "untrusted", "--", "touch", "ahead"]),
        "y\n",
        &[(PROMPT, "n\n")],
    );
    assert_eq!(code(&r.out), 126, "{}", r.all());
    assert!(
        !c.ws.join("ahead").exists(),
        "type-ahead answered: {}",
        r.all()
    );

    // An empty answer (Enter) is deny.
    let r = on_tty(
        run(c, &["--approval", "untrusted", "--", "touch", "made2"]),
        &[(PROMPT, "\n")],
    );
    assert_eq!(code(&r.out), 126, "{}", r.all());
    assert!(!c.ws.join("made2").exists());

    let r = on_tty(
        run(
            c,
            &["--approval", "untrusted", "--", "sh", "-c", "ls > listing"],
        ),
        &[],
    );
    assert_eq!(code(&r.out), 0, "{}", r.all());
    assert!(!r.prompted(), "allow prompted: {}", r.all());
    assert!(c.ws.join("listing").exists());

    // deny is never promptable, in any mode.
    for mode in ["untrusted", "on-request", "on-failure"] {
        let r = on_tty(
            run(
                c,
                &[
                    "--approval",
                    mode,
                    "--escalate",
                    "write:/var/tmp",
                    "--",
                    "sudo",
                    "touch",
                    "made3",
                ],
            ),
            &[],
        );
        assert_eq!(code(&r.out), 126, "{mode}: {}", r.all());
        assert!(!r.prompted(), "{mode}: deny prompted: {}", r.all());
        assert!(text(&r.out).contains("builtin:privilege"), "{}", r.all());
    }
}

/// on-request (the default): ask runs without a prompt; an escalation prompts and is granted
/// only on yes.
fn on_request_tty(c: &Case) {
    let r = on_tty(run(c, &["--", "touch", "made"]), &[]);
    assert_eq!(code(&r.out), 0, "{}", r.all());
    assert!(!r.prompted(), "{}", r.all());
    assert!(c.ws.join("made").exists());

    let target = outside(c, "new.txt");
    let script = format!("echo granted > {target}");
    let want = format!("write access to {}", c.outside.display());
    let args = [
        "--escalate",
        &format!("write:{}", c.outside.display()),
        "--",
        "sh",
        "-c",
        &script,
    ];
    let r = on_tty(run(c, &args), &[(PROMPT, "n\n")]);
    assert_eq!(code(&r.out), 126, "{}", r.all());
    assert!(r.tty.contains(&want), "{}", r.all());
    assert!(
        !c.outside.join("new.txt").exists(),
        "denied, yet written: {}",
        r.all()
    );

    let r = on_tty(run(c, &args), &[(PROMPT, "y\n")]);
    assert_eq!(code(&r.out), 0, "{}", r.all());
    assert_eq!(
        c.read("outside/new.txt").as_deref(),
        Some("granted\n"),
        "{}",
        r.all()
    );
    // Once means once: the next run asks again.
    let r = on_tty(run(c, &args), &[(PROMPT, "n\n")]);
    assert_eq!(code(&r.out), 126, "{}", r.all());
    assert!(grants_json(c).is_none());
}

/// on-failure: the sandboxed run fails, then a rerun with the escalation (y) or outside the
/// sandbox (a person's y only; no "for this project").
fn on_failure_tty(c: &Case) {
    let target = outside(c, "f.txt");
    let script = format!("echo rerun > {target}");
    let esc = format!("write:{}", c.outside.display());
    let r = on_tty(
        run(
            c,
            &[
                "--approval",
                "on-failure",
                "--escalate",
                &esc,
                "--",
                "sh",
                "-c",
                &script,
            ],
        ),
        &[(PROMPT, "y\n")],
    );
    assert_eq!(code(&r.out), 0, "{}", r.all());
    assert!(r.tty.contains("failed in the sandbox"), "{}", r.all());
    assert!(r.tty.contains("write access to"), "{}", r.all());
    assert_eq!(
        c.read("outside/f.txt").as_deref(),
        Some("rerun\n"),
        "{}",
        r.all()
    );

    // A command that hides the terminal's text (concealed attribute, alternate screen) before
    // failing cannot hide the question: the reset comes after it and before the prompt.
    let args = [
        "--approval",
        "on-failure",
        "--escalate",
        &esc,
        "--",
        "sh",
        "-c",
        "printf '\\033[8m\\033[?1049h' > /dev/tty; exit 1",
    ];
    let r = on_tty(run(c, &args), &[(PROMPT, "n\n")]);
    let hide = r
        .tty
        .rfind("\x1b[8m")
        .unwrap_or_else(|| panic!("{}", r.all()));
    let reset = r
        .tty
        .rfind("\x1b[0m\x1b[?1049l")
        .unwrap_or_else(|| panic!("{}", r.all()));
    let question = r
        .tty
        .rfind("failed in the sandbox")
        .unwrap_or_else(|| panic!("{}", r.all()));
    assert!(hide < reset && reset < question, "{}", r.all());

    // No escalation: the offer is a rerun outside the sandbox. n keeps the failure.
    let target = outside(c, "g.txt");
    let script = format!("echo unsandboxed > {target}");
    let args = ["--approval", "on-failure", "--", "sh", "-c", &script];
    let r = on_tty(run(c, &args), &[(PROMPT_NO_P, "n\n")]);
    assert_ne!(code(&r.out), 0, "{}", r.all());
    assert!(r.tty.contains("OUTSIDE the sandbox"), "{}", r.all());
    assert!(!c.outside.join("g.txt").exists(), "{}", r.all());
    // p is not an answer here: three wrong answers are deny.
    let r = on_tty(
        run(c, &args),
        &[
            (PROMPT_NO_P, "p\n"),
            ("answer y, p or n: ", "p\n"),
            ("answer y, p or n: ", "p\n"),
        ],
    );
    assert_ne!(code(&r.out), 0, "{}", r.all());
    assert!(!c.outside.join("g.txt").exists(), "{}", r.all());
    assert!(
        grants_json(c).is_none(),
        "a grant for an unsandboxed rerun was stored"
    );

    let r = on_tty(run(c, &args), &[(PROMPT_NO_P, "y\n")]);
    assert_eq!(code(&r.out), 0, "{}", r.all());
    assert_eq!(
        c.read("outside/g.txt").as_deref(),
        Some("unsandboxed\n"),
        "{}",
        r.all()
    );

    // Already unsandboxed: nothing to offer, and nothing runs twice.
    let script = format!("echo once >> {}; exit 3", outside(c, "once.txt"));
    let r = on_tty(
        run(
            c,
            &[
                "--mode",
                "danger-full-access",
                "--approval",
                "on-failure",
                "--",
                "sh",
                "-c",
                &script,
            ],
        ),
        &[],
    );
    assert_eq!(code(&r.out), 3, "{}", r.all());
    assert!(!r.prompted(), "{}", r.all());
    assert_eq!(
        c.read("outside/once.txt").as_deref(),
        Some("once\n"),
        "{}",
        r.all()
    );

    // A command that succeeds is not asked about.
    let r = on_tty(
        run(
            c,
            &["--approval", "on-failure", "--escalate", &esc, "--", "true"],
        ),
        &[],
    );
    assert_eq!(code(&r.out), 0, "{}", r.all());
    assert!(!r.prompted(), "{}", r.all());
}

/// never: no prompt even with a terminal; escalations refused with the reason; ask runs.
fn never_tty(c: &Case) {
    let target = outside(c, "n.txt");
    let script = format!("echo x > {target}");
    let esc = format!("write:{}", c.outside.display());
    let r = on_tty(
        run(
            c,
            &[
                "--approval",
                "never",
                "--escalate",
                &esc,
                "--",
                "sh",
                "-c",
                &script,
            ],
        ),
        &[],
    );
    assert_eq!(code(&r.out), 126, "{}", r.all());
    assert!(!r.prompted(), "{}", r.all());
    let t = text(&r.out);
    assert!(
        t.contains("--approval never") && t.contains("--writable"),
        "{t}"
    );
    assert!(!c.outside.join("n.txt").exists());

    let r = on_tty(run(c, &["--approval", "never", "--", "touch", "made"]), &[]);
    assert_eq!(code(&r.out), 0, "{}", r.all());
    assert!(!r.prompted());
    assert!(c.ws.join("made").exists());
}

/// What the prompt shows of a command is escaped: no raw control characters reach the terminal.
fn prompt_escapes(c: &Case) {
    let name = "a\u{200b}b\x1b[31mred";
    let r = on_tty(
        run(c, &["--approval", "untrusted", "--", "touch", name]),
        &[(PROMPT, "n\n")],
    );
    assert_eq!(code(&r.out), 126, "{}", r.all());
    assert!(r.tty.contains("a<U+200B>b<U+001B>[31mred"), "{}", r.all());
    assert!(
        !r.tty.contains("\x1b[31m"),
        "raw escape sequence on the terminal: {}",
        r.all()
    );
}

/// `npm test` allowed for the project: not asked again until package.json's test script changes
/// (another script changing does not matter).
fn npm_test_grant(c: &Case) {
    c.write(
        "proj/package.json",
        r#"{"name":"p","version":"1.0.0","scripts":{"test":"echo one > ran.txt","build":"true"}}"#,
    );
    c.chown_all();
    let args = ["--approval", "untrusted", "--", "npm", "test"];
    let r = on_tty(run(c, &args), &[(PROMPT, "p\n")]);
    assert_eq!(code(&r.out), 0, "{}", r.all());
    assert!(
        r.tty.contains("pinned to:") && r.tty.contains("scripts.test"),
        "{}",
        r.all()
    );
    assert_eq!(
        c.read("proj/ran.txt").as_deref(),
        Some("one\n"),
        "{}",
        r.all()
    );
    let g = grants_json(c).expect("grant stored");
    assert!(g.contains("scripts.test") && g.contains("\"npm\""), "{g}");

    fs::remove_file(c.ws.join("ran.txt")).unwrap();
    c.write(
        "proj/package.json",
        r#"{"name":"p","version":"1.0.0","scripts":{"test":"echo one > ran.txt","build":"false"}}"#,
    );
    let r = on_tty(run(c, &args), &[]);
    assert_eq!(code(&r.out), 0, "{}", r.all());
    assert!(
        !r.prompted(),
        "asked again though the test script is the same: {}",
        r.all()
    );
    assert!(text(&r.out).contains("remembered grant"), "{}", r.all());
    assert_eq!(c.read("proj/ran.txt").as_deref(), Some("one\n"));

    fs::remove_file(c.ws.join("ran.txt")).unwrap();
    c.write(
        "proj/package.json",
        r#"{"name":"p","version":"1.0.0","scripts":{"test":"echo two > ran.txt","build":"false"}}"#,
    );
    let r = on_tty(run(c, &args), &[(PROMPT, "n\n")]);
    assert_eq!(code(&r.out), 126, "{}", r.all());
    assert!(r.prompted(), "{}", r.all());
    assert!(
        !c.ws.join("ran.txt").exists(),
        "the edited script ran without a question"
    );
    // A pretest hook appearing asks again too.
    c.write(
        "proj/package.json",
        r#"{"name":"p","version":"1.0.0","scripts":{"test":"echo one > ran.txt","pretest":"echo hook > hook.txt"}}"#,
    );
    let r = on_tty(run(c, &args), &[(PROMPT, "n\n")]);
    assert_eq!(code(&r.out), 126, "{}", r.all());
    assert!(!c.ws.join("hook.txt").exists());
}

// ---------------------------------------------------------------------------------------------
// Through the approver command (no terminal).

fn approver_modes(c: &Case) {
    // untrusted: ask goes to the approver, which sees the command and the decision.
    set_approver(c, &answer("allow"), None);
    let o = no_tty(run(
        c,
        &[
            "--approval",
            "untrusted",
            "--explain",
            "--",
            "touch",
            "made",
        ],
    ));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(c.ws.join("made").exists());
    // The record for the audit log: who answered, what.
    let rec = text(&o)
        .lines()
        .find_map(|l| l.strip_prefix("cordon: approval: "))
        .map(|j| serde_json::from_str::<serde_json::Value>(j).unwrap())
        .expect("an approval record with --explain");
    assert_eq!(rec["answered_by"], "approver", "{rec}");
    assert_eq!(rec["answer"], "allow_once", "{rec}");
    assert_eq!(rec["note"], "test approver", "{rec}");
    let g = got(c).expect("the approver was asked");
    assert_eq!(g["decision"], "ask");
    assert_eq!(g["mode"], "untrusted");
    assert_eq!(g["argv"], serde_json::json!(["touch", "made"]));
    assert_eq!(g["rule"], "builtin:default");
    assert_eq!(
        g["workspace"],
        c.ws.canonicalize().unwrap().to_str().unwrap()
    );
    assert_eq!(g["stage"], "before-run");

    // on-request: the approver says deny; the escalation is not granted and nothing runs.
    set_approver(c, &answer("deny"), None);
    let esc = format!("write:{}", c.outside.display());
    let script = format!("echo x > {}", outside(c, "a.txt"));
    let o = no_tty(run(c, &["--escalate", &esc, "--", "sh", "-c", &script]));
    assert_eq!(code(&o), 126, "{}", text(&o));
    assert!(text(&o).contains("said no: test approver"), "{}", text(&o));
    assert!(!c.outside.join("a.txt").exists());
    let g = got(c).expect("asked");
    assert_eq!(g["escalations"][0], esc.as_str());
    assert_eq!(g["mode"], "on-request");

    // on-failure: a rerun with the escalation, approved by the approver.
    set_approver(c, &answer("allow"), None);
    let o = no_tty(run(
        c,
        &[
            "--approval",
            "on-failure",
            "--escalate",
            &esc,
            "--",
            "sh",
            "-c",
            &script,
        ],
    ));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(c.read("outside/a.txt").as_deref(), Some("x\n"));
    assert_eq!(got(c).expect("asked")["stage"], "after-failure");

    // on-failure without escalations: a rerun outside the sandbox takes a person, never the
    // approver.
    set_approver(c, &answer("allow"), None);
    let script_b = format!("echo x > {}", outside(c, "b.txt"));
    let o = no_tty(run(
        c,
        &["--approval", "on-failure", "--", "sh", "-c", &script_b],
    ));
    assert_ne!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("needs a person"), "{}", text(&o));
    assert!(
        got(c).is_none(),
        "the approver was asked about an unsandboxed rerun"
    );
    assert!(!c.outside.join("b.txt").exists());

    // never: the approver is not asked.
    let o = no_tty(run(
        c,
        &[
            "--approval",
            "never",
            "--escalate",
            &esc,
            "--",
            "sh",
            "-c",
            &script_b,
        ],
    ));
    assert_eq!(code(&o), 126, "{}", text(&o));
    assert!(got(c).is_none());
    assert!(!c.outside.join("b.txt").exists());
}

/// A failing, silent, slow or confused approver is deny.
fn approver_failures(c: &Case) {
    let cases: [(&str, Option<&str>, &str); 5] = [
        (
            "echo '{\"decision\":\"allow\"}'; exit 3",
            None,
            "exited with",
        ),
        ("echo 'yes please'", None, "not {"),
        ("echo '{\"decision\":\"sure\"}'", None, "unknown decision"),
        (
            "sleep 30; echo '{\"decision\":\"allow\"}'",
            Some("1s"),
            "no answer within",
        ),
        ("exec 0<&-; exit 0", None, "not {"),
    ];
    for (body, timeout, why) in cases {
        set_approver(c, body, timeout);
        let o = no_tty(run(c, &["--approval", "untrusted", "--", "touch", "made"]));
        assert_eq!(code(&o), 126, "{body}: {}", text(&o));
        assert!(text(&o).contains(why), "{body}: {}", text(&o));
        assert!(!c.ws.join("made").exists(), "{body}: ran");
    }
}

/// No terminal and no approver: ask is deny, and the message says how to configure one.
fn nobody_to_ask(c: &Case) {
    let o = no_tty(run(c, &["--approval", "untrusted", "--", "touch", "made"]));
    assert_eq!(code(&o), 126, "{}", text(&o));
    assert!(text(&o).contains("no approver configured"), "{}", text(&o));
    assert!(text(&o).contains("approver = ["), "{}", text(&o));
    assert!(!c.ws.join("made").exists());
    let esc = format!("write:{}", c.outside.display());
    let o = no_tty(run(c, &["--escalate", &esc, "--", "true"]));
    assert_eq!(code(&o), 126, "{}", text(&o));
}

/// An approver's allow_project stores a grant bound to the Makefile: the approver is not asked
/// again until the Makefile changes; `cordon grants list/revoke` manage it.
fn approver_grant_and_grants_cli(c: &Case) {
    c.write("proj/Makefile", "all:\n\techo one > built.txt\n");
    c.chown_all();
    set_approver(c, &answer("allow_project"), None);
    let o = no_tty(run(c, &["--approval", "untrusted", "--", "make"]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(c.read("proj/built.txt").as_deref(), Some("one\n"));

    set_approver(c, &answer("deny"), None);
    let o = no_tty(run(c, &["--approval", "untrusted", "--", "make"]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(got(c).is_none(), "asked again despite the grant");
    // Another argv is another question.
    let o = no_tty(run(c, &["--approval", "untrusted", "--", "make", "all"]));
    assert_eq!(code(&o), 126, "{}", text(&o));

    c.write("proj/Makefile", "all:\n\techo two > built.txt\n");
    let o = no_tty(run(c, &["--approval", "untrusted", "--", "make"]));
    assert_eq!(code(&o), 126, "{}", text(&o));
    assert!(got(c).is_some(), "the edited Makefile was not asked about");
    assert_eq!(c.read("proj/built.txt").as_deref(), Some("one\n"));

    // grants list / revoke.
    let o = c.cordon(&["grants", "list", "--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["argv"], serde_json::json!(["make"]));
    assert_eq!(list[0]["approved_by"], "approver");
    let id = list[0]["id"].as_str().unwrap().to_string();
    let o = c.cordon(&["grants", "list"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&id),
        "{}",
        text(&o)
    );
    let o = c.cordon(&["grants", "revoke", "g-nonexistent"]);
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(
        text(&o).contains("no grant with id g-nonexistent"),
        "{}",
        text(&o)
    );
    let o = c.cordon(&["grants", "revoke", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = c.cordon(&["grants", "list", "--json"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
    // Revoked: asked again (and the approver now says no).
    c.write("proj/Makefile", "all:\n\techo one > built.txt\n");
    let o = no_tty(run(c, &["--approval", "untrusted", "--", "make"]));
    assert_eq!(code(&o), 126, "{}", text(&o));
}

/// `--escalate domain:`: the proxy lets the command reach the name only once approved; denied,
/// the server receives nothing.
fn approver_domain(c: &Case) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got_req = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let g2 = got_req.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut b = [0u8; 4096];
            let n = s.read(&mut b).unwrap_or(0);
            g2.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&b[..n]));
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 17\r\n\r\nhello-from-server");
        }
    });
    let esc = format!("domain:api.test:{port}");
    let url = format!("http://api.test:{port}/the-path");
    let args = [
        "--escalate",
        &esc,
        "--resolve",
        "api.test:127.0.0.1",
        "--allow-local",
        "--",
        "curl",
        "-s",
        &url,
    ];
    set_approver(c, &answer("deny"), None);
    let o = no_tty(run(c, &args));
    assert_eq!(code(&o), 126, "{}", text(&o));
    assert!(got_req.lock().unwrap().is_empty(), "the server was reached");
    assert_eq!(got(c).expect("asked")["escalations"][0], esc.as_str());

    set_approver(c, &answer("allow"), None);
    let o = no_tty(run(c, &args));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello-from-server");
    assert!(
        got_req.lock().unwrap().contains("GET /the-path"),
        "{}",
        text(&o)
    );
}

/// `--escalate secret:` and `env:`: the secret and the variable reach the command only once
/// approved.
fn approver_secret_and_env(c: &Case) {
    let cred = c.home.join(".aws/credentials");
    let sec = format!("secret:{}", cred.display());
    let script = format!("cat {}; echo \"tok=$MY_TOKEN\"", cred.display());
    let token = "ghp_aaaaBBBBccccDDDDeeeeFFFFgggg1234";
    let args = [
        "--escalate",
        &sec,
        "--escalate",
        "env:MY_TOKEN",
        "--",
        "sh",
        "-c",
        &script,
    ];
    set_approver(c, &answer("deny"), None);
    let mut cmd = run(c, &args);
    cmd.env("MY_TOKEN", token);
    let o = no_tty(cmd);
    assert_eq!(code(&o), 126, "{}", text(&o));
    assert!(!text(&o).contains("SECRET-AWS-MARKER") && !text(&o).contains(token));

    set_approver(c, &answer("allow"), None);
    let mut cmd = run(c, &args);
    cmd.env("MY_TOKEN", token);
    let o = no_tty(cmd);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("SECRET-AWS-MARKER"), "{}", text(&o));
    assert!(out.contains(&format!("tok={token}")), "{}", text(&o));
    let g = got(c).expect("asked");
    assert_eq!(g["escalations"], serde_json::json!([sec, "env:MY_TOKEN"]));

    // Without the escalation the same command sees neither.
    let mut cmd = c.command_with_policy(&["run", "--", "sh", "-c", &script]);
    cmd.env("MY_TOKEN", token);
    let o = no_tty(cmd);
    assert!(
        !text(&o).contains("SECRET-AWS-MARKER") && !text(&o).contains(token),
        "{}",
        text(&o)
    );
}

// ---------------------------------------------------------------------------------------------
// A sandboxed command cannot approve itself.

/// Writes to grants.json (and to the approver settings) fail inside the sandbox, also when the
/// workspace holds the config directory; the files are unchanged outside.
fn sandbox_cannot_add_grant(c: &Case) {
    let grants = r#"{"version":1,"grants":[]}"#;
    let cfg = "approval = \"untrusted\"\n";
    c.write(".config/cordon/grants.json", grants);
    c.write(".config/cordon/config.toml", cfg);
    c.chown_all();
    let bin = harness::cordon_bin();
    let attack = format!(
        "d=$HOME/.config/cordon; \
         echo '{{\"version\":1,\"grants\":[{{\"id\":\"g-evil\"}}]}}' > $d/grants.json; \
         echo 'approver = [\"/bin/true\"]' >> $d/config.toml; \
         mv $d $HOME/.config/moved; ln -s /tmp $d; \
         {} grants revoke --all; echo done",
        bin.display()
    );
    // `--workspace ~` would do the same, but trips over a sandbox limit of its own (a secret
    // file inside a secret directory, ~/.ssh/id_rsa, cannot be mounted over).
    let dot_config = c.home.join(".config").to_str().unwrap().to_string();
    for extra in [vec![], vec!["--writable", dot_config.as_str()]] {
        let mut args = vec!["run"];
        args.extend(extra.iter().copied());
        args.extend(["--", "sh", "-c", &attack]);
        let o = c.cordon(&args);
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("done"),
            "[{}] {extra:?}: {}",
            c.label(),
            text(&o)
        );
        assert_eq!(
            c.read(".config/cordon/grants.json").as_deref(),
            Some(grants),
            "[{}] {extra:?}: {}",
            c.label(),
            text(&o)
        );
        assert_eq!(
            c.read(".config/cordon/config.toml").as_deref(),
            Some(cfg),
            "[{}] {extra:?}: {}",
            c.label(),
            text(&o)
        );
        assert!(c.home.join(".config/cordon").is_dir() && !c.home.join(".config/moved").exists());
    }
    // With no config directory yet, none can be created from inside.
    fs::remove_dir_all(c.home.join(".config/cordon")).unwrap();
    let o = c.cordon(&[
        "run",
        "--writable",
        &dot_config,
        "--",
        "sh",
        "-c",
        "mkdir -p $HOME/.config/cordon; echo '{}' > $HOME/.config/cordon/grants.json; echo done",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("done"),
        "[{}] {}",
        c.label(),
        text(&o)
    );
    assert!(
        c.read(".config/cordon/grants.json").is_none(),
        "[{}] {}",
        c.label(),
        text(&o)
    );
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::harness::{each, Who};
            #[test] fn invoker() { each(super::$name, Who::Invoker, false) }
            #[test] fn unprivileged() { each(super::$name, Who::Unprivileged, false) }
        }
    )*};
}

both!(
    untrusted_tty,
    on_request_tty,
    on_failure_tty,
    never_tty,
    prompt_escapes,
    npm_test_grant,
    approver_modes,
    approver_failures,
    approver_domain,
    approver_secret_and_env,
    nobody_to_ask,
    approver_grant_and_grants_cli,
);

variants!(sandbox_cannot_add_grant);

// ---------------------------------------------------------------------------------------------
// A remembered approval runs the bytes it was bound to (issue 11, item 5): the file is read once
// through a handle, hashed, and those bytes are what the run gets (namespaces: a read-only copy
// mounted over the path; fallback: read again and compared), while no other sandboxed run can
// change it.

const BENIGN: &str = "#!/bin/sh\necho benign > OUT/benign.txt\n";
const EVIL: &str = "#!/bin/sh\necho PWNED > OUT/victim.txt\n";

fn script(c: &Case, body: &str) -> String {
    body.replace("OUT", c.outside.to_str().unwrap())
}

fn put_script(c: &Case, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = c.write(&format!("proj/{name}"), &script(c, body));
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    c.chown_all();
}

/// `cordon run --escalate write:OUTSIDE -- ./s.sh` with the policy consulted.
fn run_s(c: &Case) -> Command {
    let esc = format!("write:{}", c.outside.display());
    run(c, &["--escalate", &esc, "--", "./s.sh"])
}

/// An empty file outside the workspace for the command to write (without namespaces no new
/// entry can be made directly in a writable root that could hold protected paths).
fn reset_out(c: &Case, name: &str) {
    c.write(&format!("outside/{name}"), "");
    c.chown_all();
}

fn victim_untouched(c: &Case, o: &Output) {
    assert_eq!(
        c.read("outside/victim.txt").as_deref(),
        Some("original\n"),
        "[{}] the swapped script ran with the escalation: {}",
        c.label(),
        text(o)
    );
}

/// The race of the issue, made deterministic: while cordon is deciding (the approver is being
/// asked), a second, concurrent sandboxed run swaps `./s.sh` (renames another file over it; in
/// the fallback, where no new entry can be made beside protected paths, rewrites it); the approver then allows it for the
/// project. What runs is what was hashed (namespaces), or nothing (fallback: the file no longer
/// holds the approved bytes); the grant stays bound to the approved bytes.
fn grant_runs_what_was_approved(c: &Case) {
    reset_out(c, "benign.txt");
    put_script(c, "s.sh", BENIGN);
    put_script(c, "evil.sh", EVIL);
    let swap = format!(
        "{} run --no-policy -- sh -c 'cp evil.sh s.sh.new && mv -f s.sh.new s.sh || cat evil.sh > s.sh' >/dev/null 2>&1 </dev/null",
        harness::cordon_bin().display()
    );
    set_approver(c, &format!("{swap}\n{}", answer("allow_project")), None);
    let o = no_tty(run_s(c));
    victim_untouched(c, &o);
    assert_eq!(
        fs::read_to_string(c.ws.join("s.sh")).unwrap(),
        script(c, EVIL),
        "[{}] the concurrent run did not swap the file: the test proves nothing",
        c.label()
    );
    if c.fallback {
        assert_eq!(code(&o), 126, "[{}] {}", c.label(), text(&o));
        assert!(
            text(&o).contains("changed after it was approved"),
            "[{}] {}",
            c.label(),
            text(&o)
        );
        assert_eq!(c.read("outside/benign.txt").as_deref(), Some(""));
    } else {
        assert_eq!(code(&o), 0, "[{}] {}", c.label(), text(&o));
        assert_eq!(
            c.read("outside/benign.txt").as_deref(),
            Some("benign\n"),
            "[{}] {}",
            c.label(),
            text(&o)
        );
    }
    // The grant is bound to the approved bytes: the swapped file is asked about (and denied).
    set_approver(c, &answer("deny"), None);
    let o = no_tty(run_s(c));
    assert_eq!(code(&o), 126, "[{}] {}", c.label(), text(&o));
    assert!(got(c).is_some(), "[{}] not asked: {}", c.label(), text(&o));
    victim_untouched(c, &o);
    // The approved bytes back: the grant answers, in both modes.
    reset_out(c, "benign.txt");
    let _ = fs::remove_file(c.base.join("got.json"));
    put_script(c, "s.sh", BENIGN);
    let o = no_tty(run_s(c));
    assert_eq!(code(&o), 0, "[{}] {}", c.label(), text(&o));
    assert!(text(&o).contains("remembered grant"), "{}", text(&o));
    assert!(got(c).is_none(), "[{}] asked despite the grant", c.label());
    assert_eq!(c.read("outside/benign.txt").as_deref(), Some("benign\n"));
    // A FIFO in its place (what a reader by path would block on, then hash what a writer fed
    // it): not a regular file, so nothing can be pinned; no grant, asked (and denied).
    fs::remove_file(c.ws.join("s.sh")).unwrap();
    let fifo = std::ffi::CString::new(c.ws.join("s.sh").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o755) }, 0);
    c.chown_all();
    let _ = fs::remove_file(c.base.join("got.json"));
    let o = no_tty(run_s(c));
    assert_eq!(code(&o), 126, "[{}] {}", c.label(), text(&o));
    let g = got(c).expect("asked");
    assert_eq!(g["allow_project"], false, "[{}] {g}", c.label());
    victim_untouched(c, &o);
}

/// Waits (bounded) until `p` exists.
fn wait_for(p: &std::path::Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !p.exists() {
        assert!(Instant::now() < deadline, "{what} never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Makes a grant for `./s.sh` (body `body`) with the approver, then sets it to deny.
fn make_grant(c: &Case, body: &str) {
    reset_out(c, "benign.txt");
    reset_out(c, "seen.txt");
    put_script(c, "s.sh", body);
    set_approver(c, &answer("allow_project"), None);
    let o = no_tty(run_s(c));
    assert_eq!(code(&o), 0, "[{}] {}", c.label(), text(&o));
    set_approver(c, &answer("deny"), None);
}

/// A grant is not used while another sandboxed run that can write the file it is bound to is
/// alive (nothing could hold the file to its bytes then): cordon asks instead, and says why.
fn grant_not_used_beside_a_writer(c: &Case) {
    make_grant(c, BENIGN);
    reset_out(c, "benign.txt");
    fs::create_dir_all(c.ws.join("sig")).unwrap();
    c.chown_all();
    let mut b = c.command(&[
        "run",
        "--",
        "sh",
        "-c",
        "touch sig/b-started; while [ ! -e sig/b-stop ]; do sleep 0.05; done",
    ]);
    let mut b = b
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&c.ws.join("sig/b-started"), "the concurrent run");
    let o = no_tty(run_s(c));
    fs::write(c.ws.join("sig/b-stop"), "").unwrap();
    let _ = b.wait();
    assert_eq!(code(&o), 126, "[{}] {}", c.label(), text(&o));
    assert!(
        text(&o).contains("is not used") && text(&o).contains("another sandboxed run"),
        "[{}] {}",
        c.label(),
        text(&o)
    );
    assert!(
        got(c).is_some(),
        "[{}] the approver was not asked",
        c.label()
    );
    assert_eq!(c.read("outside/benign.txt").as_deref(), Some(""));
    // Alone again: the grant answers.
    let o = no_tty(run_s(c));
    assert_eq!(code(&o), 0, "[{}] {}", c.label(), text(&o));
    assert_eq!(c.read("outside/benign.txt").as_deref(), Some("benign\n"));
}

/// While a run under a grant is alive, a sandboxed run started after it cannot change the file
/// the grant is bound to (replace it, rename over it, append to it); the granted run reads the
/// approved bytes from its path until it ends.
fn pinned_file_read_only_elsewhere(c: &Case) {
    let body = "#!/bin/sh\ntouch sig/started\nwhile [ ! -e sig/go ]; do sleep 0.05; done\ncat ./s.sh > OUT/seen.txt\n";
    fs::create_dir_all(c.ws.join("sig")).unwrap();
    fs::write(c.ws.join("sig/go"), "").unwrap();
    make_grant(c, body);
    for f in ["sig/go", "sig/started"] {
        fs::remove_file(c.ws.join(f)).unwrap();
    }
    reset_out(c, "seen.txt");
    let mut a = run_s(c);
    let a = a
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&c.ws.join("sig/started"), "the granted run");
    let evil = script(c, EVIL).replace('\n', "\\n");
    let attack = format!(
        "printf '{evil}' > sig/n.sh; chmod +x sig/n.sh; mv -f sig/n.sh s.sh; echo mv=$?; \
         printf 'echo PWNED > {}/victim.txt\\n' >> s.sh; echo append=$?; \
         rm -f s.sh; echo rm=$?; touch sig/go",
        c.outside.display()
    );
    let ob = c.cordon(&["run", "--", "sh", "-c", &attack]);
    let oa = a.wait_with_output().unwrap();
    assert_eq!(
        code(&oa),
        0,
        "[{}] {}\n--- B ---\n{}",
        c.label(),
        text(&oa),
        text(&ob)
    );
    assert_eq!(
        fs::read_to_string(c.ws.join("s.sh")).unwrap(),
        script(c, body),
        "[{}] the later run changed the pinned file: {}",
        c.label(),
        text(&ob)
    );
    assert_eq!(
        c.read("outside/seen.txt").as_deref(),
        Some(script(c, body).as_str()),
        "[{}] {}",
        c.label(),
        text(&ob)
    );
    victim_untouched(c, &oa);
    // Once it has ended, the file is the workspace's again.
    let o = c.cordon(&["run", "--", "sh", "-c", "echo '# edited' >> s.sh"]);
    assert_eq!(code(&o), 0, "[{}] {}", c.label(), text(&o));
    assert!(fs::read_to_string(c.ws.join("s.sh"))
        .unwrap()
        .ends_with("# edited\n"));
}

variants!(
    grant_runs_what_was_approved,
    grant_not_used_beside_a_writer,
    pinned_file_read_only_elsewhere
);
