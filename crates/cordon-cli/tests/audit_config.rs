//! The audit log with the config and the approvals: every question and answer is recorded; the
//! config's `audit.dir` is used (and hidden from the sandbox); a managed `audit.dir` wins over
//! the flags and cannot be turned off.

mod harness;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

use harness::{code, text, Case, Who};
use serde_json::Value;

fn records(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for f in cordon_audit::log_files(dir).unwrap() {
        for l in fs::read_to_string(f).unwrap().lines() {
            out.push(serde_json::from_str(l).unwrap());
        }
    }
    out
}

fn of<'a>(recs: &'a [Value], event: &str) -> Vec<&'a Value> {
    recs.iter().filter(|r| r["event"] == event).collect()
}

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

/// An approver script that answers `decision`.
fn set_approver(c: &Case, decision: &str) {
    let script = c.base.join("approver.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat > /dev/null\necho '{{\"decision\":\"{decision}\",\"reason\":\"test approver\"}}'\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    c.write(
        ".config/cordon/config.toml",
        &format!("approver = [\"{}\"]\n", script.display()),
    );
    c.chown_all();
}

#[test]
fn approvals_are_recorded() {
    let c = Case::new(Who::Invoker, false);
    set_approver(&c, "allow");
    let o =
        no_tty(c.command_with_policy(&["run", "--approval", "untrusted", "--", "touch", "made"]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(c.ws.join("made").exists());
    let recs = records(&c.audit_dir());
    let a = of(&recs, "approval");
    assert_eq!(a.len(), 1, "{recs:?}");
    let a = a[0];
    assert_eq!(a["stage"], "before-run");
    assert_eq!(a["prompt"], "touch made");
    assert_eq!(a["answer"], "allow_once");
    assert_eq!(a["answered_by"], "approver");
    assert_eq!(a["policy_decision"], "ask");
    assert_eq!(a["rule"], "builtin:default");
    assert_eq!(a["note"], "test approver");
    // The config digest is that of the user config file read (path, NUL, contents, NUL):
    // a security engineer can recompute it from the file.
    let cfg_file = c.home.join(".config/cordon/config.toml");
    let mut material = cfg_file.as_os_str().as_encoded_bytes().to_vec();
    material.push(0);
    material.extend(fs::read(&cfg_file).unwrap());
    material.push(0);
    let start = of(&recs, "session_start")[0];
    assert_eq!(
        start["config_digest"].as_str().unwrap(),
        cordon_audit::sha256_hex(&material),
        "{start}"
    );
    // In order: the decision, the question, then the command.
    let order: Vec<&str> = recs.iter().map(|r| r["event"].as_str().unwrap()).collect();
    let pos = |e: &str| order.iter().position(|x| *x == e).unwrap();
    assert!(
        pos("decision") < pos("approval") && pos("approval") < pos("exec"),
        "{order:?}"
    );

    // A refused escalation: recorded, and nothing runs.
    set_approver(&c, "deny");
    let target = c.outside.join("esc.txt");
    let o = no_tty(c.command_with_policy(&[
        "run",
        "--escalate",
        &format!("write:{}", c.outside.display()),
        "--",
        "sh",
        "-c",
        &format!("echo x > {}", target.display()),
    ]));
    assert_ne!(code(&o), 0, "{}", text(&o));
    assert!(!target.exists());
    let recs = records(&c.audit_dir());
    let a = of(&recs, "approval");
    assert_eq!(a.len(), 2, "{recs:?}");
    assert_eq!(a[1]["answer"], "deny");
    assert_eq!(
        a[1]["requested"][0],
        format!("write:{}", c.outside.canonicalize().unwrap().display())
    );
    assert!(a[1]["granted"].as_array().unwrap().is_empty());
    let o = c.cordon(&["audit", "show", "--event", "approval"]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.contains("allow_once by approver") && t.contains("deny by approver"),
        "{t}"
    );
    let v = c.cordon(&["audit", "verify"]);
    assert_eq!(code(&v), 0, "{}", text(&v));
}

#[test]
fn the_configs_audit_dir_is_used_and_hidden() {
    let c = Case::new(Who::Invoker, false);
    let dir = c.base.join("cfg-audit");
    c.write(
        ".config/cordon/config.toml",
        &format!("[audit]\ndir = \"{}\"\n", dir.display()),
    );
    let d = dir.to_str().unwrap();
    let o = c
        .command(&[
            "run",
            "--",
            "sh",
            "-c",
            &format!("cat {d}/audit.jsonl; ls {d}; echo end"),
        ])
        .env_remove("CORDON_AUDIT_DIR")
        .output()
        .unwrap();
    let t = text(&o);
    assert!(t.contains("end"), "{t}");
    assert!(
        !t.contains("session_start") && !t.contains("audit.head"),
        "hidden: {t}"
    );
    let recs = records(&dir);
    assert_eq!(of(&recs, "exec").len(), 1, "{recs:?}");
    assert!(!c.audit_dir().exists(), "not the default");
    // `cordon audit` reads it from the config too.
    let o = c
        .command(&["audit", "show", "--event", "exec", "--json"])
        .env_remove("CORDON_AUDIT_DIR")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    // The flag and the variable beat the user's config.
    let o = c.cordon(&["check", "--", "ls"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(records(&c.audit_dir()).len(), 2);
}

#[test]
fn a_managed_audit_dir_wins_and_cannot_be_turned_off() {
    let c = Case::new(Who::Invoker, false);
    let managed = c.base.join("managed-audit");
    fs::create_dir_all(c.base.join("etc")).unwrap();
    fs::write(
        c.base.join("etc/managed.toml"),
        format!("[audit]\ndir = \"{}\"\n", managed.display()),
    )
    .unwrap();
    let mine = c.base.join("mine");
    let o = c.cordon(&["run", "--audit-dir", mine.to_str().unwrap(), "--", "true"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(of(&records(&managed), "exec").len(), 1);
    assert!(
        !mine.exists(),
        "the managed directory wins over --audit-dir"
    );
    for args in [
        &["run", "--no-audit", "--", "true"][..],
        &["check", "--no-audit", "--", "ls"],
    ] {
        let o = c.cordon(args);
        assert_eq!(code(&o), 125, "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains("the managed policy") && text(&o).contains("managed.toml"),
            "{}",
            text(&o)
        );
    }
}
