//! `cordon config show`: the effective configuration, with origins on demand.

use serde_json::{json, Value};

use crate::{mode_str, Config, Origin, Val};

enum Entry {
    One(Value, Origin),
    Many(Vec<(Value, Origin)>),
    Unset,
}

fn many<T>(v: &[Val<T>], f: impl Fn(&T) -> Value) -> Entry {
    Entry::Many(v.iter().map(|x| (f(&x.value), x.origin.clone())).collect())
}

fn path(p: &std::path::Path) -> Value {
    Value::String(p.display().to_string())
}

// A table: one row per config key, in the order `config show` prints them. Split in pieces, the
// order would be spread over several functions.
#[allow(clippy::too_many_lines)]
fn entries(c: &Config) -> Vec<(&'static str, Entry)> {
    let one = |v: Value, o: &Origin| Entry::One(v, o.clone());
    let s = |x: &str| Value::String(x.to_string());
    vec![
        (
            "profile",
            match &c.profile {
                Some(p) => one(s(&p.value), &p.origin),
                None => Entry::Unset,
            },
        ),
        ("mode", one(s(mode_str(c.mode.value)), &c.mode.origin)),
        (
            "approval",
            one(s(c.approval.value.as_str()), &c.approval.origin),
        ),
        (
            "approver",
            match &c.approver {
                Some(a) => one(json!(a.value), &a.origin),
                None => Entry::Unset,
            },
        ),
        (
            "approver_timeout",
            match &c.approver_timeout_ms {
                Some(t) => one(s(&format!("{}ms", t.value)), &t.origin),
                None => Entry::Unset,
            },
        ),
        (
            "hook.context",
            one(json!(c.hook_context.value), &c.hook_context.origin),
        ),
        (
            "hook.unknown_tool",
            one(
                s(c.hook_unknown_tool.value.as_str()),
                &c.hook_unknown_tool.origin,
            ),
        ),
        ("filesystem.writable", many(&c.writable, |p| path(p))),
        ("filesystem.read_secret", many(&c.read_secret, |p| path(p))),
        ("filesystem.secret", many(&c.secrets, |p| path(p))),
        ("filesystem.protected", many(&c.protected, |p| path(p))),
        (
            "filesystem.remove_secret",
            many(&c.remove_secrets, |x| s(x)),
        ),
        (
            "filesystem.remove_protected",
            many(&c.remove_protected, |x| s(x)),
        ),
        (
            "filesystem.scan_limit",
            match &c.scan_limit {
                Some(v) => one(json!(v.value), &v.origin),
                None => Entry::Unset,
            },
        ),
        ("env.pass", many(&c.env_pass, |x| s(x))),
        ("env.secret", many(&c.env_secret, |x| s(x))),
        (
            "network.mode",
            one(s(c.network.value.as_str()), &c.network.origin),
        ),
        (
            "network.allow",
            many(&c.allow_domains, |d| s(&d.to_string())),
        ),
        ("network.deny", many(&c.deny_domains, |d| s(&d.to_string()))),
        (
            "network.allow_local",
            one(json!(c.allow_local.value), &c.allow_local.origin),
        ),
        (
            "network.allow_ech",
            one(json!(c.allow_ech.value), &c.allow_ech.origin),
        ),
        (
            "network.resolve",
            many(&c.resolve, |(n, a)| s(&format!("{n}:{a}"))),
        ),
        // The config holds no secret: `env` names the variable that does.
        ("network.credentials", many(&c.credentials, |x| json!(x))),
        (
            "network.upstream_ca_file",
            match &c.upstream_ca_file {
                Some(p) => one(path(&p.value), &p.origin),
                None => Entry::Unset,
            },
        ),
        ("limits.nproc", one(json!(c.nproc.value), &c.nproc.origin)),
        (
            "limits.memory",
            one(json!(c.memory.value), &c.memory.origin),
        ),
        (
            "limits.nofile",
            one(json!(c.nofile.value), &c.nofile.origin),
        ),
        (
            "limits.timeout",
            match &c.timeout_ms {
                Some(t) if t.value % 1000 == 0 => {
                    one(s(&format!("{}s", t.value / 1000)), &t.origin)
                }
                Some(t) => one(s(&format!("{}ms", t.value)), &t.origin),
                None => Entry::Unset,
            },
        ),
        (
            "policy.sources",
            Entry::Many(
                c.policy
                    .iter()
                    .map(|e| (s(&e.what), origin_of_source(e)))
                    .collect(),
            ),
        ),
        (
            "policy.skip",
            one(json!(c.no_policy.value), &c.no_policy.origin),
        ),
        (
            "audit.dir",
            match &c.audit_dir {
                Some(d) => one(path(&d.value), &d.origin),
                None => Entry::Unset,
            },
        ),
        (
            "caches.enabled",
            one(json!(c.caches_enabled.value), &c.caches_enabled.origin),
        ),
        ("caches.remove", many(&c.caches_remove, |x| s(x))),
        (
            "caches.add",
            many(
                &c.caches_add,
                |x| json!({ "name": x.name, "path": x.path.display().to_string(), "env": x.var }),
            ),
        ),
    ]
}

fn origin_of_source(e: &crate::PolicyEntry) -> Origin {
    Origin {
        layer: crate::Layer::Builtin,
        file: Some(e.source.origin.clone()),
        line: 1,
        what: None,
    }
}

fn header(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for (layer, p) in &c.files {
        out.push(format!("# {} layer: {}", layer.as_str(), p.display()));
    }
    out.push(format!(
        "# project {}: {}",
        c.project.root.display(),
        match (&c.project.config, &c.project.state) {
            (None, _) => "no .cordon/config.toml".to_string(),
            (Some(_), st) => st.as_str().to_string(),
        }
    ));
    if let Some(l) = c.ignored_line() {
        out.push(format!("# {l}"));
    }
    out
}

/// The effective configuration as TOML-like text; with `origin`, each value is followed by
/// `# FILE:LINE` (or `# built-in`, `# flag --mode`, `# env CORDON_MODE`).
pub fn render_text(c: &Config, origin: bool) -> String {
    let mut out = header(c);
    let o = |or: &Origin| {
        if origin {
            format!("  # {or}")
        } else {
            String::new()
        }
    };
    for (key, e) in entries(c) {
        match e {
            Entry::Unset => out.push(format!("# {key} (not set)")),
            Entry::One(v, or) => out.push(format!("{key} = {v}{}", o(&or))),
            Entry::Many(items) if items.is_empty() => out.push(format!("{key} = []")),
            Entry::Many(items) if !origin => {
                let vs: Vec<String> = items.iter().map(|(v, _)| v.to_string()).collect();
                out.push(format!("{key} = [{}]", vs.join(", ")));
            }
            Entry::Many(items) => {
                out.push(format!("{key} = ["));
                for (v, or) in items {
                    out.push(format!("  {v},{}", o(&or)));
                }
                out.push("]".into());
            }
        }
    }
    let profiles = c.profiles();
    if origin {
        out.push("# profiles (cordon run --profile NAME):".into());
        for p in &profiles {
            out.push(format!(
                "#   {}: {}  # {}",
                p.name,
                p.description.as_deref().unwrap_or(""),
                p.defined_at
            ));
        }
    } else {
        let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
        out.push(format!(
            "# profiles (cordon run --profile NAME): {}",
            names.join(", ")
        ));
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// The effective configuration as JSON: `{"mode": "read-only", ...}`; with `origin`, each value
/// is `{"value": .., "origin": ".."}` (lists: a list of those). Also `files`, `project`, `ignored`.
pub fn render_json(c: &Config, origin: bool) -> Value {
    let mut values = serde_json::Map::new();
    for (key, e) in entries(c) {
        let v = match e {
            Entry::Unset => Value::Null,
            Entry::One(v, or) if origin => json!({"value": v, "origin": or.to_string()}),
            Entry::One(v, _) => v,
            Entry::Many(items) => Value::Array(
                items
                    .into_iter()
                    .map(|(v, or)| {
                        if origin {
                            json!({"value": v, "origin": or.to_string()})
                        } else {
                            v
                        }
                    })
                    .collect(),
            ),
        };
        values.insert(key.to_string(), v);
    }
    json!({
        "config": values,
        "files": c.files.iter().map(|(l, p)| json!({"layer": l, "path": p})).collect::<Vec<_>>(),
        "project": {
            "root": c.project.root,
            "config": c.project.config,
            "trust": c.project.state.as_str(),
        },
        "ignored": c.ignored,
        "profiles": c.profiles(),
    })
}
