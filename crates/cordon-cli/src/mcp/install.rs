//! `cordon mcp install CLIENT` / `cordon mcp uninstall CLIENT`: rewrite the stdio MCP servers of
//! a client's config to run through `cordon mcp wrap`, and back. The wrapped entry holds the
//! original command whole (`cordon mcp wrap --name NAME [--env K --secret-env K]... -- CMD
//! ARGS...`), so uninstall restores it exactly and install is idempotent (a wrapped entry is left
//! alone). Files are edited by `settings_edit` (key order, formatting and comments kept, a
//! `.cordon-bak` backup, `--dry-run` prints the diff).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use jsonc_parser::cst::CstObject;
use serde_json::{json, Value};

use crate::settings_edit::{self, Change, JsonDoc, JsonFlavor, TomlDoc};
use cordon_pipeline::Error;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// Claude Code: `.mcp.json` (project) or `~/.claude.json` (user, and its per-project servers).
    Claude,
    /// Codex: `[mcp_servers.NAME]` in `~/.codex/config.toml`.
    Codex,
    /// Cursor: `.cursor/mcp.json` (project) or `~/.cursor/mcp.json` (user).
    Cursor,
    /// Gemini CLI: `mcpServers` in `.gemini/settings.json` (project) or `~/.gemini/settings.json`.
    Gemini,
    /// VS Code: `servers` in `.vscode/mcp.json` (project) or `~/.config/Code/User/mcp.json`.
    Vscode,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    User,
    Project,
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    pub client: Client,
    /// Which config: the user's (default) or the project's (the current directory's).
    #[arg(long, value_enum, default_value = "user")]
    pub scope: Scope,
    /// Also add `cordon mcp serve` as a server named `cordon`.
    #[arg(long)]
    pub serve: bool,
    /// Print the diff and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The config file to edit (instead of the client's usual one).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn file_of(a: &Args) -> PathBuf {
    if let Some(f) = &a.file {
        return f.clone();
    }
    let h = home();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match (a.client, a.scope) {
        (Client::Claude, Scope::Project) => cwd.join(".mcp.json"),
        (Client::Claude, Scope::User) => h.join(".claude.json"),
        (Client::Codex, _) => std::env::var_os("CODEX_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| h.join(".codex"))
            .join("config.toml"),
        (Client::Cursor, Scope::Project) => cwd.join(".cursor/mcp.json"),
        (Client::Cursor, Scope::User) => h.join(".cursor/mcp.json"),
        (Client::Gemini, Scope::Project) => cwd.join(".gemini/settings.json"),
        (Client::Gemini, Scope::User) => h.join(".gemini/settings.json"),
        (Client::Vscode, Scope::Project) => cwd.join(".vscode/mcp.json"),
        (Client::Vscode, Scope::User) => h.join(".config/Code/User/mcp.json"),
    }
}

/// A server name usable as `--name`: other characters become `-`.
fn safe_name(n: &str) -> String {
    let s: String = n
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s
        .trim_start_matches('.')
        .chars()
        .take(64)
        .collect::<String>();
    if s.is_empty() {
        "server".into()
    } else {
        s
    }
}

fn is_cordon(cmd: &str) -> bool {
    Path::new(cmd).file_name().and_then(|f| f.to_str()) == Some("cordon")
}

/// The wrapped (command, args) of a stdio entry, or None when it is not one to wrap.
fn wrapped(
    name: &str,
    cordon: &str,
    command: &str,
    args: &[String],
    env: &[String],
) -> Option<(String, Vec<String>)> {
    if is_cordon(command) && args.first().map(String::as_str) == Some("mcp") {
        return None; // already cordon's (wrap or serve)
    }
    let mut v: Vec<String> = vec![
        "mcp".into(),
        "wrap".into(),
        "--name".into(),
        safe_name(name),
    ];
    for k in env {
        v.extend(["--env".into(), k.clone(), "--secret-env".into(), k.clone()]);
    }
    v.push("--".into());
    v.push(command.to_string());
    v.extend(args.iter().cloned());
    Some((cordon.to_string(), v))
}

/// The original (command, args) of a wrapped entry.
fn unwrapped(command: &str, args: &[String]) -> Option<(String, Vec<String>)> {
    if !is_cordon(command) || args.get(..2) != Some(&["mcp".to_string(), "wrap".to_string()]) {
        return None;
    }
    let i = args.iter().position(|a| a == "--")?;
    let orig = args.get(i + 1)?.clone();
    Some((orig, args[i + 2..].to_vec()))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Rewrites the servers of one JSON object (`mcpServers` or `servers`); notes what it did.
fn edit_json_servers(
    servers: &CstObject,
    cordon: &str,
    install: bool,
    serve: bool,
    notes: &mut Vec<String>,
) {
    for p in servers.properties() {
        let Some(name) = p.decoded_name() else {
            continue;
        };
        let Some(obj) = p.object_value() else {
            continue;
        };
        let v = obj.to_serde_value().unwrap_or(Value::Null);
        let Some(command) = v.get("command").and_then(Value::as_str) else {
            if install {
                notes.push(format!("{name}: not a stdio server (url), left as it is"));
            }
            continue;
        };
        let args = strings(v.get("args"));
        if !install && is_cordon(command) && args == ["mcp", "serve"] && name == "cordon" {
            p.remove();
            notes.push("cordon: removed (cordon mcp serve)".into());
            continue;
        }
        let env: Vec<String> = v
            .get("env")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let new = if install {
            wrapped(&name, cordon, command, &args, &env)
        } else {
            unwrapped(command, &args)
        };
        let Some((c, a)) = new else { continue };
        if let Some(cp) = obj.get("command") {
            cp.set_value(settings_edit::input(&json!(c)));
        }
        match obj.get("args") {
            Some(ap) => ap.set_value(settings_edit::input(&json!(a))),
            None => {
                obj.append("args", settings_edit::input(&json!(a)));
            }
        }
        notes.push(format!(
            "{name}: {}",
            if install { "wrapped" } else { "restored" }
        ));
    }
    if install && serve && servers.get("cordon").is_none() {
        servers.append(
            "cordon",
            settings_edit::input(&json!({"command": cordon, "args": ["mcp", "serve"]})),
        );
        notes.push("cordon: added (cordon mcp serve)".into());
    }
}

fn json_change(
    a: &Args,
    path: &Path,
    install: bool,
    cordon: &str,
    notes: &mut Vec<String>,
) -> Result<Option<Change>, String> {
    let flavor = match a.client {
        Client::Gemini | Client::Vscode => JsonFlavor::Comments,
        _ => JsonFlavor::Strict,
    };
    let doc = JsonDoc::load(path, flavor).map_err(|e| e.to_string())?;
    let key = if a.client == Client::Vscode {
        "servers"
    } else {
        "mcpServers"
    };
    let root = doc.root();
    let servers = doc.object_in(&root, key).map_err(|e| e.to_string())?;
    edit_json_servers(&servers, cordon, install, a.serve, notes);
    // ~/.claude.json also holds servers per project ("local" scope).
    if a.client == Client::Claude && a.scope == Scope::User && a.file.is_none() {
        if let Some(projects) = root.get("projects").and_then(|p| p.object_value()) {
            for p in projects.properties() {
                if let Some(s) = p
                    .object_value()
                    .and_then(|o| o.get(key))
                    .and_then(|s| s.object_value())
                {
                    edit_json_servers(&s, cordon, install, false, notes);
                }
            }
        }
    }
    if servers.properties().is_empty() && !doc.existed() {
        return Ok(None); // no file, nothing to wrap: do not create one
    }
    Ok(Some(doc.change()))
}

fn toml_change(
    a: &Args,
    path: &Path,
    install: bool,
    cordon: &str,
    notes: &mut Vec<String>,
) -> Result<Option<Change>, String> {
    let mut doc = TomlDoc::load(path).map_err(|e| e.to_string())?;
    let t = doc.table_at(&["mcp_servers"]).map_err(|e| e.to_string())?;
    let names: Vec<String> = t.iter().map(|(k, _)| k.to_string()).collect();
    for name in names {
        let Some(entry) = t.get_mut(&name).and_then(|i| i.as_table_like_mut()) else {
            continue;
        };
        let Some(command) = entry
            .get("command")
            .and_then(|c| c.as_str())
            .map(str::to_string)
        else {
            notes.push(format!("{name}: not a stdio server, left as it is"));
            continue;
        };
        let args: Vec<String> = entry
            .get("args")
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if !install && is_cordon(&command) && args == ["mcp", "serve"] && name == "cordon" {
            t.remove(&name);
            notes.push("cordon: removed (cordon mcp serve)".into());
            continue;
        }
        let env: Vec<String> = entry
            .get("env")
            .and_then(|e| e.as_table_like())
            .map(|e| e.iter().map(|(k, _)| k.to_string()).collect())
            .unwrap_or_default();
        let new = if install {
            wrapped(&name, cordon, &command, &args, &env)
        } else {
            unwrapped(&command, &args)
        };
        let Some((c, a2)) = new else { continue };
        entry.insert("command", toml_edit::value(c));
        let mut arr = toml_edit::Array::new();
        for x in a2 {
            arr.push(x);
        }
        entry.insert("args", toml_edit::value(arr));
        notes.push(format!(
            "{name}: {}",
            if install { "wrapped" } else { "restored" }
        ));
    }
    if install && a.serve && !t.contains_key("cordon") {
        let mut s = toml_edit::Table::new();
        s.insert("command", toml_edit::value(cordon));
        let mut arr = toml_edit::Array::new();
        arr.push("mcp");
        arr.push("serve");
        s.insert("args", toml_edit::value(arr));
        t.insert("cordon", toml_edit::Item::Table(s));
        notes.push("cordon: added (cordon mcp serve)".into());
    }
    Ok(Some(doc.change()))
}

pub fn run(a: Args, install: bool) -> Result<ExitCode, Error> {
    let cordon = match std::env::current_exe().and_then(std::fs::canonicalize) {
        Ok(p) => p.display().to_string(),
        Err(e) => {
            return Err(Error::failed(format!(
                "cannot find cordon's own binary: {e}"
            )))
        }
    };
    let path = file_of(&a);
    let mut notes = Vec::new();
    let change = match a.client {
        Client::Codex => toml_change(&a, &path, install, &cordon, &mut notes),
        _ => json_change(&a, &path, install, &cordon, &mut notes),
    };
    let change = match change {
        Ok(Some(c)) => c,
        Ok(None) => {
            outln!("{}: no MCP servers to change", path.display())?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(Error::failed(e)),
    };
    for n in &notes {
        outln!("{}: {n}", path.display())?;
    }
    if change.is_noop() {
        outln!("{}: nothing to change", path.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.dry_run {
        out!("{}", change.diff())?;
        return Ok(ExitCode::SUCCESS);
    }
    match change.apply() {
        Ok(_) => {
            outln!(
                "{}: {} (backup: {})",
                path.display(),
                if install {
                    "servers wrapped by cordon mcp wrap"
                } else {
                    "servers restored"
                },
                settings_edit::backup_path(&path).display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(Error::failed(e)),
    }
}
