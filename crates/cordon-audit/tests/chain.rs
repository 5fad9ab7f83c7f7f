//! The chain under concurrency, crashes, torn lines and rotation.

use std::path::Path;
use std::process::{Command, Stdio};

use cordon_audit::verify::verify_path;
use cordon_audit::{read, Event, Text, Writer, LOG_NAME};

fn exec(i: usize, extra: &str) -> Event {
    Event::Exec {
        argv: vec![
            Text::from("echo"),
            Text::from(&format!("{i}")),
            Text::from(extra),
        ],
        cwd: Text::from("/work"),
        pid: std::process::id(),
        isolation: "namespaces".into(),
    }
}

/// Not a test: the body of the child processes of the tests below (the test binary re-runs
/// itself with `--ignored` and AUDIT_CHILD_DIR set). Appends AUDIT_CHILD_N records (0: until
/// killed), or with AUDIT_CHILD_FSIZE until the disk is "full".
#[test]
#[ignore = "the body of child processes, run by the tests below"]
fn helper_child_writer() {
    let dir = std::env::var_os("AUDIT_CHILD_DIR").expect("AUDIT_CHILD_DIR: run by the tests only");
    if let Ok(limit) = std::env::var("AUDIT_CHILD_FSIZE") {
        // A full disk, reproducibly: writes stop at `limit` bytes, the one that crosses it is
        // cut short (SIGXFSZ ignored, so write(2) returns the short count).
        let l: u64 = limit.parse().unwrap();
        // SAFETY: signal(2) and setrlimit(2) on plain values, in this child process before it
        // writes anything.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let r = libc::rlimit {
                rlim_cur: l,
                rlim_max: l,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &r), 0);
        }
        let mut w = Writer::open(Path::new(&dir)).unwrap();
        for i in 0.. {
            if let Err(e) = w.append(&exec(i, &"y".repeat(100))) {
                println!("CHILD-ERROR: {e}");
                std::mem::forget(w); // as if it died here
                return;
            }
        }
    }
    let n: usize = std::env::var("AUDIT_CHILD_N").unwrap().parse().unwrap();
    let big = std::env::var_os("AUDIT_CHILD_BIG").is_some();
    let mut w = Writer::open(Path::new(&dir)).unwrap();
    let pad = "x".repeat(if big { 3 << 20 } else { 0 });
    let mut i = 0;
    while n == 0 || i < n {
        // Every 4th record is large when AUDIT_CHILD_BIG: a kill -9 can land inside its write.
        let extra = if big && i % 4 == 3 { pad.as_str() } else { "" };
        w.append(&exec(i, extra)).unwrap();
        i += 1;
    }
}

fn child(dir: &Path, n: usize, big: bool) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "helper_child_writer",
        "--ignored",
        "--test-threads=1",
        "--quiet",
    ])
    .env("AUDIT_CHILD_DIR", dir)
    .env("AUDIT_CHILD_N", n.to_string())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if big {
        c.env("AUDIT_CHILD_BIG", "1");
    }
    c
}

#[test]
fn ten_concurrent_writers_keep_one_chain() {
    let t = tempfile::tempdir().unwrap();
    let kids: Vec<_> = (0..10)
        .map(|_| child(t.path(), 1000, false).spawn().unwrap())
        .collect();
    for mut k in kids {
        assert!(k.wait().unwrap().success());
    }
    let r = verify_path(t.path()).unwrap();
    assert!(r.intact(), "{:?}", r.problem);
    assert!(r.torn.is_none());
    assert_eq!(r.records, 10_000);
    assert_eq!(r.last_seq, Some(10_000));
    // Every writer's 1,000 records, each once.
    let recs = read::read_all(t.path()).unwrap();
    let mut per_session = std::collections::HashMap::<String, Vec<String>>::new();
    for rec in &recs {
        let argv = rec.v["argv"].as_array().unwrap();
        per_session
            .entry(rec.session().to_string())
            .or_default()
            .push(argv[1].as_str().unwrap().to_string());
    }
    assert_eq!(per_session.len(), 10);
    for (_, v) in per_session {
        let want: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        assert_eq!(v, want, "a writer's records are all there, in its order");
    }
}

#[test]
fn threads_in_one_process_share_the_chain() {
    let t = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut w = Writer::open(t.path()).unwrap();
                for i in 0..250 {
                    w.append(&exec(i, "")).unwrap();
                }
            });
        }
    });
    let r = verify_path(t.path()).unwrap();
    assert!(r.intact(), "{:?}", r.problem);
    assert_eq!(r.records, 1000);
}

fn append_torn(dir: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(LOG_NAME))
        .unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn torn_line_is_reported_then_sealed() {
    let t = tempfile::tempdir().unwrap();
    let mut w = Writer::open(t.path()).unwrap();
    for i in 0..5 {
        w.append(&exec(i, "")).unwrap();
    }
    append_torn(
        t.path(),
        br#"{"seq":6,"ts":"2026-01-01T00:00:00.000Z","sess"#,
    );
    let r = verify_path(t.path()).unwrap();
    assert!(
        r.intact(),
        "a torn last line is not tampering: {:?}",
        r.problem
    );
    let (at, n) = r.torn.clone().expect("torn reported");
    assert_eq!(at.line, 6);
    assert_eq!(n, 46);
    assert_eq!(r.last_seq, Some(5));

    // The next writer (another process in real life) seals it.
    let mut w2 = Writer::open(t.path()).unwrap();
    assert_eq!(
        w2.append(&exec(99, "")).unwrap(),
        7,
        "recovery is seq 6, the record 7"
    );
    let r = verify_path(t.path()).unwrap();
    assert!(r.intact(), "{:?}", r.problem);
    assert!(r.torn.is_none());
    assert_eq!(r.sealed.len(), 1);
    assert_eq!(r.sealed[0].line, 6);
    assert_eq!(r.last_seq, Some(7));
    let recs = read::read_all(t.path()).unwrap();
    let rec = recs.iter().find(|r| r.event() == "recovery").unwrap();
    assert_eq!(rec.seq, 6);
    assert_eq!(rec.u64("torn_bytes"), 46);
    // The first writer, whose head is now stale, continues the same chain.
    assert_eq!(w.append(&exec(100, "")).unwrap(), 8);
    assert!(verify_path(t.path()).unwrap().intact());
}

#[test]
fn torn_line_that_parses_is_sealed_too() {
    // A crash exactly before the newline leaves a whole JSON object without its '\n'.
    let t = tempfile::tempdir().unwrap();
    let mut w = Writer::open(t.path()).unwrap();
    w.append(&exec(0, "")).unwrap();
    let other = tempfile::tempdir().unwrap();
    // Make a record chained after seq 1 by copying the log to another dir and appending there.
    std::fs::copy(t.path().join(LOG_NAME), other.path().join(LOG_NAME)).unwrap();
    let mut w3 = Writer::open(other.path()).unwrap();
    w3.append(&exec(1, "")).unwrap();
    let text = std::fs::read_to_string(other.path().join(LOG_NAME)).unwrap();
    let second = text.lines().nth(1).unwrap();
    append_torn(t.path(), second.as_bytes());
    let r = verify_path(t.path()).unwrap();
    assert!(r.intact());
    assert!(r.torn.is_some());
    Writer::open(t.path())
        .unwrap()
        .append(&exec(2, ""))
        .unwrap();
    let r = verify_path(t.path()).unwrap();
    assert!(r.intact(), "{:?}", r.problem);
    assert_eq!(r.sealed.len(), 1);
    assert_eq!(r.last_seq, Some(3));
}

#[test]
fn kill_9_at_random_moments() {
    let t = tempfile::tempdir().unwrap();
    let mut torn_seen = 0;
    let mut seed = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    for round in 0..25 {
        let mut k = child(t.path(), 0, true).spawn().unwrap();
        // A random moment: 0–40 ms after the start (xorshift; no timing is asserted).
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(std::time::Duration::from_micros(seed % 40_000));
        // SAFETY: kill(2) of our own child, not yet waited for (its pid cannot be reused).
        unsafe { libc::kill(k.id() as i32, libc::SIGKILL) };
        let _ = k.wait();
        let r = verify_path(t.path()).unwrap();
        assert!(
            r.intact(),
            "round {round}: a kill -9 is not tampering: {:?}",
            r.problem
        );
        if r.torn.is_some() {
            torn_seen += 1;
        }
    }
    // The next writer seals any torn record; the chain is whole.
    Writer::open(t.path())
        .unwrap()
        .append(&exec(0, ""))
        .unwrap();
    let r = verify_path(t.path()).unwrap();
    assert!(r.intact(), "{:?}", r.problem);
    assert!(r.torn.is_none());
    eprintln!(
        "kill -9: {torn_seen} of 25 rounds left a torn line; {} sealed; {} records",
        r.sealed.len(),
        r.records
    );
}

#[test]
fn rotation_continues_the_chain() {
    let t = tempfile::tempdir().unwrap();
    let mut w = Writer::open_with(t.path(), "s1".into(), 4096).unwrap();
    for i in 0..200 {
        w.append(&exec(i, "")).unwrap();
    }
    let files = cordon_audit::log_files(t.path()).unwrap();
    assert!(files.len() > 5, "rotated: {files:?}");
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= 4096);
    }
    // A second writer (fresh process state) continues after a rotation it did not see.
    let mut w2 = Writer::open_with(t.path(), "s2".into(), 4096).unwrap();
    w2.append(&exec(1000, "")).unwrap();
    w.append(&exec(1001, "")).unwrap();
    let r = verify_path(t.path()).unwrap();
    assert!(r.intact(), "{:?}", r.problem);
    assert_eq!(r.records, 202);
    // Removing a whole rotated file in the middle breaks the chain.
    std::fs::remove_file(&files[2]).unwrap();
    let r = verify_path(t.path()).unwrap();
    assert!(!r.intact());
    assert!(r.problem.unwrap().1.contains("removed"));
}

#[test]
fn hostile_strings_cannot_forge_a_record() {
    let t = tempfile::tempdir().unwrap();
    let mut w = Writer::open(t.path()).unwrap();
    let evil = "x\n{\"seq\":99,\"event\":\"exit\"}\x1b[2J\u{9b}31m\u{202e}";
    w.append(&Event::Exec {
        argv: vec![Text::from(evil), Text(b"\xff\xfe".to_vec())],
        cwd: Text(b"/tmp/\x80".to_vec()),
        pid: 1,
        isolation: "none".into(),
    })
    .unwrap();
    let raw = std::fs::read(t.path().join(LOG_NAME)).unwrap();
    assert_eq!(raw.iter().filter(|&&c| c == b'\n').count(), 1, "one line");
    assert!(!raw.contains(&0x1b), "no raw ESC");
    assert!(
        raw.is_ascii(),
        "DEL, C1 and bidi are escaped: {}",
        String::from_utf8_lossy(&raw)
    );
    let recs = read::read_all(t.path()).unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].v["argv"][0].as_str().unwrap(), evil, "lossless");
    assert_eq!(recs[0].v["argv"][1]["b64"].as_str().unwrap(), "//4=");
    assert_eq!(
        read::value_bytes(&recs[0].v["cwd"]).unwrap(),
        b"/tmp/\x80".to_vec()
    );
    let s = read::summary(&recs[0], false);
    assert!(
        !s.contains('\x1b') && !s.contains('\n') && !s.contains('\u{9b}'),
        "{s}"
    );
    assert!(s.contains("\\xff\\xfe") && s.contains("/tmp/\\x80"), "{s}");
}

#[test]
fn writers_rotating_under_each_other() {
    let t = tempfile::tempdir().unwrap();
    let mut a = Writer::open_with(t.path(), "a".into(), 2048).unwrap();
    let mut b = Writer::open_with(t.path(), "b".into(), 2048).unwrap();
    for i in 0..150 {
        // Uneven turns: each writer often finds the file it holds rotated away by the other.
        if i % 3 == 0 {
            b.append(&exec(i, "")).unwrap();
        } else {
            a.append(&exec(i, "")).unwrap();
        }
    }
    drop(a);
    drop(b);
    let r = verify_path(t.path()).unwrap();
    assert!(r.intact(), "{:?}", r.problem);
    assert_eq!(r.records, 150);
    assert!(r.files.len() > 10);
}

#[test]
fn an_unfinished_rotation_is_finished_by_the_next_writer() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let mut w = Writer::open(t.path()).unwrap();
    for i in 0..3 {
        w.append(&exec(i, "")).unwrap();
    }
    drop(w);
    // A writer died after marking the file for rotation, before renaming it.
    let log = t.path().join(LOG_NAME);
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o400)).unwrap();
    let mut w = Writer::open(t.path()).unwrap();
    assert_eq!(w.append(&exec(3, "")).unwrap(), 4);
    drop(w);
    let files = cordon_audit::log_files(t.path()).unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0].ends_with("audit.000000000003.jsonl"));
    let r = verify_path(t.path()).unwrap();
    assert!(r.intact(), "{:?}", r.problem);
    assert_eq!(r.records, 4);
}

#[test]
fn a_checkpoint_catches_truncation_and_edits() {
    let t = tempfile::tempdir().unwrap();
    let mut w = Writer::open(t.path()).unwrap();
    for i in 0..10 {
        w.append(&exec(i, "")).unwrap();
    }
    drop(w); // the end of the session: a checkpoint at seq 10
    let log = t.path().join(LOG_NAME);
    let orig = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = orig.lines().collect();
    std::fs::write(&log, lines[..9].join("\n") + "\n").unwrap();
    let r = verify_path(t.path()).unwrap();
    assert!(r.problem.unwrap().1.contains("truncated"));
    let mut edited: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    edited[9] = edited[9].replace("/work", "/elsewhere");
    std::fs::write(&log, edited.join("\n") + "\n").unwrap();
    let r = verify_path(t.path()).unwrap();
    assert!(r.problem.unwrap().1.contains("does not match audit.head"));
    std::fs::write(&log, &orig).unwrap();
    assert!(verify_path(t.path()).unwrap().intact());
}

#[test]
fn disk_full_mid_record_leaves_a_torn_line_that_is_sealed() {
    let t = tempfile::tempdir().unwrap();
    let o = child(t.path(), 0, false)
        .env("AUDIT_CHILD_FSIZE", "5000")
        .args(["--nocapture"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("CHILD-ERROR") && out.contains("short write"),
        "{out}"
    );
    let size = std::fs::metadata(t.path().join(LOG_NAME)).unwrap().len();
    assert_eq!(size, 5000, "the write that crossed the limit was cut");
    let r = verify_path(t.path()).unwrap();
    assert!(r.intact(), "a cut record is not tampering: {:?}", r.problem);
    let (at, n) = r.torn.clone().expect("torn");
    assert!(n > 0 && at.line > 5, "{at} {n}");
    let good = r.records;
    Writer::open(t.path())
        .unwrap()
        .append(&exec(0, ""))
        .unwrap();
    let r = verify_path(t.path()).unwrap();
    assert!(r.intact(), "{:?}", r.problem);
    assert!(r.torn.is_none());
    assert_eq!(r.sealed.len(), 1);
    assert_eq!(r.sealed[0].line, at.line);
    assert_eq!(r.records, good + 2, "recovery + the new record");
}
