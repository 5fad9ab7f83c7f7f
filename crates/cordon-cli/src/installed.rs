//! Where cordon's hook is installed: the project directory, cordon's own binary, and which of an
//! agent's settings files hold cordon's hook (read by `cordon install`, its self-test and
//! `cordon doctor`).

use std::fs;
use std::path::{Path, PathBuf};

use crate::agents::{self, AgentId, FileFormat, Scope};
use crate::hook_entries as he;
use crate::settings_edit::{JsonDoc, TomlDoc};

/// The project directory for --scope project.
pub fn project_dir(p: Option<PathBuf>) -> Result<PathBuf, String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let d = match p {
        Some(p) => cwd.join(p),
        None => cordon_sandbox::spec::git_toplevel(&cwd).unwrap_or(cwd),
    };
    fs::canonicalize(&d)
        .map_err(|e| format!("cannot use the project directory {}: {e}", d.display()))
}

/// This binary's absolute path (what the hook runs).
pub fn self_binary() -> Result<PathBuf, String> {
    let p = std::env::current_exe().map_err(|e| format!("cannot find cordon's own binary: {e}"))?;
    fs::canonicalize(&p).map_err(|e| format!("cannot resolve cordon's binary {}: {e}", p.display()))
}

pub fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::User => "user",
        Scope::Project => "project",
        Scope::Managed => "managed",
    }
}

/// Where cordon's hook is installed for `agent`: one line per scope that has it (for doctor).
pub fn installed_scopes(
    agent: AgentId,
    env: &agents::Env,
    project: &Path,
) -> Vec<(Scope, PathBuf)> {
    let mut out = Vec::new();
    for scope in [Scope::User, Scope::Project, Scope::Managed] {
        let Ok(locs) = agent.locations(scope, env, project) else {
            continue;
        };
        for loc in locs {
            let shape = agent.shape();
            let ok = match loc.format {
                FileFormat::Json(flavor) => JsonDoc::load(&loc.path, flavor)
                    .ok()
                    .is_some_and(|d| he::json_installed(&d.value(), &shape, agent)),
                FileFormat::Toml => TomlDoc::load(&loc.path)
                    .ok()
                    .is_some_and(|d| he::toml_installed(&d.doc, &shape, agent)),
            };
            if ok {
                out.push((scope, loc.path));
            }
        }
    }
    out
}

/// The command of cordon's installed hook for `agent` (the first one found: managed, user,
/// project), for the self-test.
pub fn installed_command(
    agent: AgentId,
    env: &agents::Env,
    project: &Path,
) -> Option<(Scope, PathBuf, String)> {
    for scope in [Scope::Managed, Scope::User, Scope::Project] {
        let Ok(locs) = agent.locations(scope, env, project) else {
            continue;
        };
        for loc in locs {
            let shape = agent.shape();
            let cmds: Vec<String> = match loc.format {
                FileFormat::Json(flavor) => JsonDoc::load(&loc.path, flavor)
                    .ok()
                    .map(|d| collect_json_commands(&d.value(), shape.command_key))
                    .unwrap_or_default(),
                FileFormat::Toml => TomlDoc::load(&loc.path)
                    .ok()
                    .and_then(|d| serde_json::to_value(toml_to_json(d.doc.as_item())).ok())
                    .map(|v| collect_json_commands(&v, shape.command_key))
                    .unwrap_or_default(),
            };
            // The pre-tool entry (the first event), else any of cordon's.
            let ours: Vec<String> = cmds
                .into_iter()
                .filter(|c| he::is_cordon_hook(c, agent))
                .collect();
            let first = shape.events[0].0;
            if let Some(c) = ours
                .iter()
                .find(|c| !shape.event_flag || c.ends_with(first))
                .or(ours.first())
            {
                return Some((scope, loc.path, c.clone()));
            }
        }
    }
    None
}

fn collect_json_commands(v: &serde_json::Value, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, key: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if k == key {
                        if let Some(s) = x.as_str() {
                            out.push(s.to_string());
                        }
                    }
                    walk(x, key, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, key, out)),
            _ => {}
        }
    }
    if let Some(h) = v.get("hooks") {
        walk(h, key, &mut out);
    }
    out
}

fn toml_to_json(item: &toml_edit::Item) -> serde_json::Value {
    use serde_json::Value as J;
    fn val(v: &toml_edit::Value) -> J {
        match v {
            toml_edit::Value::String(s) => J::String(s.value().clone()),
            toml_edit::Value::Boolean(b) => J::Bool(*b.value()),
            toml_edit::Value::Integer(i) => J::from(*i.value()),
            toml_edit::Value::Array(a) => J::Array(a.iter().map(val).collect()),
            toml_edit::Value::InlineTable(t) => {
                J::Object(t.iter().map(|(k, v)| (k.to_string(), val(v))).collect())
            }
            _ => J::Null,
        }
    }
    match item {
        toml_edit::Item::Value(v) => val(v),
        toml_edit::Item::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), toml_to_json(v)))
                .collect(),
        ),
        toml_edit::Item::ArrayOfTables(a) => J::Array(
            a.iter()
                .map(|t| toml_to_json(&toml_edit::Item::Table(t.clone())))
                .collect(),
        ),
        toml_edit::Item::None => J::Null,
    }
}
