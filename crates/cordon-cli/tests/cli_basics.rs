//! The command line itself: doctor's report, --dry-run's spec, usage errors.

use std::process::Command;

fn cordon(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn doctor_json_reports_every_layer() {
    let o = cordon(&["doctor", "--json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("doctor --json prints JSON");
    let will = v["will_use"].as_str().unwrap();
    assert!(["namespaces", "landlock-only", "refuse"].contains(&will));
    assert_eq!(o.status.code(), Some(if will == "refuse" { 1 } else { 0 }));
    let names: Vec<&str> = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert!(
        names.iter().any(|n| n.contains("namespaces"))
            && names.contains(&"landlock")
            && names.contains(&"seccomp")
    );
    assert!(v["probe"]["landlock_abi"].is_i64());
    // Human output too.
    let o = cordon(&["doctor"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("will use:"));
}

#[test]
fn dry_run_prints_the_spec_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let o = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args([
            "run",
            "--dry-run",
            "--workspace",
            dir.path().to_str().unwrap(),
            "--",
            "touch",
            marker.to_str().unwrap(),
        ])
        .current_dir(dir.path())
        .env("GITHUB_TOKEN", "ghp_abcdefghijklmnopqrstuvwxyz0123456789")
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["mode"], "workspace-write");
    assert_eq!(v["argv"][0], "touch");
    assert!(v["writable"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str() == dir.path().canonicalize().unwrap().to_str()));
    assert!(v["protected"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["path"].as_str().unwrap().ends_with("/.claude")));
    assert!(!marker.exists(), "--dry-run ran the command");
}

#[test]
fn usage_errors_exit_125() {
    for args in [
        &["run"][..],
        &["run", "--timeout", "soon", "--", "true"],
        &["run", "--limit-memory", "lots", "--", "true"],
        &["nonsense"],
    ] {
        let o = cordon(args);
        assert_eq!(o.status.code(), Some(125), "{args:?}");
        assert!(!o.stderr.is_empty());
    }
    assert_eq!(cordon(&["--help"]).status.code(), Some(0));
    assert_eq!(cordon(&["run", "--help"]).status.code(), Some(0));
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = cordon(&["completions", shell]);
        assert!(
            o.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let s = String::from_utf8_lossy(&o.stdout);
        // Every subcommand is offered, the new ones too.
        for sub in [
            "run",
            "check",
            "install",
            "uninstall",
            "doctor",
            "completions",
        ] {
            assert!(s.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    // bash accepts the script.
    let o = cordon(&["completions", "bash"]);
    let st = Command::new("bash")
        .args(["-n", "-c", &String::from_utf8_lossy(&o.stdout)])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(cordon(&["completions", "tcsh"]).status.code(), Some(125));
    let o = cordon(&["man"]);
    assert!(o.status.success());
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH cordon"),
        "{}",
        &page[..200.min(page.len())]
    );
    for section in ["CORDON RUN", "CORDON INSTALL", "CORDON DOCTOR"] {
        assert!(page.contains(section), "man page lacks {section}");
    }
    // man renders it without complaint, when man is installed.
    if let Ok(o) = Command::new("man")
        .args(["--warnings", "-l", "-"])
        .env("MANWIDTH", "80")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(page.as_bytes())?;
            c.wait_with_output()
        })
    {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains("install"));
    }
}

/// Output into a closed pipe (`cordon policy show | head -1`, `cordon run --dry-run -- true |
/// head -1`): cordon ends as any Unix filter does (SIGPIPE), never with a panic on stderr.
#[test]
fn closed_stdout_ends_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    for args in [
        &["policy", "show"][..],
        &["man"],
        &["run", "--dry-run", "--", "true"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cordon"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before cordon writes (as `head` that has read enough).
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let st = child.wait().unwrap();
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "cordon {args:?} into a closed pipe: {err}"
        );
        assert!(
            st.success() || st.signal() == Some(libc::SIGPIPE),
            "cordon {args:?} into a closed pipe: {st:?}, {err}"
        );
    }
}
