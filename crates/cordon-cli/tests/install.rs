//! `cordon install AGENT` / `cordon uninstall AGENT` on real settings files in a fake home: the
//! user's other settings, order, formatting and comments survive byte for byte; installing twice
//! leaves one hook; uninstall removes exactly cordon's entries (not a hook the user added after);
//! `--dry-run` prints the diff and writes nothing; a broken file is refused, named with its line
//! and column, and left untouched; the managed scope sets the "managed hooks only" switch and
//! restores it. Run as the invoking user and as an unprivileged user.

mod harness;

use std::fs;
use std::path::Path;
use std::process::Output;

use harness::{code, text, Case, Who};

fn install(c: &Case, args: &[&str]) -> Output {
    let mut a = vec!["install"];
    a.extend_from_slice(args);
    c.command(&a)
        .env("CORDON_AGENTS_ETC_DIR", c.base.join("agents-etc"))
        .output()
        .unwrap()
}

fn uninstall(c: &Case, args: &[&str]) -> Output {
    let mut a = vec!["uninstall"];
    a.extend_from_slice(args);
    c.command(&a)
        .env("CORDON_AGENTS_ETC_DIR", c.base.join("agents-etc"))
        .output()
        .unwrap()
}

fn ok(o: &Output) {
    assert_eq!(code(o), 0, "{}", text(o));
}

fn json(p: &Path) -> serde_json::Value {
    let s = fs::read_to_string(p).unwrap();
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}\n{s}", p.display()))
}

/// Every `command` (or Copilot's `bash`) string under `hooks`.
fn commands(v: &serde_json::Value, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, key: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if k == key {
                        out.extend(x.as_str().map(String::from));
                    }
                    walk(x, key, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, key, out)),
            _ => {}
        }
    }
    walk(&v["hooks"], key, &mut out);
    out
}

fn cordon_cmds(v: &serde_json::Value, key: &str) -> usize {
    commands(v, key)
        .iter()
        .filter(|c| c.contains("/cordon hook "))
        .count()
}

const CLAUDE_SETTINGS: &str = r#"{
  "model": "opus",
  "permissions": {"allow": ["Bash(ls)"], "deny": []},
  "hooks": {
    "PreToolUse": [
      {"matcher": "Bash", "hooks": [{"type": "command", "command": "my-own-hook --strict"}]}
    ]
  },
  "zzz_last": true
}
"#;

fn round_trip_claude(c: &Case) {
    let p = c.write(".claude/settings.json", CLAUDE_SETTINGS);
    c.chown_all();
    ok(&install(c, &["claude"]));
    let v = json(&p);
    // Ours on the three events, the user's hook and settings still there.
    assert_eq!(cordon_cmds(&v, "command"), 3, "{v}");
    assert_eq!(
        v["hooks"]["PreToolUse"][0]["hooks"][0]["command"],
        "my-own-hook --strict"
    );
    assert_eq!(v["model"], "opus");
    assert_eq!(v["zzz_last"], true);
    let after = fs::read_to_string(&p).unwrap();
    // Key order kept: model first, zzz_last last.
    assert!(after.starts_with("{\n  \"model\": \"opus\",\n  \"permissions\": {\"allow\": [\"Bash(ls)\"], \"deny\": []},"), "{after}");
    assert!(
        after.trim_end().ends_with("\"zzz_last\": true\n}"),
        "{after}"
    );
    // The command is the absolute path of the binary.
    let cmd = commands(&v, "command")
        .into_iter()
        .find(|c| c.contains("cordon"))
        .unwrap();
    assert!(
        cmd.starts_with('/') && cmd.ends_with("/cordon hook claude"),
        "{cmd}"
    );
    // A backup of the original.
    assert_eq!(
        fs::read_to_string(c.home.join(".claude/settings.json.cordon-bak")).unwrap(),
        CLAUDE_SETTINGS
    );
    // Idempotent: byte for byte.
    let o = install(c, &["claude"]);
    ok(&o);
    assert!(text(&o).contains("nothing changed"), "{}", text(&o));
    assert_eq!(fs::read_to_string(&p).unwrap(), after);
    // Uninstall: byte for byte the original.
    ok(&uninstall(c, &["claude"]));
    assert_eq!(fs::read_to_string(&p).unwrap(), CLAUDE_SETTINGS);
    // A second uninstall finds nothing and changes nothing.
    let o = uninstall(c, &["claude"]);
    ok(&o);
    assert!(text(&o).contains("nothing changed"), "{}", text(&o));
    assert_eq!(fs::read_to_string(&p).unwrap(), CLAUDE_SETTINGS);
}

fn uninstall_keeps_what_the_user_added_after(c: &Case) {
    let p = c.home.join(".claude/settings.json");
    ok(&install(c, &["claude"]));
    // The user adds a hook in the same group as cordon's, and a group of their own after it.
    let mut v = json(&p);
    let pre = v["hooks"]["PreToolUse"].as_array_mut().unwrap();
    pre[0]["hooks"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "command", "command": "added-in-cordons-group"}));
    pre.push(serde_json::json!({"matcher": "Write", "hooks": [{"type": "command", "command": "added-after"}]}));
    v["theme"] = "dark".into();
    fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    ok(&uninstall(c, &["claude"]));
    let v = json(&p);
    assert_eq!(cordon_cmds(&v, "command"), 0, "{v}");
    let left = commands(&v, "command");
    assert_eq!(left, vec!["added-in-cordons-group", "added-after"], "{v}");
    assert_eq!(v["theme"], "dark");
    assert!(
        v["hooks"].get("PostToolUse").is_none() && v["hooks"].get("SessionStart").is_none(),
        "{v}"
    );
}

fn reinstall_from_another_path_updates_the_entry(c: &Case) {
    let p = c.write(
        ".claude/settings.json",
        r#"{"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "/old/place/cordon hook claude"}]}]}}"#,
    );
    c.chown_all();
    ok(&install(c, &["claude"]));
    let v = json(&p);
    let cmds = commands(&v, "command");
    assert_eq!(cmds.len(), 3, "{v}");
    assert!(cmds.iter().all(|c| !c.starts_with("/old/place")), "{v}");
}

const CODEX_TOML: &str = r#"# my codex settings
model = "o3" # the model I use

[hooks]
# the user's own hook
[[hooks.PreToolUse]]
matcher = "Bash"
[[hooks.PreToolUse.hooks]]
type = "command"
command = "my-hook"

[profiles.fast]
model = "o4-mini"
"#;

fn round_trip_codex_toml_with_comments(c: &Case) {
    // A config.toml that already holds [hooks]: cordon edits that, not hooks.json.
    let p = c.write(".codex/config.toml", CODEX_TOML);
    c.chown_all();
    ok(&install(c, &["codex"]));
    let after = fs::read_to_string(&p).unwrap();
    assert!(!c.home.join(".codex/hooks.json").exists());
    for keep in [
        "# my codex settings",
        "model = \"o3\" # the model I use",
        "# the user's own hook",
        "command = \"my-hook\"",
        "[profiles.fast]",
    ] {
        assert!(after.contains(keep), "{keep} lost:\n{after}");
    }
    let doc: toml::Table = toml::from_str(&after).unwrap();
    for ev in ["PreToolUse", "PostToolUse", "SessionStart"] {
        let groups = doc["hooks"][ev].as_array().unwrap();
        let n = groups
            .iter()
            .flat_map(|g| g["hooks"].as_array().unwrap())
            .filter(|h| {
                h["command"]
                    .as_str()
                    .unwrap()
                    .ends_with("/cordon hook codex")
            })
            .count();
        assert_eq!(n, 1, "{ev}:\n{after}");
    }
    ok(&install(c, &["codex"]));
    assert_eq!(fs::read_to_string(&p).unwrap(), after, "not idempotent");
    let o = install(c, &["codex"]);
    assert!(
        text(&o).contains("/hooks"),
        "the trust step is not said: {}",
        text(&o)
    );
    ok(&uninstall(c, &["codex"]));
    assert_eq!(fs::read_to_string(&p).unwrap(), CODEX_TOML);
}

fn codex_without_inline_hooks_gets_hooks_json(c: &Case) {
    c.write(".codex/config.toml", "model = \"o3\"\n");
    c.chown_all();
    ok(&install(c, &["codex"]));
    assert_eq!(
        fs::read_to_string(c.home.join(".codex/config.toml")).unwrap(),
        "model = \"o3\"\n"
    );
    let v = json(&c.home.join(".codex/hooks.json"));
    assert_eq!(cordon_cmds(&v, "command"), 3);
    // Codex refuses unknown top-level keys in hooks.json: only `hooks`.
    assert_eq!(
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["hooks"]
    );
    ok(&uninstall(c, &["codex"]));
    assert!(
        !c.home.join(".codex/hooks.json").exists(),
        "a file that held only cordon's hook is removed"
    );
}

const GEMINI_JSONC: &str = "{\n  // my theme\n  \"ui\": {\"theme\": \"GitHub\"},\n  \"hooks\": {\n    \"BeforeTool\": [\n      {\"matcher\": \"write_file\", \"hooks\": [{\"name\": \"mine\", \"type\": \"command\", \"command\": \"lint.sh\"}]},\n    ],\n  },\n}\n";

fn round_trip_gemini_with_comments(c: &Case) {
    let p = c.write(".gemini/settings.json", GEMINI_JSONC);
    c.chown_all();
    ok(&install(c, &["gemini"]));
    let after = fs::read_to_string(&p).unwrap();
    assert!(after.contains("// my theme"), "{after}");
    assert!(after.contains("hook gemini"), "{after}");
    ok(&uninstall(c, &["gemini"]));
    assert_eq!(fs::read_to_string(&p).unwrap(), GEMINI_JSONC);
}

fn own_files_cursor_copilot_goose(c: &Case) {
    ok(&install(c, &["cursor"]));
    let v = json(&c.home.join(".cursor/hooks.json"));
    assert_eq!(v["version"], 1);
    assert_eq!(cordon_cmds(&v, "command"), 3);
    assert_eq!(v["hooks"]["beforeShellExecution"][0]["failClosed"], true);
    ok(&install(c, &["copilot"]));
    let v = json(&c.home.join(".copilot/hooks/cordon.json"));
    assert!(v["hooks"]["preToolUse"][0]["bash"]
        .as_str()
        .unwrap()
        .ends_with("/cordon hook copilot --event preToolUse"));
    ok(&install(c, &["goose"]));
    let v = json(&c.home.join(".agents/plugins/cordon/hooks/hooks.json"));
    assert_eq!(
        v["hooks"]["PreToolUse"][0]["hooks"][0]["on_failure"],
        "block"
    );
    assert!(c.home.join(".agents/plugins/cordon/plugin.json").exists());
    for a in ["cursor", "copilot", "goose"] {
        ok(&uninstall(c, &[a]));
    }
    assert!(!c.home.join(".cursor/hooks.json").exists());
    assert!(!c.home.join(".copilot/hooks/cordon.json").exists());
    assert!(
        !c.home.join(".agents/plugins/cordon").exists(),
        "the plugin directory is left"
    );
}

fn dry_run_prints_the_diff_and_writes_nothing(c: &Case) {
    let p = c.write(".claude/settings.json", CLAUDE_SETTINGS);
    c.chown_all();
    let before = fs::metadata(&p).unwrap().modified().unwrap();
    let o = install(c, &["claude", "--dry-run"]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("--- {}", p.display()))
            && out.contains(&format!("+++ {}", p.display())),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with('+') && l.contains("/cordon hook claude")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with(' ') && l.contains("\"permissions\"")),
        "no context: {out}"
    );
    assert_eq!(fs::read_to_string(&p).unwrap(), CLAUDE_SETTINGS);
    assert_eq!(fs::metadata(&p).unwrap().modified().unwrap(), before);
    assert!(!c.home.join(".claude/settings.json.cordon-bak").exists());
    // A new file: the diff is from /dev/null, and nothing is created.
    let o = install(c, &["cursor", "--dry-run"]);
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("--- /dev/null"),
        "{}",
        text(&o)
    );
    assert!(!c.home.join(".cursor").exists());
    // Uninstall's dry run.
    ok(&install(c, &["claude"]));
    let installed = fs::read_to_string(&p).unwrap();
    let o = uninstall(c, &["claude", "--dry-run"]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout)
        .lines()
        .any(|l| l.starts_with('-') && l.contains("/cordon hook claude")));
    assert_eq!(fs::read_to_string(&p).unwrap(), installed);
}

fn broken_settings_are_refused_untouched(c: &Case) {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "claude",
            ".claude/settings.json",
            "{\n  \"model\": \"opus\",\n  \"hooks\": {,\n}\n",
            ".claude/settings.json:3:",
        ),
        // Comments are not JSON to Claude Code.
        (
            "claude",
            ".claude/settings.json",
            "{\n  // no comments here\n  \"a\": 1\n}\n",
            ".claude/settings.json:2:",
        ),
        (
            "gemini",
            ".gemini/settings.json",
            "{\n  \"ui\": {\n    \"theme\" \"x\"\n  }\n}\n",
            ".gemini/settings.json:3:",
        ),
        (
            "codex",
            ".codex/config.toml",
            "model = \"o3\"\n[hooks\n",
            ".codex/config.toml:2:",
        ),
        (
            "cursor",
            ".cursor/hooks.json",
            "{\"version\": 1, \"hooks\": 3}\n",
            "\"hooks\" is not a JSON object",
        ),
        (
            "claude",
            ".claude/settings.json",
            "[1, 2]\n",
            "not a JSON object",
        ),
    ];
    for (agent, rel, content, want) in cases {
        let p = c.write(rel, content);
        c.chown_all();
        // A file that parses but holds something else where cordon's hooks go: uninstall finds
        // nothing of cordon's (and says so); a file that does not parse is refused by all three.
        let shape_only = want.starts_with("\"hooks\"");
        let o = uninstall(c, &[agent]);
        if shape_only {
            assert_eq!(code(&o), 0, "{}", text(&o));
            assert_eq!(fs::read_to_string(&p).unwrap(), *content);
        }
        let mut runs = vec![install(c, &[agent]), install(c, &[agent, "--dry-run"])];
        if !shape_only {
            runs.push(o);
        }
        for o in runs {
            assert_eq!(code(&o), 125, "{agent} {content:?}: {}", text(&o));
            let msg = String::from_utf8_lossy(&o.stderr);
            assert!(msg.contains(want), "{agent} {content:?}: {msg}");
            assert!(msg.contains("left untouched"), "{msg}");
            assert_eq!(
                fs::read_to_string(&p).unwrap(),
                *content,
                "{rel} was changed"
            );
            let bak = format!("{}.cordon-bak", p.display());
            assert!(!Path::new(&bak).exists(), "a backup of a refused file");
        }
        fs::remove_file(&p).unwrap();
        // Codex: the broken config.toml must not divert the install into hooks.json either.
        assert!(!c.home.join(".codex/hooks.json").exists());
    }
}

fn managed_scope_sets_and_restores_the_switch(c: &Case) {
    let etc = c.base.join("agents-etc");
    fs::create_dir_all(etc.join("claude-code")).unwrap();
    let managed = etc.join("claude-code/managed-settings.json");
    let original = "{\n  \"permissions\": {\"deny\": [\"Bash(curl:*)\"]},\n  \"allowManagedHooksOnly\": false\n}\n";
    fs::write(&managed, original).unwrap();
    c.chown_all();
    let o = install(c, &["claude", "--scope", "managed"]);
    ok(&o);
    assert!(text(&o).contains("allowManagedHooksOnly"), "{}", text(&o));
    let v = json(&managed);
    assert_eq!(v["allowManagedHooksOnly"], true);
    assert_eq!(cordon_cmds(&v, "command"), 3);
    assert_eq!(v["permissions"]["deny"][0], "Bash(curl:*)");
    ok(&uninstall(c, &["claude", "--scope", "managed"]));
    // false again, as the administrator had it.
    assert_eq!(fs::read_to_string(&managed).unwrap(), original);

    // Codex: requirements.toml, created, then removed again whole.
    let req = etc.join("codex/requirements.toml");
    ok(&install(c, &["codex", "--scope", "managed"]));
    let t: toml::Table = toml::from_str(&fs::read_to_string(&req).unwrap()).unwrap();
    assert_eq!(t["allow_managed_hooks_only"].as_bool(), Some(true));
    assert!(t["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .ends_with("/cordon hook codex"));
    ok(&uninstall(c, &["codex", "--scope", "managed"]));
    assert!(
        !req.exists(),
        "{}",
        fs::read_to_string(&req).unwrap_or_default()
    );

    // A switch the administrator set before is kept on uninstall.
    fs::write(&req, "# site policy\nallow_managed_hooks_only = true\n").unwrap();
    c.chown_all();
    ok(&install(c, &["codex", "--scope", "managed"]));
    ok(&uninstall(c, &["codex", "--scope", "managed"]));
    assert_eq!(
        fs::read_to_string(&req).unwrap(),
        "# site policy\nallow_managed_hooks_only = true\n"
    );

    // Gemini: the system settings; Copilot and goose have no managed scope (said, exit 125).
    ok(&install(c, &["gemini", "--scope", "managed"]));
    assert_eq!(
        cordon_cmds(&json(&etc.join("gemini-cli/settings.json")), "command"),
        3
    );
    for a in ["copilot", "goose"] {
        let o = install(c, &[a, "--scope", "managed"]);
        assert_eq!(code(&o), 125, "{}", text(&o));
        assert!(text(&o).contains("--scope user"), "{}", text(&o));
    }
}

fn project_scope(c: &Case) {
    fs::create_dir_all(c.ws.join(".git")).unwrap();
    fs::create_dir_all(c.ws.join("sub/dir")).unwrap();
    c.chown_all();
    let o = c
        .command(&["install", "claude", "--scope", "project"])
        .current_dir(c.ws.join("sub/dir"))
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(
        cordon_cmds(&json(&c.ws.join(".claude/settings.json")), "command"),
        3
    );
    ok(&install(c, &["copilot", "--scope", "project"]));
    assert!(c.ws.join(".github/hooks/cordon.json").exists());
    ok(&uninstall(c, &["copilot", "--scope", "project"]));
    assert!(!c.ws.join(".github/hooks/cordon.json").exists());
}

fn symlinked_settings_are_edited_where_they_point(c: &Case) {
    let real = c.write("dotfiles/claude.json", "{\"model\": \"opus\"}\n");
    fs::create_dir_all(c.home.join(".claude")).unwrap();
    std::os::unix::fs::symlink(&real, c.home.join(".claude/settings.json")).unwrap();
    c.chown_all();
    ok(&install(c, &["claude"]));
    assert!(fs::symlink_metadata(c.home.join(".claude/settings.json"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(cordon_cmds(&json(&real), "command"), 3);
}

macro_rules! both_users {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::harness::{Case, Who};
            #[test] fn invoker() { super::$name(&Case::new(Who::Invoker, false)) }
            #[test] fn unprivileged() { super::$name(&Case::new(Who::Unprivileged, false)) }
        }
    )*};
}

both_users!(
    round_trip_claude,
    uninstall_keeps_what_the_user_added_after,
    reinstall_from_another_path_updates_the_entry,
    round_trip_codex_toml_with_comments,
    codex_without_inline_hooks_gets_hooks_json,
    round_trip_gemini_with_comments,
    own_files_cursor_copilot_goose,
    dry_run_prints_the_diff_and_writes_nothing,
    broken_settings_are_refused_untouched,
    managed_scope_sets_and_restores_the_switch,
    project_scope,
    symlinked_settings_are_edited_where_they_point,
);

/// Without the tests' override, the managed scope is root's: an unprivileged user is told so.
#[test]
fn managed_scope_needs_root() {
    let c = Case::new(Who::Unprivileged, false);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return; // no other user to try it as
    }
    let o = c
        .command(&["install", "claude", "--scope", "managed"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(text(&o).contains("root"), "{}", text(&o));
}

/// The self-test runs the hook command found in the settings, as the agent would: a hook that
/// answers correctly passes, one that crashes (which the agent would take as "allow") fails and
/// says which case. The hooks here are stand-ins named `cordon` (the real `cordon hook` is tested
/// by the hook adapters' own tests); what is tested is the self-test's reading of each answer.
fn self_test_reads_the_answers(c: &Case) {
    use std::os::unix::fs::PermissionsExt;
    let good = c.base.join("good/cordon");
    let bad = c.base.join("bad/cordon");
    for (p, script) in [
        (
            &good,
            // deny (exit 2) what mentions rm -rf, .ssh or is not JSON; allow the rest.
            "#!/bin/sh\nin=$(cat)\ncase \"$in\" in\n  *'rm -rf'*|*.ssh*) echo denied >&2; exit 2;;\n  '{\"'*) echo '{}'; exit 0;;\n  *) exit 2;;\nesac\n",
        ),
        (&bad, "#!/bin/sh\ncat >/dev/null\nexit 1\n"),
    ] {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, script).unwrap();
        fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    for (bin, want_ok) in [(&good, true), (&bad, false)] {
        let settings = serde_json::json!({"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [
            {"type": "command", "command": format!("{} hook claude", bin.display())}]}]}});
        c.write(".claude/settings.json", &settings.to_string());
        c.chown_all();
        // `install --self-test` without an agent tests every installed hook, changing nothing.
        let o2 = c
            .command(&["install", "--self-test", "--json"])
            .output()
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&o2.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o2)));
        assert_eq!(v["ok"], want_ok, "{v:#}");
        assert_eq!(code(&o2), if want_ok { 0 } else { 1 });
        let claude = &v["agents"][0];
        assert_eq!(claude["agent"], "claude");
        let cases = claude["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 4, "{v:#}");
        if !want_ok {
            // The crash is reported as what it is, for every case.
            assert!(
                cases
                    .iter()
                    .all(|c| c["ok"] == false && c["verdict"]["garbled"].is_string()),
                "{v:#}"
            );
        }
    }
}

both_users!(self_test_reads_the_answers);

/// The self-test against the real `cordon hook`, installed into every agent's user settings:
/// every protocol's samples answered as the agent needs (refusals refused, `ls` not, garbage
/// refused), and the rewrite into `cordon run` offered where the agent honours one.
fn self_test_of_the_real_hooks(c: &Case) {
    for a in ["claude", "codex", "gemini", "cursor", "copilot", "goose"] {
        ok(&install(c, &[a]));
    }
    let o = c
        .command(&["install", "--self-test", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(code(&o), 0);
    let agents = v["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 6, "{v:#}");
    for a in agents {
        let name = a["agent"].as_str().unwrap();
        assert!(a["cases"].as_array().unwrap().len() >= 3, "{name}");
        let rewrites = ["claude", "codex", "gemini", "copilot"].contains(&name);
        assert_eq!(a["hook_rewrites"], rewrites, "{name}: {a:#}");
    }
    // doctor runs it too, and lists where each hook is.
    let o = c.command(&["doctor", "--json"]).output().unwrap();
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["hook_self_test"].as_array().unwrap().len(), 6, "{d:#}");
    assert!(d["hook_self_test"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["ok"] == true));
    let claude = d["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["agent"] == "claude")
        .unwrap();
    assert!(
        claude["cordon_hook"][0]
            .as_str()
            .unwrap()
            .starts_with("user:"),
        "{claude}"
    );
}

both_users!(self_test_of_the_real_hooks);
