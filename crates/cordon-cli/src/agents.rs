//! The coding agents cordon knows: where each keeps its hooks (per scope), in which format, which
//! events cordon installs, how to find the agent's binary and version.
//!
//! Every location and format here was checked against the agent's own documentation and, for
//! the agents on npm (Claude Code 2.1.332, Codex 0.171.0, Gemini CLI 0.61.0, Copilot CLI
//! 1.0.102), against the code they ship (see README "Agents: `cordon install`"). Cursor and
//! goose are not on npm: their entries follow their documentation only.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::settings_edit::JsonFlavor;

/// An agent cordon can install its hook into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentId {
    /// Claude Code (npm @anthropic-ai/claude-code).
    #[value(alias = "claude-code")]
    Claude,
    /// OpenAI Codex CLI (npm @openai/codex).
    Codex,
    /// Gemini CLI (npm @google/gemini-cli).
    Gemini,
    /// Cursor (the editor and its CLI, cursor-agent).
    Cursor,
    /// GitHub Copilot CLI (npm @github/copilot).
    Copilot,
    /// goose (Block).
    Goose,
}

pub const ALL: [AgentId; 6] = [
    AgentId::Claude,
    AgentId::Codex,
    AgentId::Gemini,
    AgentId::Cursor,
    AgentId::Copilot,
    AgentId::Goose,
];

/// Where a hook is installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The user's own settings (default).
    User,
    /// The project's settings, shared through the repository.
    Project,
    /// The machine's managed settings, which users and repositories cannot override (root).
    Managed,
}

/// How an agent's hook entries are laid out in its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `hooks.EVENT = [{matcher?, hooks: [HANDLER]}]` (Claude Code, Codex, Gemini CLI, goose).
    Grouped,
    /// `hooks.EVENT = [HANDLER]` next to `"version": 1` (Cursor, Copilot CLI).
    Flat,
}

/// The file format of a hook location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Json(JsonFlavor),
    Toml,
}

/// A "managed hooks only" switch: set when installing into the managed scope.
#[derive(Clone, Copy, Debug)]
pub struct Switch {
    /// Top-level key.
    pub key: &'static str,
    pub what: &'static str,
}

/// One file cordon edits to install its hook.
#[derive(Clone, Debug)]
pub struct Location {
    pub path: PathBuf,
    pub format: FileFormat,
    /// A file of cordon's own (Copilot's hooks directory, goose's plugin): removed when empty.
    pub own_file: bool,
    pub switch: Option<Switch>,
    /// Extra files to create with the hook file (goose's plugin.json), removed on uninstall.
    pub companions: Vec<(PathBuf, String)>,
}

/// What an agent's hook entries look like.
#[derive(Clone, Debug)]
pub struct HookShape {
    pub layout: Layout,
    /// The handler key holding the shell command (`command`, Copilot's `bash`).
    pub command_key: &'static str,
    /// Event name and matcher (None: no matcher key, every call).
    pub events: &'static [(&'static str, Option<&'static str>)],
    /// The handler's other keys, in order, before the command (e.g. `"type": "command"`).
    pub before: fn() -> Value,
    /// The handler's keys after the command (e.g. Cursor's `failClosed`, goose's `on_failure`).
    pub after: fn() -> Value,
    /// `"version": 1` at the top of the file.
    pub version_key: bool,
    /// The agent's JSON does not name the event (Copilot CLI): the command says it
    /// (`--event NAME`).
    pub event_flag: bool,
}

impl HookShape {
    /// The command for one event: `BASE` or `BASE --event EVENT`.
    pub fn command(&self, base: &str, event: &str) -> String {
        if self.event_flag {
            format!("{base} --event {event}")
        } else {
            base.to_string()
        }
    }
}

fn type_command() -> Value {
    json!({"type": "command"})
}
fn nothing() -> Value {
    json!({})
}

impl AgentId {
    /// The argument of `cordon hook` and of `cordon install`.
    pub fn arg(self) -> &'static str {
        match self {
            AgentId::Claude => "claude",
            AgentId::Codex => "codex",
            AgentId::Gemini => "gemini",
            AgentId::Cursor => "cursor",
            AgentId::Copilot => "copilot",
            AgentId::Goose => "goose",
        }
    }

    pub fn display(self) -> &'static str {
        match self {
            AgentId::Claude => "Claude Code",
            AgentId::Codex => "Codex CLI",
            AgentId::Gemini => "Gemini CLI",
            AgentId::Cursor => "Cursor",
            AgentId::Copilot => "GitHub Copilot CLI",
            AgentId::Goose => "goose",
        }
    }

    /// The executables that run the agent, in the order they are looked for on PATH.
    pub fn binaries(self) -> &'static [&'static str] {
        match self {
            AgentId::Claude => &["claude"],
            AgentId::Codex => &["codex"],
            AgentId::Gemini => &["gemini"],
            AgentId::Cursor => &["cursor-agent", "cursor"],
            AgentId::Copilot => &["copilot"],
            AgentId::Goose => &["goose"],
        }
    }

    /// The events cordon installs, and the shape of its entries. The event lists are the ones
    /// `cordon hook AGENT` answers (the event is read from the JSON the agent sends).
    pub fn shape(self) -> HookShape {
        match self {
            // Claude Code: matcher "*" = every tool; SessionStart has no tool matcher.
            // `onFailure: block` (2.1.332): a hook that fails or times out blocks the call
            // instead of letting it through (older versions ignore the key).
            AgentId::Claude => HookShape {
                layout: Layout::Grouped,
                command_key: "command",
                events: &[
                    ("PreToolUse", Some("*")),
                    ("PostToolUse", Some("*")),
                    ("SessionStart", None),
                ],
                before: type_command,
                after: || json!({"onFailure": "block"}),
                version_key: false,
                event_flag: false,
            },
            // Codex: a group without `matcher` matches every tool (codex-rs/config hook_config.rs).
            AgentId::Codex => HookShape {
                layout: Layout::Grouped,
                command_key: "command",
                events: &[
                    ("PreToolUse", None),
                    ("PostToolUse", None),
                    ("SessionStart", None),
                ],
                before: type_command,
                after: nothing,
                version_key: false,
                event_flag: false,
            },
            // Gemini CLI: matcher "*" is its wildcard; `name` is what `hooksConfig.disabled` lists.
            AgentId::Gemini => HookShape {
                layout: Layout::Grouped,
                command_key: "command",
                events: &[
                    ("BeforeTool", Some("*")),
                    ("AfterTool", Some("*")),
                    ("SessionStart", None),
                ],
                before: || json!({"name": "cordon", "type": "command"}),
                after: nothing,
                version_key: false,
                event_flag: false,
            },
            // Cursor: `failClosed` makes a crashed or timed-out hook block instead of allow.
            AgentId::Cursor => HookShape {
                layout: Layout::Flat,
                command_key: "command",
                events: &[
                    ("beforeShellExecution", None),
                    ("beforeReadFile", None),
                    ("beforeMCPExecution", None),
                ],
                before: nothing,
                after: || json!({"failClosed": true}),
                version_key: true,
                event_flag: false,
            },
            AgentId::Copilot => HookShape {
                layout: Layout::Flat,
                command_key: "bash",
                events: &[
                    ("preToolUse", None),
                    ("postToolUse", None),
                    ("sessionStart", None),
                ],
                before: type_command,
                after: nothing,
                version_key: true,
                event_flag: true,
            },
            // goose: a matcher is a regex ("*" would be invalid and skip the rule): none = all.
            // `on_failure: block` makes a PreToolUse hook that gives no decision deny.
            AgentId::Goose => HookShape {
                layout: Layout::Grouped,
                command_key: "command",
                events: &[("PreToolUse", None)],
                before: type_command,
                after: || json!({"on_failure": "block"}),
                version_key: false,
                event_flag: false,
            },
        }
    }

    /// The file(s) cordon edits for `scope`; `project` is the project directory (the git
    /// top-level). An error when the agent has no such scope, naming what to do instead.
    pub fn locations(
        self,
        scope: Scope,
        env: &Env,
        project: &Path,
    ) -> Result<Vec<Location>, String> {
        let json = |p: PathBuf, flavor| Location {
            path: p,
            format: FileFormat::Json(flavor),
            own_file: false,
            switch: None,
            companions: vec![],
        };
        let strict = JsonFlavor::Strict;
        let home = env.home()?;
        Ok(match (self, scope) {
            (AgentId::Claude, Scope::User) => {
                let dir = env
                    .var_path("CLAUDE_CONFIG_DIR")
                    .unwrap_or_else(|| home.join(".claude"));
                vec![json(dir.join("settings.json"), strict)]
            }
            (AgentId::Claude, Scope::Project) => {
                vec![json(project.join(".claude/settings.json"), strict)]
            }
            (AgentId::Claude, Scope::Managed) => vec![Location {
                switch: Some(Switch {
                    key: "allowManagedHooksOnly",
                    what: "only managed hooks run; user, project and local hooks are ignored",
                }),
                ..json(env.etc("claude-code/managed-settings.json"), strict)
            }],
            (AgentId::Codex, Scope::User | Scope::Project) => {
                let dir = if scope == Scope::User {
                    env.var_path("CODEX_HOME")
                        .unwrap_or_else(|| home.join(".codex"))
                } else {
                    project.join(".codex")
                };
                // Codex reads both hooks.json and `[hooks]` in config.toml of a layer (and warns
                // when a layer has both): use the form the layer already uses.
                if toml_has_hooks(&dir.join("config.toml")) {
                    vec![Location {
                        format: FileFormat::Toml,
                        ..json(dir.join("config.toml"), strict)
                    }]
                } else {
                    vec![json(dir.join("hooks.json"), strict)]
                }
            }
            (AgentId::Codex, Scope::Managed) => vec![Location {
                format: FileFormat::Toml,
                switch: Some(Switch {
                    key: "allow_managed_hooks_only",
                    what: "only managed hooks run; user, project and session hooks are ignored",
                }),
                ..json(env.etc("codex/requirements.toml"), strict)
            }],
            (AgentId::Gemini, Scope::User) => {
                let h = env.var_path("GEMINI_CLI_HOME").unwrap_or(home);
                vec![json(h.join(".gemini/settings.json"), JsonFlavor::Comments)]
            }
            (AgentId::Gemini, Scope::Project) => {
                vec![json(
                    project.join(".gemini/settings.json"),
                    JsonFlavor::Comments,
                )]
            }
            (AgentId::Gemini, Scope::Managed) => {
                let p = env
                    .var_path("GEMINI_CLI_SYSTEM_SETTINGS_PATH")
                    .unwrap_or_else(|| env.etc("gemini-cli/settings.json"));
                vec![json(p, JsonFlavor::Comments)]
            }
            (AgentId::Cursor, Scope::User) => vec![json(home.join(".cursor/hooks.json"), strict)],
            (AgentId::Cursor, Scope::Project) => {
                vec![json(project.join(".cursor/hooks.json"), strict)]
            }
            (AgentId::Cursor, Scope::Managed) => vec![json(env.etc("cursor/hooks.json"), strict)],
            (AgentId::Copilot, Scope::User | Scope::Project) => {
                let dir = if scope == Scope::User {
                    env.var_path("COPILOT_HOME")
                        .unwrap_or_else(|| home.join(".copilot"))
                        .join("hooks")
                } else {
                    project.join(".github/hooks")
                };
                vec![Location {
                    own_file: true,
                    ..json(dir.join("cordon.json"), strict)
                }]
            }
            (AgentId::Copilot, Scope::Managed) => {
                return Err(
                    "Copilot CLI has no managed hook file on the machine: its managed \
                            settings come from GitHub (enterprise policies); use --scope user or \
                            --scope project"
                        .into(),
                )
            }
            (AgentId::Goose, Scope::User | Scope::Project) => {
                let dir = if scope == Scope::User {
                    home.join(".agents/plugins/cordon")
                } else {
                    project.join(".agents/plugins/cordon")
                };
                let manifest = serde_json::to_string_pretty(&json!({
                    "name": "cordon",
                    "version": env!("CARGO_PKG_VERSION"),
                    "description": "cordon decides each tool call (installed by cordon install goose)"
                }))
                .unwrap_or_default()
                    + "\n";
                vec![Location {
                    own_file: true,
                    companions: vec![(dir.join("plugin.json"), manifest)],
                    ..json(dir.join("hooks/hooks.json"), strict)
                }]
            }
            (AgentId::Goose, Scope::Managed) => {
                return Err(
                    "goose has no managed hook location: use --scope user or --scope \
                            project"
                        .into(),
                )
            }
        })
    }

    /// What the user must still do after installing (or uninstalling) into `scope`.
    pub fn notes(self, scope: Scope) -> Vec<String> {
        let mut n = Vec::new();
        match (self, scope) {
            (AgentId::Claude, _) => n.push(
                "Claude Code reads hooks when a session starts: restart running sessions (`/hooks` \
                 shows what is active)"
                    .into(),
            ),
            (AgentId::Codex, Scope::Managed) => n.push(
                "managed hooks (requirements.toml) are trusted by policy: nothing to review".into(),
            ),
            (AgentId::Codex, _) => n.push(
                "Codex runs a new non-managed hook only after you trust it: start `codex`, open \
                 `/hooks`, review `cordon hook codex` and trust it (Codex keys the trust to the \
                 hook's definition, so re-trust after a reinstall that changed it)"
                    .into(),
            ),
            (AgentId::Gemini, Scope::Project) => n.push(
                "Gemini CLI runs a project's hooks only in a trusted folder; restart running \
                 sessions"
                    .into(),
            ),
            (AgentId::Gemini, Scope::Managed) => n.push(
                "Gemini CLI has no \"managed hooks only\" switch: system hooks always run, but a user \
                 can still list `cordon` in hooksConfig.disabled of their own settings"
                    .into(),
            ),
            (AgentId::Gemini, Scope::User) => {
                n.push("restart running Gemini CLI sessions".into())
            }
            (AgentId::Cursor, _) => n.push(
                "Cursor reads hooks.json at start: restart Cursor (its Hooks settings tab shows \
                 what is active); checked against Cursor's documentation only (not on npm)"
                    .into(),
            ),
            (AgentId::Copilot, Scope::Project) => n.push(
                "Copilot CLI loads .github/hooks/*.json from the repository it starts in: commit \
                 the file to share it"
                    .into(),
            ),
            (AgentId::Copilot, _) => n.push("restart running Copilot CLI sessions".into()),
            (AgentId::Goose, _) => n.push(
                "goose loads plugins at start: restart goose; checked against goose's \
                 documentation only (not on npm)"
                    .into(),
            ),
        }
        n
    }
}

/// Whether a TOML file exists and has a `hooks` key (the form Codex's layer already uses), or
/// does not parse (then it is the file to refuse, naming the error: Codex would not start).
fn toml_has_hooks(p: &Path) -> bool {
    match std::fs::read_to_string(p) {
        Ok(s) => s
            .parse::<toml_edit::DocumentMut>()
            .map_or(true, |d| d.contains_key("hooks")),
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

/// The environment the locations depend on (a struct so tests can point it elsewhere).
pub struct Env {
    pub home: Option<PathBuf>,
    /// `/etc`, or `CORDON_AGENTS_ETC_DIR` in debug builds (the tests' managed scope).
    pub etc: PathBuf,
}

impl Env {
    pub fn from_process() -> Env {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        // Only debug builds (the tests) may move /etc: an agent must not be able to point a
        // managed install elsewhere.
        let etc = if cfg!(debug_assertions) {
            std::env::var_os("CORDON_AGENTS_ETC_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/etc"))
        } else {
            PathBuf::from("/etc")
        };
        Env { home, etc }
    }

    fn home(&self) -> Result<PathBuf, String> {
        self.home
            .clone()
            .ok_or_else(|| "HOME is not set to an absolute path; set it and run again".into())
    }

    fn etc(&self, rel: &str) -> PathBuf {
        self.etc.join(rel)
    }

    fn var_path(&self, name: &str) -> Option<PathBuf> {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    }
}

/// An agent found on PATH.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Found {
    pub agent: AgentId,
    pub binary: PathBuf,
    /// What `BINARY --version` printed (first line), or why it could not be read.
    pub version: String,
}

/// The npm package names of the agents published there.
fn npm_package(a: AgentId) -> Option<&'static str> {
    match a {
        AgentId::Claude => Some("@anthropic-ai/claude-code"),
        AgentId::Codex => Some("@openai/codex"),
        AgentId::Gemini => Some("@google/gemini-cli"),
        AgentId::Copilot => Some("@github/copilot"),
        AgentId::Cursor | AgentId::Goose => None,
    }
}

/// An npm-installed agent's version, from the `package.json` of the package its binary links
/// into (instant; `gemini --version` takes seconds to start).
fn npm_version(a: AgentId, bin: &Path) -> Option<String> {
    let pkg = npm_package(a)?;
    let real = std::fs::canonicalize(bin).ok()?;
    let mut d = real.parent();
    while let Some(dir) = d {
        let p = dir.join("package.json");
        if let Ok(text) = std::fs::read_to_string(&p) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                if v["name"] == pkg {
                    return v["version"].as_str().map(|v| format!("{v} (npm {pkg})"));
                }
            }
        }
        d = dir.parent();
    }
    None
}

/// Looks for each agent's binary on PATH and finds its version (package.json, else
/// `--version`, 5 s at most; the agents are asked in parallel).
pub fn find_installed() -> Vec<Found> {
    let handles: Vec<_> = ALL
        .into_iter()
        .filter_map(|a| {
            a.binaries()
                .iter()
                .find_map(|b| which(b))
                .map(|bin| (a, bin))
        })
        .map(|(a, bin)| {
            std::thread::spawn(move || {
                let version = npm_version(a, &bin).unwrap_or_else(|| version_of(&bin));
                Found {
                    agent: a,
                    binary: bin,
                    version,
                }
            })
        })
        .collect();
    handles.into_iter().filter_map(|h| h.join().ok()).collect()
}

/// The first executable named `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|d| {
        let p = d.join(name);
        let m = std::fs::metadata(&p).ok()?;
        (m.is_file() && m.permissions().mode() & 0o111 != 0).then_some(p)
    })
}

/// `BIN --version`'s first line, with a 5-second limit (the process is killed after it).
pub fn version_of(bin: &Path) -> String {
    let child = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env("NO_COLOR", "1")
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return format!("unknown ({e})"),
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return "unknown (--version did not answer within 5 s)".into();
            }
        }
    }
    let mut s = String::new();
    if let Some(mut o) = child.stdout.take() {
        use std::io::Read;
        let _ = o.read_to_string(&mut s);
    }
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("unknown")
        .trim()
        .to_string()
}
