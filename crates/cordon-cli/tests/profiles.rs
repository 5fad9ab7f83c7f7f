//! `cordon run --profile NAME`: the built-in agent profiles and `[profile.NAME]` tables, through
//! the binary: shown by `cordon config show` with their origins, overridable by the user, never
//! by an untrusted project or the managed file; and what a profile opens inside the sandbox (the
//! agent's state directory writable, its own settings not, its credential readable, ~/.ssh
//! still hidden), checked on the files outside, as the invoking and the unprivileged user.

mod harness;

use std::fs;
use std::process::Output;

use harness::{code, text, Case, Who};
use serde_json::Value;

fn case(who: Who, fallback: bool) -> Case {
    let c = Case::new(who, fallback);
    fs::create_dir_all(c.ws.join(".git")).unwrap();
    c.chown_all();
    c
}

fn run(c: &Case, args: &[&str]) -> Output {
    c.command_with_policy(args).output().unwrap()
}

fn show(c: &Case, profile: &str) -> Value {
    let o = run(
        c,
        &["config", "show", "--json", "--origin", "--profile", profile],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn values(v: &Value, key: &str) -> Vec<String> {
    v["config"][key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}: {v:#}"))
        .iter()
        .map(|x| x["value"].as_str().unwrap().to_string())
        .collect()
}

fn builtin_profiles_are_config_with_origins(c: &Case) {
    let v = show(c, "claude-code");
    assert_eq!(v["config"]["profile"]["value"], "claude-code");
    assert!(v["config"]["profile"]["origin"]
        .as_str()
        .unwrap()
        .starts_with("<built-in profiles.toml>:"));
    let home = c.home.display().to_string();
    assert_eq!(
        values(&v, "filesystem.writable"),
        vec![format!("{home}/.claude")]
    );
    assert_eq!(
        values(&v, "filesystem.read_secret"),
        vec![format!("{home}/.claude/.credentials.json")]
    );
    assert!(values(&v, "filesystem.protected").contains(&format!("{home}/.claude/settings.json")));
    assert!(values(&v, "network.allow").contains(&"api.anthropic.com".to_string()));
    assert!(values(&v, "env.secret").contains(&"ANTHROPIC_API_KEY".to_string()));
    let w = &v["config"]["filesystem.writable"][0]["origin"];
    assert!(
        w.as_str().unwrap().starts_with("<built-in profiles.toml>:"),
        "{w}"
    );
    // Every built-in is listed, with where it is defined.
    let names: Vec<&str> = v["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in ["claude-code", "codex", "gemini", "copilot"] {
        assert!(names.contains(&n), "{names:?}");
    }
    for n in ["codex", "gemini", "copilot"] {
        let v = show(c, n);
        assert!(!values(&v, "network.allow").is_empty(), "{n}");
        assert!(!values(&v, "filesystem.writable").is_empty(), "{n}");
    }
    // The text form names them too; without --profile nothing is applied.
    let o = run(c, &["config", "show"]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.contains("# profiles (cordon run --profile NAME): claude-code, codex, copilot, gemini"),
        "{t}"
    );
    assert!(t.contains("# profile (not set)"), "{t}");
}

fn user_profiles_replace_and_add(c: &Case) {
    let cfg = c.write(
        ".config/cordon/config.toml",
        "[profile.claude-code]\ndescription = \"mine\"\nfilesystem.writable = [\"~/.claude\"]\nnetwork.allow = [\"llm.internal.test\"]\n\n[profile.tool]\nmode = \"read-only\"\nenv.pass = [\"TOOL_HOME\"]\n",
    );
    c.chown_all();
    let v = show(c, "claude-code");
    // Replaced as a whole: the built-in's domains and secrets are gone.
    assert_eq!(values(&v, "network.allow"), vec!["llm.internal.test"]);
    assert!(values(&v, "filesystem.read_secret").is_empty());
    assert_eq!(
        v["config"]["network.allow"][0]["origin"].as_str().unwrap(),
        format!("{}:4", cfg.display())
    );
    let p = v["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "claude-code")
        .unwrap()
        .clone();
    assert_eq!(p["overrides_builtin"], true);
    assert_eq!(p["description"], "mine");
    // A new profile, applied by run; a flag still wins over it.
    let o = run(c, &["run", "--dry-run", "--profile", "tool", "--", "true"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let spec: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(spec["mode"], "read-only");
    let o = run(
        c,
        &[
            "run",
            "--dry-run",
            "--profile",
            "tool",
            "--mode",
            "workspace-write",
            "--",
            "true",
        ],
    );
    let spec: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(spec["mode"], "workspace-write");
    // Unknown: refused, naming the profiles there are.
    let o = run(c, &["run", "--profile", "nope", "--", "true"]);
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(
        text(&o).contains("unknown profile `nope`") && text(&o).contains("claude-code, codex"),
        "{}",
        text(&o)
    );
    // A bad name is a config error with its line.
    c.write(
        ".config/cordon/config.toml",
        "[profile.\"Bad Name\"]\nmode = \"read-only\"\n",
    );
    c.chown_all();
    let o = run(c, &["config", "show"]);
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(
        text(&o).contains("config.toml:1:") && text(&o).contains("not a plain name"),
        "{}",
        text(&o)
    );
    // So is an unknown key inside a profile.
    c.write(
        ".config/cordon/config.toml",
        "[profile.x]\nwriteable = [\"~/x\"]\n",
    );
    c.chown_all();
    let o = run(c, &["config", "show"]);
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(text(&o).contains("unknown key `writeable`"), "{}", text(&o));
}

fn projects_and_managed_cannot_define_profiles(c: &Case) {
    // An untrusted project's profile is ignored (and said).
    c.write("proj/.cordon/config.toml", "[profile.claude-code]\nfilesystem.writable = [\"~\"]\n[profile.evil]\nfilesystem.writable = [\"~\"]\n");
    c.chown_all();
    let o = run(c, &["run", "--dry-run", "--profile", "evil", "--", "true"]);
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(text(&o).contains("unknown profile `evil`"), "{}", text(&o));
    let o = run(
        c,
        &["run", "--dry-run", "--profile", "claude-code", "--", "true"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let spec: Value = serde_json::from_slice(&o.stdout).unwrap();
    let home = c.home.display().to_string();
    assert!(
        !spec["writable"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str() == Some(home.as_str())),
        "{spec:#}"
    );
    assert!(
        text(&o).contains("profile.evil"),
        "the ignored profile is not said: {}",
        text(&o)
    );
    fs::remove_dir_all(c.ws.join(".cordon")).unwrap();
    // The managed file: an error (profiles widen access).
    let etc = c.base.join("etc");
    fs::create_dir_all(&etc).unwrap();
    fs::write(
        etc.join("managed.toml"),
        "[profile.x]\nmode = \"read-only\"\n",
    )
    .unwrap();
    let o = run(c, &["config", "show"]);
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(
        text(&o).contains("managed.toml:1:") && text(&o).contains("[profile]"),
        "{}",
        text(&o)
    );
    fs::remove_file(etc.join("managed.toml")).unwrap();
    // But the managed file still caps a profile: no network domain it never allows.
    fs::write(
        etc.join("managed.toml"),
        "[managed]\nnever_allow_domains = [\"api.anthropic.com\"]\n",
    )
    .unwrap();
    let o = run(c, &["config", "show", "--profile", "claude-code"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

/// Inside the sandbox with the claude-code profile: ~/.claude writable (created when missing),
/// its settings not, the credential file readable, ~/.ssh hidden, the rest of home read-only.
fn the_profile_opens_only_what_the_agent_needs(c: &Case) {
    assert!(!c.home.join(".claude").exists());
    let script = "\
        echo state > ~/.claude/state.txt; echo \"state=$?\"; \
        echo evil > ~/.claude/settings.json; echo \"settings=$?\"; \
        mkdir -p ~/.claude/hooks/x 2>/dev/null; echo \"hooks=$?\"; \
        cat ~/.claude/.credentials.json; \
        cat ~/.ssh/id_rsa; echo \"ssh=$?\"; \
        echo x > ~/.bashrc; echo \"bashrc=$?\"";
    // The credential file exists outside (as after `claude login`).
    c.write(".claude/.credentials.json", "{\"token\":\"CRED-MARKER\"}\n");
    fs::remove_file(c.home.join(".claude/.credentials.json")).unwrap();
    fs::remove_dir(c.home.join(".claude")).unwrap();
    // First run: ~/.claude does not exist; the profile creates it.
    let o = run(
        c,
        &[
            "run",
            "--profile",
            "claude-code",
            "--",
            "sh",
            "-c",
            "echo first > ~/.claude/first.txt",
        ],
    );
    if c.fallback {
        // Without namespaces there is no proxy: a profile with API domains is refused, saying why.
        assert_eq!(code(&o), 125, "{}", text(&o));
        assert!(
            text(&o).contains("allow-domain") || text(&o).contains("network"),
            "{}",
            text(&o)
        );
        return;
    }
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        fs::read_to_string(c.home.join(".claude/first.txt")).unwrap(),
        "first\n"
    );
    c.write(".claude/.credentials.json", "{\"token\":\"CRED-MARKER\"}\n");
    c.chown_all();
    let o = run(
        c,
        &["run", "--profile", "claude-code", "--", "sh", "-c", script],
    );
    let out = text(&o);
    assert!(out.contains("state=0"), "{out}");
    assert_eq!(
        fs::read_to_string(c.home.join(".claude/state.txt")).unwrap(),
        "state\n"
    );
    assert!(!out.contains("settings=0"), "{out}");
    assert!(
        !c.home.join(".claude/settings.json").exists()
            || fs::read_to_string(c.home.join(".claude/settings.json")).unwrap() != "evil\n"
    );
    assert!(!c.home.join(".claude/hooks/x").exists(), "{out}");
    assert!(
        out.contains("CRED-MARKER"),
        "the agent cannot read its credential: {out}"
    );
    assert!(
        !out.contains("SECRET-SSH-KEY-MARKER") && !out.contains("ssh=0"),
        "{out}"
    );
    assert!(!out.contains("bashrc=0"), "{out}");
    assert_eq!(
        fs::read_to_string(c.home.join(".bashrc")).unwrap(),
        "# bashrc\n"
    );
    // Without the profile the credential is a secret like any other.
    let o = run(
        c,
        &[
            "run",
            "--",
            "sh",
            "-c",
            "cat ~/.claude/.credentials.json; echo state2 > ~/.claude/x",
        ],
    );
    assert!(!text(&o).contains("CRED-MARKER"), "{}", text(&o));
    assert!(!c.home.join(".claude/x").exists());
    // No placeholder of the protected paths is left in ~/.claude.
    for p in [
        "hooks",
        "commands",
        "agents",
        "skills",
        "plugins",
        "CLAUDE.md",
    ] {
        assert!(!c.home.join(".claude").join(p).exists(), "{p} left behind");
    }
}

/// A JSON settings file the profile protects is created as `{}` when missing (Gemini CLI refuses
/// an empty settings.json, which the sandbox's placeholder would be), and kept; one that exists
/// is left as it is.
fn protected_json_settings_are_created_as_defaults(c: &Case) {
    let o = run(
        c,
        &[
            "run",
            "--profile",
            "gemini",
            "--",
            "sh",
            "-c",
            "cat ~/.gemini/settings.json; echo x > ~/.gemini/settings.json; echo \"w=$?\"",
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("{}") && !text(&o).contains("w=0"),
        "{}",
        text(&o)
    );
    let p = c.home.join(".gemini/settings.json");
    assert_eq!(fs::read_to_string(&p).unwrap(), "{}\n");
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let m = fs::metadata(&p).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    assert_eq!(m.uid(), c.uid);
    // Not the Markdown ones: their temporary placeholder is removed after the run.
    assert!(!c.home.join(".gemini/GEMINI.md").exists());
    fs::write(&p, "{\"ui\": {\"theme\": \"x\"}}\n").unwrap();
    c.chown_all();
    let o = run(c, &["run", "--profile", "gemini", "--", "true"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        fs::read_to_string(&p).unwrap(),
        "{\"ui\": {\"theme\": \"x\"}}\n"
    );
}

/// What a sandboxed agent could plant in its own writable state directory that runs code (or
/// steers the agent) later, outside the sandbox — each found in the agent's shipped code: Codex
/// and Gemini CLI load `.env` into their own environment (`BASH_ENV`, `LD_PRELOAD`), Copilot
/// CLI's launcher runs the newest `pkg/*/VERSION/index.js`, Claude Code starts the workers of
/// `daemon.json`, runs `local/claude`, sources `shell-snapshots/` and `session-env/`... None can
/// be written, and a script the agent's settings name (any name) stays read-only. Checked on the
/// files outside; in the fallback the profiles are refused, so nothing is written either.
fn nothing_planted_in_the_state_dir_runs_later(c: &Case) {
    c.write(".claude/my-status.sh", "echo ok\n");
    c.write(
        ".claude/settings.json",
        r#"{"statusLine": {"type": "command", "command": "bash ~/.claude/my-status.sh"}}"#,
    );
    c.write(".codex/bin/notify.py", "print(1)\n");
    c.write(
        ".codex/config.toml",
        &format!(
            "notify = [\"python3\", \"{}/.codex/bin/notify.py\"]\n",
            c.home.display()
        ),
    );
    c.chown_all();
    let plants: [(&str, &[&str]); 4] = [
        (
            "claude-code",
            &[
                ".claude/my-status.sh",
                ".claude/statusline-command.sh",
                ".claude/local/claude",
                ".claude/daemon.json",
                ".claude/jobs/w.json",
                ".claude/seed-admin/x/config",
                ".claude/rules/r.md",
                ".claude/shell-snapshots/snapshot-bash-1-x.sh",
                ".claude/session-env/s/hook-0.sh",
            ],
        ),
        ("codex", &[".codex/.env", ".codex/bin/notify.py"]),
        (
            "gemini",
            &[
                ".gemini/.env",
                ".gemini/skills/s/SKILL.md",
                ".gemini/agents/a.md",
                ".gemini/system.md",
                ".gemini/bin/litert/lit",
            ],
        ),
        (
            "copilot",
            &[
                ".copilot/pkg/universal/99.0.0/index.js",
                ".cache/copilot/pkg/universal/99.0.0/index.js",
                ".cache/copilot/pkg/linux-x64/99.0.0/index.js",
                ".copilot/settings.json",
                ".copilot/lsp-config.json",
                ".copilot/permissions-config.json",
                ".copilot/extensions/e/index.js",
                ".copilot/installed-plugins/p/plugin.json",
                ".copilot/config/hooks/h.json",
            ],
        ),
    ];
    for (profile, paths) in plants {
        let script: String = paths
            .iter()
            .map(|p| format!("mkdir -p \"$(dirname ~/{p})\" 2>/dev/null; echo PLANTED >> ~/{p}; "))
            .collect();
        let o = run(c, &["run", "--profile", profile, "--", "sh", "-c", &script]);
        if c.fallback {
            assert_eq!(code(&o), 125, "{}", text(&o));
        }
        for p in paths {
            assert!(
                !c.read(p).unwrap_or_default().contains("PLANTED"),
                "{profile}: ~/{p} was planted from inside the sandbox\n{}",
                text(&o)
            );
        }
    }
}

macro_rules! both_users {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::harness::Who;
            #[test] fn invoker() { super::$name(&super::case(Who::Invoker, false)) }
            #[test] fn unprivileged() { super::$name(&super::case(Who::Unprivileged, false)) }
        }
    )*};
}

both_users!(
    builtin_profiles_are_config_with_origins,
    user_profiles_replace_and_add,
    projects_and_managed_cannot_define_profiles,
    protected_json_settings_are_created_as_defaults,
);

mod nothing_planted_in_the_state_dir_runs_later {
    use super::harness::Who;
    #[test]
    fn invoker() {
        super::nothing_planted_in_the_state_dir_runs_later(&super::case(Who::Invoker, false))
    }
    #[test]
    fn unprivileged() {
        super::nothing_planted_in_the_state_dir_runs_later(&super::case(Who::Unprivileged, false))
    }
    #[test]
    fn invoker_fallback() {
        super::nothing_planted_in_the_state_dir_runs_later(&super::case(Who::Invoker, true))
    }
    #[test]
    fn unprivileged_fallback() {
        super::nothing_planted_in_the_state_dir_runs_later(&super::case(Who::Unprivileged, true))
    }
}

mod the_profile_opens_only_what_the_agent_needs {
    use super::harness::Who;
    #[test]
    fn invoker() {
        super::the_profile_opens_only_what_the_agent_needs(&super::case(Who::Invoker, false))
    }
    #[test]
    fn unprivileged() {
        super::the_profile_opens_only_what_the_agent_needs(&super::case(Who::Unprivileged, false))
    }
    #[test]
    fn invoker_fallback() {
        super::the_profile_opens_only_what_the_agent_needs(&super::case(Who::Invoker, true))
    }
    #[test]
    fn unprivileged_fallback() {
        super::the_profile_opens_only_what_the_agent_needs(&super::case(Who::Unprivileged, true))
    }
}
