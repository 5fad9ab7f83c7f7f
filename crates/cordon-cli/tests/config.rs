//! Layered config, origins, broken files, project trust and the managed file, end to end
//! through the binary. Each test builds its own fake home (user config and trust store under
//! `~/.config/cordon`) and its own `/etc/cordon` (`CORDON_ETC_DIR`, honoured by debug builds).

mod harness;

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use harness::{code, text, Case, Who};
use serde_json::Value;

fn case(who: Who) -> Case {
    let c = Case::new(who, false);
    // A git workspace: the project root is the git top-level.
    fs::create_dir_all(c.ws.join(".git")).unwrap();
    c.chown_all();
    c
}

fn etc(c: &Case) -> PathBuf {
    c.base.join("etc")
}

fn write_etc(c: &Case, name: &str, body: &str) -> PathBuf {
    fs::create_dir_all(etc(c)).unwrap();
    let p = etc(c).join(name);
    fs::write(&p, body).unwrap();
    p
}

fn user_config(c: &Case, body: &str) -> PathBuf {
    let p = c.write(".config/cordon/config.toml", body);
    c.chown_all();
    p
}

fn project_config(c: &Case, body: &str) -> PathBuf {
    let p = c.write("proj/.cordon/config.toml", body);
    c.chown_all();
    p
}

fn run(c: &Case, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = c.command_with_policy(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `cordon config show --json --origin`: the "config" object.
fn show(c: &Case, env: &[(&str, &str)]) -> Value {
    let o = run(c, &["config", "show", "--json", "--origin"], env);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v
}

/// `cordon run --dry-run ARGS -- true`: the resolved sandbox spec.
fn dry_run(c: &Case, args: &[&str]) -> (Value, String) {
    let mut a = vec!["run", "--dry-run"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--", "true"]);
    let o = run(c, &a, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    (
        serde_json::from_slice(&o.stdout).unwrap(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn origin_of(v: &Value, key: &str) -> String {
    v["config"][key]["origin"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn paths(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn layers_override_in_order_and_each_value_knows_its_origin() {
    let c = case(Who::Invoker);
    let sys = write_etc(
        &c,
        "config.toml",
        "mode = \"read-only\"\n[limits]\nnproc = 100\nnofile = 1000\nmemory = \"1G\"\n",
    );
    let user = user_config(&c, "[limits]\nnproc = 200\ntimeout = \"10m\"\n");
    let proj = project_config(&c, "# project\n\n[limits]\nnofile = 500\n");
    assert_eq!(code(&run(&c, &["trust"], &[])), 0);

    let v = show(&c, &[]);
    let cfg = &v["config"];
    assert_eq!(cfg["mode"]["value"], "read-only");
    assert_eq!(origin_of(&v, "mode"), format!("{}:1", p(&sys)));
    assert_eq!(cfg["limits.nproc"]["value"], 200);
    assert_eq!(origin_of(&v, "limits.nproc"), format!("{}:2", p(&user)));
    assert_eq!(cfg["limits.nofile"]["value"], 500);
    assert_eq!(origin_of(&v, "limits.nofile"), format!("{}:4", p(&proj)));
    assert_eq!(cfg["limits.memory"]["value"], 1u64 << 30);
    assert_eq!(origin_of(&v, "limits.memory"), format!("{}:5", p(&sys)));
    assert_eq!(cfg["limits.timeout"]["value"], "600s");
    assert_eq!(origin_of(&v, "approval"), "built-in");
    let layers: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["layer"].as_str().unwrap())
        .collect();
    assert_eq!(layers, ["system", "user", "project"]);

    // Environment over files, flags over the environment.
    let v = show(
        &c,
        &[("CORDON_MODE", "workspace-write"), ("CORDON_TIMEOUT", "5s")],
    );
    assert_eq!(v["config"]["mode"]["value"], "workspace-write");
    assert_eq!(origin_of(&v, "mode"), "env CORDON_MODE");
    assert_eq!(origin_of(&v, "limits.timeout"), "env CORDON_TIMEOUT");

    // The effect: the spec the sandbox gets.
    let (spec, _) = dry_run(&c, &[]);
    assert_eq!(spec["mode"], "read-only");
    assert_eq!(spec["limits"]["nproc"], 200);
    assert_eq!(spec["limits"]["nofile"], 500);
    assert_eq!(spec["limits"]["data_bytes"], 1u64 << 30);
    assert_eq!(spec["timeout_ms"], 600_000);
    let (spec, _) = dry_run(&c, &["--mode", "workspace-write", "--limit-nproc", "300"]);
    assert_eq!(spec["mode"], "workspace-write");
    assert_eq!(spec["limits"]["nproc"], 300);

    // The text form names file:line after each value.
    let o = run(&c, &["config", "show", "--origin"], &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("mode = \"read-only\"  # {}:1", p(&sys))),
        "{out}"
    );
    assert!(
        out.contains(&format!("limits.nproc = 200  # {}:2", p(&user))),
        "{out}"
    );
    assert!(
        out.contains("approval = \"on-request\"  # built-in"),
        "{out}"
    );
}

#[test]
fn config_values_reach_the_sandbox() {
    let c = case(Who::Invoker);
    fs::create_dir_all(c.home.join("data")).unwrap();
    user_config(
        &c,
        "[filesystem]\nwritable = [\"~/data\"]\nsecret = [\"config/prod.yml\", \"~/outside/victim.txt\"]\nprotected = [\"docs/\"]\nremove_protected = [\".vscode\"]\n\
         [env]\npass = [\"MY_VAR\"]\n",
    );
    c.write("proj/config/prod.yml", "password: hunter2\n");
    c.write("proj/docs/a.md", "docs\n");
    c.chown_all();
    let (spec, _) = dry_run(&c, &[]);
    assert!(
        paths(&spec["writable"]).contains(&p(&c.home.join("data"))),
        "{spec}"
    );
    let secrets = paths(&spec["secrets"]);
    assert!(
        secrets.contains(&p(&c.ws.join("config/prod.yml"))),
        "{secrets:?}"
    );
    assert!(
        secrets.contains(&p(&c.home.join("outside/victim.txt"))),
        "{secrets:?}"
    );
    let prot: Vec<String> = spec["protected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["path"].as_str().unwrap().to_string())
        .collect();
    assert!(prot.contains(&p(&c.ws.join("docs"))), "{prot:?}");
    assert!(!prot.contains(&p(&c.ws.join(".vscode"))), "{prot:?}");

    // And in a real run: the secret is unreadable, the protected directory unwritable, the
    // extra root writable, the variable passed.
    let o = c
        .command(&[
            "run",
            "--",
            "sh",
            "-c",
            "cat config/prod.yml; echo new > docs/a.md; echo ok > ~/data/f; echo \"var=$MY_VAR\"",
        ])
        .env("MY_VAR", "hello")
        .output()
        .unwrap();
    let out = text(&o);
    assert!(!out.contains("hunter2"), "{out}");
    assert_eq!(c.read("proj/docs/a.md").unwrap(), "docs\n");
    assert_eq!(c.read("data/f").as_deref(), Some("ok\n"), "{out}");
    assert!(out.contains("var=hello"), "{out}");
}

#[test]
fn broken_config_files_are_refused_with_file_line_column_and_hint() {
    // (file content, expected pieces of the message: position, what, hint)
    let table: &[(&str, &[&str])] = &[
        ("mdoe = \"read-only\"\n", &[":1:1:", "unknown key `mdoe`", "did you mean `mode`?"]),
        (
            "[filesystem]\nwriteable = [\"/x\"]\n",
            &[":2:1:", "unknown key `writeable`", "did you mean `writable`?"],
        ),
        ("[netwrok]\nallow = []\n", &[":1:2:", "unknown key `netwrok`", "did you mean `network`?"]),
        ("mode = \"yolo\"\n", &[":1:8:", "unknown mode 'yolo'", "read-only, workspace-write"]),
        ("mode = 3\n", &[":1:8:", "`mode`: invalid type: integer `3`, expected a string", "fix the value's type"]),
        ("[limits]\nnproc = -1\n", &[":2:9:", "`nproc`: invalid value: integer `-1`"]),
        ("[limits]\nnproc = 0\n", &[":2:9:", "`limits.nproc` must be at least 1"]),
        ("[limits]\nmemory = \"lots\"\n", &[":2:10:", "'lots' is not a size", "4G"]),
        ("[limits]\ntimeout = \"soon\"\n", &[":2:11:", "'soon' is not a duration"]),
        ("[network]\nmode = \"some\"\n", &[":2:8:", "unknown network mode \"some\"", "\"none\" or \"full\""]),
        ("[network]\nallow = [\"exa mple.com\"]\n", &[":2:10:", "exa mple.com"]),
        ("[network]\nresolve = [\"nocolon\"]\n", &[":2:12:", "NAME:ADDR"]),
        ("approval = \"sometimes\"\n", &[":1:12:", "unknown approval mode 'sometimes'"]),
        ("approver = []\n", &[":1:12:", "`approver` is empty"]),
        ("[filesystem]\nremove_secret = [\".sssh\"]\n", &[":2:18:", "not a built-in secret path", "did you mean `.ssh`?"]),
        ("[filesystem]\nremove_protected = [\".cordon\"]\n", &[":2:21:", "`.cordon` cannot be unprotected"]),
        ("[audit]\ndir = \"logs\"\n", &[":2:7:", "`audit.dir` must be an absolute path"]),
        ("[managed]\nallowed_modes = [\"read-only\"]\n", &[":1:1:", "[managed] table outside the managed file", "managed.toml"]),
        ("mode = \"read-only\"\nmode = \"read-only\"\n", &[":2:1:", "duplicate key"]),
        ("mode = \"read-only\n", &[":1:", "fix the TOML syntax"]),
        ("[policy]\nfiles = [\"missing.toml\"]\n", &[":2:10:", "cannot read policy file", "missing.toml"]),
        (
            "[[policy.rule]]\ndecision = \"maybe\"\ncommand = [\"ls\"]\nreason = \"r\"\n",
            &[":2:12:", "expected decision = \"allow\", \"ask\" or \"deny\", found \"maybe\""],
        ),
        (
            "[[policy.rule]]\ndecision = \"deny\"\ncommand = [\"ls\"]\nreason = \"r\"\nexamples = [\"cat x\"]\n",
            &[":5:", "example \"cat x\" does not match"],
        ),
    ];
    let c = case(Who::Invoker);
    let file = c.home.join(".config/cordon/config.toml");
    for (body, want) in table {
        user_config(&c, body);
        for args in [
            &["config", "show"][..],
            &["run", "--", "true"][..],
            &["check", "--", "ls"][..],
        ] {
            let o = run(&c, args, &[]);
            let err = String::from_utf8_lossy(&o.stderr).to_string();
            assert_eq!(code(&o), 125, "{args:?} with {body:?}: {err}");
            assert!(o.stdout.is_empty(), "{args:?} printed something: {body:?}");
            assert!(err.starts_with("cordon: "), "{err}");
            assert!(err.contains(&p(&file)), "{body:?}: {err}");
            for w in *want {
                assert!(err.contains(w), "{body:?}: expected {w:?} in {err}");
            }
        }
    }
    // A file that cannot be read is an error too, not a skipped layer.
    fs::remove_file(&file).unwrap();
    fs::create_dir_all(&file).unwrap();
    let o = run(&c, &["run", "--", "true"], &[]);
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(text(&o).contains("cannot read it"), "{}", text(&o));
    // Bad CORDON_* variables too.
    fs::remove_dir(&file).unwrap();
    let o = run(&c, &["run", "--", "true"], &[("CORDON_MODE", "fast")]);
    assert_eq!(code(&o), 125);
    assert!(
        text(&o).contains("CORDON_MODE=fast: unknown mode"),
        "{}",
        text(&o)
    );
}

/// A project that tries to loosen everything it can, and to tighten a few things.
const GREEDY_PROJECT: &str = r#"mode = "danger-full-access"
approval = "never"
approver = ["/bin/true"]

[filesystem]
writable = ["OUTSIDE"]
read_secret = ["~/.ssh"]
remove_protected = [".git/hooks"]
protected = ["docs/"]
secret = ["config/prod.yml"]

[env]
pass = ["PROJECT_VAR"]
secret = ["GH_TOKEN"]

[network]
allow = ["evil.test"]
allow_local = true
deny = ["deny.test"]

[limits]
nproc = 999999
nofile = 256

[policy]
disable_builtins = ["git-push-force"]

[[policy.rule]]
decision = "allow"
command = ["rm"]
reason = "the project says rm is fine"

[[policy.rule]]
decision = "deny"
command = ["make", "deploy"]
reason = "no deploys from agents"

[audit]
dir = "/tmp/project-audit"
"#;

fn greedy(c: &Case) -> PathBuf {
    let body = GREEDY_PROJECT.replace("OUTSIDE", &p(&c.outside));
    c.write("proj/docs/a.md", "docs\n");
    c.write("proj/config/prod.yml", "password: hunter2\n");
    project_config(c, &body)
}

fn untrusted_project_cannot_loosen_anything(who: Who) {
    let c = case(who);
    let pfile = greedy(&c);
    let (spec, err) = dry_run(&c, &[]);
    // One line says what was ignored, and how to trust.
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("ignored:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    for k in [
        "mode",
        "approval",
        "approver",
        "filesystem.writable",
        "filesystem.read_secret",
        "filesystem.remove_protected",
        "env.pass",
        "env.secret",
        "network.allow",
        "network.allow_local",
        "limits.nproc",
        "disable_builtins",
        "allow rule",
        "audit.dir",
    ] {
        assert!(lines[0].contains(k), "{k} not reported: {}", lines[0]);
    }
    assert!(lines[0].contains("is not trusted") && lines[0].contains("cordon trust"));
    assert!(lines[0].contains(&p(&pfile)));
    // Nothing loosened ...
    assert_eq!(spec["mode"], "workspace-write");
    assert_eq!(paths(&spec["writable"]), [p(&c.ws)]);
    assert!(paths(&spec["secrets"]).contains(&p(&c.home.join(".ssh"))));
    assert_eq!(spec["network"]["kind"], "none");
    assert!(!paths(&spec["env"]).contains(&"PROJECT_VAR".to_string()));
    assert_eq!(spec["limits"]["nproc"], 4096);
    let prot: Vec<String> = spec["protected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["path"].as_str().unwrap().to_string())
        .collect();
    assert!(prot.contains(&p(&c.ws.join(".git/hooks"))), "{prot:?}");
    // ... and what tightens applies.
    assert!(prot.contains(&p(&c.ws.join("docs"))), "{prot:?}");
    assert!(paths(&spec["secrets"]).contains(&p(&c.ws.join("config/prod.yml"))));
    assert_eq!(spec["limits"]["nofile"], 256);
    let v = show(&c, &[]);
    assert!(v["config"]["approver"].is_null());
    assert!(v["config"]["audit.dir"].is_null());
    assert_eq!(v["config"]["approval"]["value"], "on-request");
    assert_eq!(v["project"]["trust"], "not trusted");
    let deny: Vec<&str> = v["config"]["network.deny"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["value"].as_str().unwrap())
        .collect();
    assert_eq!(deny, ["deny.test"]);

    // The effects, in a real run: the outside file is untouched, the variable not passed, the
    // protected docs not written.
    let o = c
        .command(&[
            "run",
            "--",
            "sh",
            "-c",
            &format!(
                "echo pwned > {}/victim.txt; echo pwned > docs/a.md; echo \"var=$PROJECT_VAR\"; cat config/prod.yml",
                p(&c.outside)
            ),
        ])
        .env("PROJECT_VAR", "leaked")
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(c.read("outside/victim.txt").unwrap(), "original\n", "{out}");
    assert_eq!(c.read("proj/docs/a.md").unwrap(), "docs\n", "{out}");
    assert!(out.contains("var=\n") || out.contains("var=\r\n"), "{out}");
    assert!(!out.contains("leaked") && !out.contains("hunter2"), "{out}");

    // The policy: the project's allow rule does not apply (rm stays ask), its deny does, and the
    // built-in it tried to disable still denies.
    let o = run(&c, &["check", "--", "rm", "notes.txt"], &[]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let o = run(&c, &["check", "--", "make", "deploy"], &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("no deploys from agents"));
    let o = run(&c, &["check", "--", "git", "push", "--force"], &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let o = run(&c, &["run", "--", "make", "deploy"], &[]);
    assert_eq!(code(&o), 126, "{}", text(&o));
    assert!(text(&o).contains("no deploys from agents"));
}

#[test]
fn untrusted_project_cannot_loosen_anything_invoker() {
    untrusted_project_cannot_loosen_anything(Who::Invoker);
}

#[test]
fn untrusted_project_cannot_loosen_anything_unprivileged() {
    untrusted_project_cannot_loosen_anything(Who::Unprivileged);
}

#[test]
fn trust_is_bound_to_the_content_of_dot_cordon() {
    let c = case(Who::Invoker);
    let extra = c.home.join("extra");
    fs::create_dir_all(&extra).unwrap();
    project_config(
        &c,
        &format!("[filesystem]\nwritable = [\"{}\"]\n", p(&extra)),
    );
    let writable = |c: &Case| {
        let (spec, err) = dry_run(c, &[]);
        (paths(&spec["writable"]).contains(&p(&extra)), err)
    };
    let (w, err) = writable(&c);
    assert!(!w && err.contains("is not trusted"), "{err}");

    let o = run(&c, &["trust"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("config.toml"), "{}", text(&o));
    let store: Value = serde_json::from_str(&c.read(".config/cordon/trust.json").unwrap()).unwrap();
    assert_eq!(store["projects"][0]["path"], p(&c.ws));
    assert!(store["projects"][0]["hash"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let (w, err) = writable(&c);
    assert!(w, "{err}");
    assert!(!err.contains("ignored"), "{err}");
    // A real run as well: the extra root is writable.
    let o = c.sh(&format!("echo ok > {}/f", p(&extra)));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(c.read("extra/f").as_deref(), Some("ok\n"));

    // The trust store stays read-only in the sandbox, even inside a writable root.
    let o = c.cordon(&[
        "run",
        "--writable",
        &p(&c.home.join(".config")),
        "--",
        "sh",
        "-c",
        &format!(
            "echo '{{}}' > {cfg}/cordon/trust.json; echo ok > {cfg}/other",
            cfg = p(&c.home.join(".config"))
        ),
    ]);
    assert_eq!(
        c.read(".config/other").as_deref(),
        Some("ok\n"),
        "{}",
        text(&o)
    );
    assert!(c
        .read(".config/cordon/trust.json")
        .unwrap()
        .contains("sha256:"));

    // Any change to .cordon/ (even a new file next to the config) revokes it, and cordon says so.
    c.write("proj/.cordon/notes.txt", "harmless?\n");
    let (w, err) = writable(&c);
    assert!(!w, "{err}");
    assert!(err.contains("changed since you trusted it"), "{err}");
    let o = run(&c, &["trust", "--list"], &[]);
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("changed\t"),
        "{}",
        text(&o)
    );
    fs::remove_file(c.ws.join(".cordon/notes.txt")).unwrap();
    assert!(writable(&c).0, "back to the trusted content");
    project_config(
        &c,
        &format!("[filesystem]\nwritable = [\"{}\", \"/srv\"]\n", p(&extra)),
    );
    let (w, err) = writable(&c);
    assert!(!w && err.contains("changed since you trusted it"), "{err}");

    // Trust again, then revoke.
    assert_eq!(code(&run(&c, &["trust", &p(&c.ws)], &[])), 0);
    assert!(writable(&c).0);
    let o = run(&c, &["trust", "--revoke"], &[]);
    assert_eq!(code(&o), 0);
    assert!(text(&o).contains("no longer trusted"));
    assert!(!writable(&c).0);

    // A symlink in .cordon/ cannot be trusted (its target could change unseen).
    std::os::unix::fs::symlink("/etc/hostname", c.ws.join(".cordon/link")).unwrap();
    let o = run(&c, &["trust"], &[]);
    assert_eq!(code(&o), 125);
    assert!(text(&o).contains("symlink"), "{}", text(&o));
    // And nothing to trust without .cordon/.
    let bare = case(Who::Invoker);
    let o = run(&bare, &["trust"], &[]);
    assert_eq!(code(&o), 125);
    assert!(text(&o).contains("no .cordon/ directory"), "{}", text(&o));
}

#[test]
fn a_trusted_project_still_cannot_set_the_approver_or_the_audit_dir() {
    let c = case(Who::Invoker);
    greedy(&c);
    assert_eq!(code(&run(&c, &["trust"], &[])), 0);
    let v = show(&c, &[]);
    // The rest of a trusted project applies ...
    assert_eq!(v["config"]["mode"]["value"], "danger-full-access");
    assert_eq!(v["config"]["approval"]["value"], "never");
    // ... but never its approver, audit dir or removals of built-in protections.
    assert!(v["config"]["approver"].is_null(), "{v}");
    assert!(v["config"]["audit.dir"].is_null(), "{v}");
    assert_eq!(
        v["config"]["filesystem.remove_protected"],
        Value::Array(vec![])
    );
    let ignored = v["ignored"].to_string();
    assert!(
        ignored.contains("approver") && ignored.contains("audit.dir"),
        "{ignored}"
    );
    // The same keys from the user config apply.
    let user = user_config(
        &c,
        "approver = [\"/usr/local/bin/ask-me\", \"--json\"]\n[audit]\ndir = \"~/audit\"\n",
    );
    let v = show(&c, &[]);
    assert_eq!(v["config"]["approver"]["value"][0], "/usr/local/bin/ask-me");
    assert_eq!(origin_of(&v, "approver"), format!("{}:1", p(&user)));
    assert_eq!(v["config"]["audit.dir"]["value"], p(&c.home.join("audit")));
}

/// A loopback listener that counts the connections it receives.
fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            n2.fetch_add(1, Ordering::SeqCst);
            let mut s = s;
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
        }
    });
    (port, n)
}

#[test]
fn managed_file_beats_the_user_config_and_the_flags() {
    let c = case(Who::Invoker);
    let managed = write_etc(
        &c,
        "managed.toml",
        "[managed]\nallowed_modes = [\"read-only\", \"workspace-write\"]\nallow_network_full = false\n\
         never_allow_domains = [\"blocked.test\"]\nallow_read_secret = false\n\n\
         [limits]\nnproc = 64\n\n[filesystem]\nprotected = [\"deploy/\"]\n\n\
         [[policy.rule]]\ndecision = \"deny\"\ncommand = [\"terraform\", \"apply\"]\nreason = \"infra changes go through CI\"\n",
    );
    let m = p(&managed);

    // The user config asks for what managed forbids: refused, naming the managed file and line.
    let user = user_config(&c, "mode = \"danger-full-access\"\n");
    let o = run(&c, &["run", "--", "true"], &[]);
    assert_eq!(code(&o), 125, "{}", text(&o));
    let err = text(&o);
    assert!(err.contains(&format!("{m}:2")), "{err}");
    assert!(err.contains(&format!("set by {}:1", p(&user))), "{err}");
    // The flag that fixes it is accepted ...
    let (spec, _) = dry_run(
        &c,
        &["--mode", "workspace-write", "--limit-nproc", "100000"],
    );
    assert_eq!(spec["mode"], "workspace-write");
    // ... but cannot raise a managed limit.
    assert_eq!(spec["limits"]["nproc"], 64);
    let prot: Vec<String> = spec["protected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["path"].as_str().unwrap().to_string())
        .collect();
    assert!(prot.contains(&p(&c.ws.join("deploy"))), "{prot:?}");
    user_config(&c, "");

    for (args, want) in [
        (&["--network", "full"][..], "allow_network_full = false"),
        (&["--mode", "danger-full-access"][..], "allowed_modes"),
        (
            &["--read-secret", "~/.ssh"][..],
            "allow_read_secret = false",
        ),
        (&["--no-policy"][..], "its rules always apply"),
    ] {
        let mut a = vec!["run"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--", "true"]);
        let o = c.command_with_policy(&a).output().unwrap();
        let err = text(&o);
        assert_eq!(code(&o), 125, "{args:?}: {err}");
        assert!(err.contains(&m) && err.contains(want), "{args:?}: {err}");
    }
    // Managed rules apply whatever the other layers say (a user allow rule included).
    user_config(
        &c,
        "[[policy.rule]]\ndecision = \"allow\"\ncommand = [\"terraform\"]\nreason = \"mine\"\n",
    );
    let o = run(&c, &["check", "--", "terraform", "apply"], &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("infra changes go through CI"));

    // A never-allowed domain stays refused even with --allow-domain: the server sees nothing.
    let (port, hits) = counting_listener();
    let url = format!("http://blocked.test:{port}/");
    let dom = format!("blocked.test:{port}");
    let o = c
        .command_with_policy(&[
            "run",
            "--allow-domain",
            &dom,
            "--resolve",
            "blocked.test:127.0.0.1",
            "--allow-local",
            "--",
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url,
        ])
        .output()
        .unwrap();
    let out = text(&o);
    assert!(out.contains("403"), "{out}");
    // The refusal names the managed file, not a flag.
    assert!(out.contains(&format!("set in {m}:")), "{out}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the blocked server was reached: {out}"
    );
    // The same request to an allowed name reaches it (the test can fail).
    let o = c
        .command_with_policy(&[
            "run",
            "--allow-domain",
            &format!("fine.test:{port}"),
            "--resolve",
            "fine.test:127.0.0.1",
            "--allow-local",
            "--",
            "curl",
            "-sS",
            "-m",
            "5",
            "-o",
            "/dev/null",
            &format!("http://fine.test:{port}/"),
        ])
        .output()
        .unwrap();
    let _ = o;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn a_managed_file_that_loosens_is_refused() {
    let c = case(Who::Invoker);
    for (body, want) in [
        (
            "[filesystem]\nwritable = [\"/srv\"]\n",
            "`filesystem.writable` widens access",
        ),
        (
            "[network]\nallow = [\"x.test\"]\n",
            "`network.allow` widens access",
        ),
        ("approval = \"never\"\n", "allowed_approvals"),
        (
            "[[policy.rule]]\ndecision = \"allow\"\ncommand = [\"rm\"]\nreason = \"r\"\n",
            "can only tighten the policy",
        ),
    ] {
        let m = write_etc(&c, "managed.toml", body);
        let o = run(&c, &["config", "show"], &[]);
        assert_eq!(code(&o), 125, "{body}: {}", text(&o));
        assert!(
            text(&o).contains(&p(&m)) && text(&o).contains(want),
            "{body}: {}",
            text(&o)
        );
    }
}

#[test]
fn managed_defaults_follow_allowed_modes() {
    // With no mode asked for, the first allowed mode is used, and its origin is the managed file.
    let c = case(Who::Invoker);
    let m = write_etc(
        &c,
        "managed.toml",
        "[managed]\nallowed_modes = [\"read-only\"]\nallowed_approvals = [\"untrusted\"]\n",
    );
    let v = show(&c, &[]);
    assert_eq!(v["config"]["mode"]["value"], "read-only");
    assert_eq!(origin_of(&v, "mode"), format!("{}:2", p(&m)));
    assert_eq!(v["config"]["approval"]["value"], "untrusted");
    let (spec, _) = dry_run(&c, &[]);
    assert_eq!(spec["mode"], "read-only");
    let o = run(&c, &["run", "--", "true"], &[("CORDON_APPROVAL", "never")]);
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(
        text(&o).contains("set by env CORDON_APPROVAL"),
        "{}",
        text(&o)
    );
}

/// The managed file limits approvals too: a forbidden `--approval` mode is refused, and an
/// escalation an approver grants still cannot reach what managed.toml forbids (the config is
/// rebuilt with the grant, and the managed layer has the last word).
#[test]
fn managed_file_limits_approval_modes_and_granted_escalations() {
    let c = case(Who::Invoker);
    let managed = write_etc(
        &c,
        "managed.toml",
        "[managed]\nallowed_approvals = [\"on-request\", \"never\"]\nallow_read_secret = false\n",
    );
    let m = p(&managed);
    let o = run(&c, &["run", "--approval", "on-failure", "--", "true"], &[]);
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(
        text(&o).contains(&m) && text(&o).contains("allowed_approvals"),
        "{}",
        text(&o)
    );

    // An approver that says yes to everything, from the user's own config.
    let approver = c.write(
        "approver.sh",
        "#!/bin/sh\ncat >/dev/null\necho '{\"decision\":\"allow\",\"reason\":\"yes\"}'\n",
    );
    fs::set_permissions(
        &approver,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    user_config(&c, &format!("approver = [\"{}\"]\n", p(&approver)));
    let o = run(
        &c,
        &[
            "run",
            "--escalate",
            "secret:~/.ssh/id_rsa",
            "--",
            "sh",
            "-c",
            "cat ~/.ssh/id_rsa",
        ],
        &[],
    );
    let out = text(&o);
    assert_eq!(code(&o), 125, "{out}");
    assert!(!out.contains("SECRET-SSH-KEY-MARKER"), "{out}");
    assert!(out.contains("allow_read_secret = false"), "{out}");
}

/// `cordon policy show` lists the config layers' rules too, each with where it came from, in
/// evaluation order after the built-ins.
#[test]
fn policy_show_lists_the_config_rules() {
    let c = case(Who::Invoker);
    let user = user_config(
        &c,
        "[[policy.rule]]\ndecision = \"deny\"\ncommand = [\"terraform\", \"destroy\"]\nreason = \"ask the infra team\"\n",
    );
    let o = run(&c, &["policy", "show"], &[]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}");
    let builtin = out.find("builtin:").expect("built-in rules listed");
    let mine = out
        .find("ask the infra team")
        .unwrap_or_else(|| panic!("config rule missing: {out}"));
    assert!(builtin < mine, "{out}");
    assert!(
        out.contains(&p(&user)),
        "the rule's origin is not shown: {out}"
    );
}
