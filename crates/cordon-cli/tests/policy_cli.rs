//! `cordon check` and `cordon policy` through the real binary: exit statuses, the JSON
//! schema, policy files (errors with path:line:column, examples checked), --each-line.

use std::path::Path;
use std::process::{Command, Output};

fn cordon(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the cordon binary runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

#[test]
fn exit_status_is_the_decision() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().to_str().unwrap();
    let o = cordon(&["check", "--workspace", ws, "--", "ls -la"], dir.path());
    assert_eq!(code(&o), 0);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "allow");
    let o = cordon(&["check", "--workspace", ws, "--", "make"], dir.path());
    assert_eq!(code(&o), 1);
    let o = cordon(
        &[
            "check",
            "--workspace",
            ws,
            "--",
            "git push --force origin main && rm -rf ~",
        ],
        dir.path(),
    );
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("builtin:git-push-force"), "{err}");
    assert!(err.contains("builtin:rm-critical"), "{err}");
}

#[test]
fn json_schema() {
    let dir = tempfile::tempdir().unwrap();
    let o = cordon(
        &[
            "check",
            "--json",
            "--",
            "echo hi > .git/hooks/pre-commit; ls",
        ],
        dir.path(),
    );
    assert_eq!(code(&o), 2);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["rule"], "builtin:redirect-protected");
    let cmds = v["commands"].as_array().unwrap();
    let redirect = cmds.iter().find(|c| c["kind"] == "redirect").unwrap();
    assert_eq!(redirect["argv"][0], ">");
    assert_eq!(redirect["decision"], "deny");
    let ls = cmds.iter().find(|c| c["argv"][0] == "ls").unwrap();
    assert_eq!(ls["decision"], "allow");
    assert_eq!(ls["rule"], "builtin:read-only");
    assert!(ls["reason"].as_str().unwrap().len() > 5);
    assert!(v["findings"].as_array().unwrap().is_empty());
}

#[test]
fn workspace_defaults_to_git_toplevel() {
    // rm -rf of the git top-level is deny; from a subdirectory `..` is that top-level.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::create_dir_all(dir.path().join("sub/deeper")).unwrap();
    let sub = dir.path().join("sub/deeper");
    let o = cordon(&["check", "--", "rm -rf ../.."], &sub);
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    // Without .git the workspace is the cwd itself, and ../.. is outside it (under /tmp): ask.
    let plain = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(plain.path().join("a/b")).unwrap();
    let o = cordon(&["check", "--", "rm -rf ../x"], &plain.path().join("a/b"));
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn user_policy_allows_and_denies() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("policy.toml");
    std::fs::write(
        &p,
        r#"
[[rule]]
decision = "allow"
command = ["cargo", { any = ["build", "test"] }]
reason = "building in the sandbox is fine"
examples = ["cargo build --release", "cargo test -p x"]
counter_examples = ["cargo publish"]

[[rule]]
decision = "deny"
command = ["make", "deploy"]
reason = "deploys go through CI"
examples = ["make deploy"]
"#,
    )
    .unwrap();
    let pol = p.to_str().unwrap();
    let o = cordon(&["check", "--policy", pol, "--", "cargo build"], dir.path());
    assert_eq!(code(&o), 0);
    let o = cordon(
        &["check", "--json", "--policy", pol, "--", "make deploy"],
        dir.path(),
    );
    assert_eq!(code(&o), 2);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rule"], format!("{pol}:11"));
    // deny still wins over a user's allow: the built-in publish rule is not overridden.
    let o = cordon(
        &[
            "check",
            "--policy",
            pol,
            "--",
            "cargo build && cargo publish",
        ],
        dir.path(),
    );
    assert_eq!(code(&o), 2);
    let o = cordon(&["policy", "test", pol], dir.path());
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    let o = cordon(&["policy", "show", "--policy", pol], dir.path());
    let out = String::from_utf8_lossy(&o.stdout);
    let b = out.find("builtin:read-only").unwrap();
    let u = out.find(&format!("{pol}:11")).unwrap();
    assert!(b < u, "built-ins come first in evaluation order");
}

#[test]
fn bad_policy_file_names_path_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "[[rule]]\ndecision = \"maybe\"\ncommand = [\"ls\"]\nreason = \"x\"\n",
    )
    .unwrap();
    let pol = p.to_str().unwrap();
    let o = cordon(&["check", "--policy", pol, "--", "ls"], dir.path());
    assert_eq!(code(&o), 125);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("{pol}:2:12")), "{err}");
    assert!(err.contains("expected decision"), "{err}");

    // An example that does not match its rule refuses to load.
    std::fs::write(
        &p,
        "[[rule]]\ndecision = \"deny\"\ncommand = [\"git\", \"push\", { any = [\"--force\"] }]\nreason = \"x\"\nexamples = [\"git push -f\"]\n",
    )
    .unwrap();
    let o = cordon(&["policy", "test", pol], dir.path());
    assert_eq!(code(&o), 1);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&format!("{pol}:5:13")), "{out}");
    assert!(out.contains("\"git push -f\" does not match"), "{out}");
    let o = cordon(&["check", "--policy", pol, "--", "ls"], dir.path());
    assert_eq!(code(&o), 125);

    // A syntax error.
    std::fs::write(&p, "[[rule]\n").unwrap();
    let o = cordon(&["check", "--policy", pol, "--", "ls"], dir.path());
    assert_eq!(code(&o), 125);
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("{pol}:1:")));
}

#[test]
fn each_line_gives_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("history");
    std::fs::write(&h, "ls\n\nsudo id\nmake\n").unwrap();
    let o = cordon(
        &["check", "--json", "--each-line", h.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code(&o), 2, "the strictest decision");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[0]["decision"], "allow");
    assert_eq!(lines[1]["line"], 3);
    assert_eq!(lines[1]["input"], "sudo id");
    assert_eq!(lines[1]["decision"], "deny");
    assert_eq!(lines[2]["decision"], "ask");
}

/// Issue 11 item 10: the command may follow without `--`, as one argument (what users type:
/// `cordon check 'rm -rf ~'`) or as several words; `--` keeps working.
#[test]
fn command_without_double_dash() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().to_str().unwrap();
    for args in [
        vec!["check", "--workspace", ws, "rm -rf ~"],
        vec!["check", "--workspace", ws, "--", "rm -rf ~"],
        vec!["check", "--workspace", ws, "rm", "-rf", "/"],
        vec!["check", "--workspace", ws, "--", "rm", "-rf", "/"],
    ] {
        let o = cordon(&args, dir.path());
        assert_eq!(
            code(&o),
            2,
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "deny",
            "{args:?}"
        );
    }
    // Options before the command are options...
    let o = cordon(
        &["check", "--json", "--workspace", ws, "ls -la"],
        dir.path(),
    );
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["commands"][0]["argv"][0], "ls");
    // ...and every word after the command's first word belongs to it.
    let o = cordon(&["check", "--workspace", ws, "ls", "--json"], dir.path());
    assert_eq!(code(&o), 0);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "allow");
    // Nothing to check is still a usage error that says how.
    let o = cordon(&["check", "--workspace", ws], dir.path());
    assert_eq!(code(&o), 125);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cordon check [--json] 'shell command'"),
        "{err}"
    );
}
