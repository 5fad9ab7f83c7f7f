//! cordon's hook entries inside an agent's settings file: add them (once), find them, remove
//! exactly them.
//!
//! An entry is cordon's when its command is `<…/cordon> hook <agent> [args]`: the first word's
//! file name is `cordon`, whatever directory it is in (so a reinstall from another path updates
//! the entry instead of adding a second one, and uninstall finds entries written by an older
//! binary). Entries are never matched by position, so hooks a user added before or after, in the
//! same event or the same group, are left as they are.

use std::path::Path;

use jsonc_parser::cst::{CstArray, CstInputValue, CstObject};
use serde_json::{json, Map, Value};

use crate::agents::{AgentId, HookShape, Layout};
use crate::settings_edit::{input, EditError, JsonDoc, TomlDoc};

/// The command cordon writes: the absolute path of the binary, shell-quoted when it needs to
/// be, then `hook AGENT`.
pub fn hook_command(bin: &Path, agent: AgentId) -> String {
    format!(
        "{} hook {}",
        shell_quote(&bin.to_string_lossy()),
        agent.arg()
    )
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,@%=".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Splits a command line into words the way `sh` would for the quoting cordon writes ('…',
/// "…", backslashes). `None` for anything it does not understand (then it is not cordon's).
fn shell_words(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match it.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match it.next()? {
                        '"' => break,
                        '\\' => cur.push(it.next()?),
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(it.next()?);
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// Whether `cmd` runs `cordon hook AGENT`.
pub fn is_cordon_hook(cmd: &str, agent: AgentId) -> bool {
    let Some(w) = shell_words(cmd) else {
        return false;
    };
    w.len() >= 3
        && Path::new(&w[0]).file_name().is_some_and(|n| n == "cordon")
        && w[1] == "hook"
        && w[2] == agent.arg()
}

/// The handler object cordon installs.
pub fn handler(shape: &HookShape, cmd: &str) -> Value {
    let mut m = Map::new();
    if let Value::Object(b) = (shape.before)() {
        m.extend(b);
    }
    m.insert(shape.command_key.into(), Value::String(cmd.into()));
    if let Value::Object(a) = (shape.after)() {
        m.extend(a);
    }
    Value::Object(m)
}

/// The handler as the CST's input, keys in the order written (`before`, command, `after`;
/// serde_json's map would sort them).
fn handler_input(shape: &HookShape, cmd: &str) -> CstInputValue {
    let mut pairs = Vec::new();
    for part in [
        (shape.before)(),
        json!({ shape.command_key: cmd }),
        (shape.after)(),
    ] {
        if let Value::Object(m) = part {
            pairs.extend(m.iter().map(|(k, v)| (k.clone(), input(v))));
        }
    }
    CstInputValue::Object(pairs)
}

fn group_input(matcher: Option<&str>, h: CstInputValue) -> CstInputValue {
    let mut pairs = Vec::new();
    if let Some(x) = matcher {
        pairs.push(("matcher".to_string(), CstInputValue::String(x.into())));
    }
    pairs.push(("hooks".to_string(), CstInputValue::Array(vec![h])));
    CstInputValue::Object(pairs)
}

fn is_ours(v: &Value, key: &str, agent: AgentId) -> bool {
    v.get(key)
        .and_then(Value::as_str)
        .is_some_and(|c| is_cordon_hook(c, agent))
}

/// Whether cordon's hook is in the document for every event of `shape` (any binary path).
pub fn json_installed(v: &Value, shape: &HookShape, agent: AgentId) -> bool {
    let hooks = v.get("hooks");
    shape.events.iter().all(|(event, _)| {
        hooks
            .and_then(|h| h.get(event))
            .and_then(Value::as_array)
            .is_some_and(|arr| {
                arr.iter().any(|e| match shape.layout {
                    Layout::Flat => is_ours(e, shape.command_key, agent),
                    Layout::Grouped => e
                        .get("hooks")
                        .and_then(Value::as_array)
                        .is_some_and(|hs| hs.iter().any(|h| is_ours(h, shape.command_key, agent))),
                })
            })
    })
}

/// The handler objects of one event's array that are cordon's (flat: the elements; grouped:
/// inside each group's `hooks`).
fn our_handlers(
    arr: &CstArray,
    shape: &HookShape,
    agent: AgentId,
) -> Vec<(Option<CstObject>, CstObject)> {
    let mut out = Vec::new();
    for el in arr.elements() {
        let Some(obj) = el.as_object() else { continue };
        match shape.layout {
            Layout::Flat => {
                if obj
                    .to_serde_value()
                    .is_some_and(|v| is_ours(&v, shape.command_key, agent))
                {
                    out.push((None, obj));
                }
            }
            Layout::Grouped => {
                let Some(hs) = obj.get("hooks").and_then(|p| p.array_value()) else {
                    continue;
                };
                for h in hs.elements() {
                    if let Some(ho) = h.as_object() {
                        if ho
                            .to_serde_value()
                            .is_some_and(|v| is_ours(&v, shape.command_key, agent))
                        {
                            out.push((Some(obj.clone()), ho));
                        }
                    }
                }
            }
        }
    }
    out
}

/// Adds cordon's hook to each event (or updates an entry of cordon's that differs, e.g. an older
/// binary path). Idempotent: an entry already equal is left alone.
pub fn json_install(
    doc: &JsonDoc,
    shape: &HookShape,
    agent: AgentId,
    cmd: &str,
) -> Result<(), EditError> {
    let root = doc.root();
    if shape.version_key && root.get("version").is_none() {
        root.insert(0, "version", CstInputValue::Number("1".into()));
    }
    let hooks = doc.object_in(&root, "hooks")?;
    for (event, matcher) in shape.events {
        let want = handler(shape, &shape.command(cmd, event));
        let arr = doc.array_in(&hooks, event)?;
        let ours = our_handlers(&arr, shape, agent);
        if let Some((grp, h)) = ours.first() {
            if h.to_serde_value().as_ref() != Some(&want) {
                h.clone()
                    .replace_with(handler_input(shape, &shape.command(cmd, event)));
            }
            // A group of cordon's whose matcher was changed is the user's choice: kept.
            let _ = grp;
            continue;
        }
        match shape.layout {
            Layout::Flat => {
                arr.append(handler_input(shape, &shape.command(cmd, event)));
            }
            Layout::Grouped => {
                arr.append(group_input(
                    *matcher,
                    handler_input(shape, &shape.command(cmd, event)),
                ));
            }
        }
    }
    Ok(())
}

/// Removes every hook entry of cordon's for `agent` (in any event), the groups and event arrays
/// that only held them, and `hooks` itself when it ends empty. Returns how many were removed.
pub fn json_uninstall(doc: &JsonDoc, shape: &HookShape, agent: AgentId) -> usize {
    let root = doc.root();
    let Some(hooks) = root.get("hooks").and_then(|p| p.object_value()) else {
        return 0;
    };
    let mut removed = 0;
    for prop in hooks.properties() {
        let Some(arr) = prop.array_value() else {
            continue;
        };
        let ours = our_handlers(&arr, shape, agent);
        if ours.is_empty() {
            continue;
        }
        for (grp, h) in ours {
            removed += 1;
            match grp {
                None => h.remove(),
                Some(g) => {
                    h.remove();
                    let empty = g
                        .get("hooks")
                        .and_then(|p| p.array_value())
                        .is_some_and(|a| a.elements().is_empty());
                    if empty {
                        g.remove();
                    }
                }
            }
        }
        if arr.elements().is_empty() {
            prop.remove();
        }
    }
    if removed > 0 && hooks.properties().is_empty() {
        if let Some(p) = root.get("hooks") {
            p.remove();
        }
    }
    removed
}

/// Whether what is left of a file cordon created is only its skeleton (`{}`, `{"version": 1}`).
pub fn json_is_skeleton(v: &Value) -> bool {
    match v.as_object() {
        Some(o) => o
            .iter()
            .all(|(k, v)| k == "version" && v == &Value::from(1)),
        None => false,
    }
}

fn toml_value(v: &Value) -> Option<toml_edit::Value> {
    Some(match v {
        Value::String(s) => s.as_str().into(),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => n.as_i64()?.into(),
        _ => return None,
    })
}

fn toml_handler(shape: &HookShape, cmd: &str) -> toml_edit::Table {
    let mut t = toml_edit::Table::new();
    for part in [
        (shape.before)(),
        json!({ shape.command_key: cmd }),
        (shape.after)(),
    ] {
        if let Value::Object(m) = part {
            for (k, v) in &m {
                if let Some(tv) = toml_value(v) {
                    t.insert(k, toml_edit::Item::Value(tv));
                }
            }
        }
    }
    t
}

fn toml_is_ours(t: &toml_edit::Table, key: &str, agent: AgentId) -> bool {
    t.get(key)
        .and_then(|i| i.as_str())
        .is_some_and(|c| is_cordon_hook(c, agent))
}

/// The TOML form (Codex's `[[hooks.EVENT]]` / `[[hooks.EVENT.hooks]]`): grouped layout only.
pub fn toml_install(
    doc: &mut TomlDoc,
    shape: &HookShape,
    agent: AgentId,
    cmd: &str,
) -> Result<(), EditError> {
    let file = doc.path().to_path_buf();
    let path_err = |what: String| EditError::Shape {
        path: file.clone(),
        message: what,
    };
    let hooks = {
        let t = doc.doc.as_table_mut();
        let item = t.entry("hooks").or_insert_with(|| {
            let mut n = toml_edit::Table::new();
            n.set_implicit(true);
            toml_edit::Item::Table(n)
        });
        item.as_table_mut()
            .ok_or_else(|| path_err("`hooks` is not a table".into()))?
    };
    for (event, matcher) in shape.events {
        let ev_cmd = shape.command(cmd, event);
        let want = toml_handler(shape, &ev_cmd);
        let want_val = handler(shape, &ev_cmd);
        let item = hooks
            .entry(event)
            .or_insert_with(|| toml_edit::Item::ArrayOfTables(Default::default()));
        let aot = item.as_array_of_tables_mut().ok_or_else(|| {
            path_err(format!(
                "`hooks.{event}` is not an array of tables ([[hooks.{event}]]); cordon edits only that form"
            ))
        })?;
        let mut found = false;
        'groups: for g in aot.iter_mut() {
            let Some(hs) = g.get_mut("hooks").and_then(|i| i.as_array_of_tables_mut()) else {
                continue;
            };
            for h in hs.iter_mut() {
                if toml_is_ours(h, shape.command_key, agent) {
                    found = true;
                    let same = h.get(shape.command_key).and_then(|i| i.as_str())
                        == Some(ev_cmd.as_str())
                        && want_val
                            .as_object()
                            .is_some_and(|m| m.keys().all(|k| h.contains_key(k)));
                    if !same {
                        for (k, v) in want.iter() {
                            h.insert(k, v.clone());
                        }
                    }
                    break 'groups;
                }
            }
        }
        if !found {
            let mut g = toml_edit::Table::new();
            if let Some(m) = matcher {
                g.insert("matcher", toml_edit::value(*m));
            }
            let mut hs = toml_edit::ArrayOfTables::new();
            hs.push(want.clone());
            g.insert("hooks", toml_edit::Item::ArrayOfTables(hs));
            aot.push(g);
        }
    }
    Ok(())
}

/// Removes cordon's entries from the TOML form; returns how many.
pub fn toml_uninstall(
    doc: &mut TomlDoc,
    shape: &HookShape,
    agent: AgentId,
) -> Result<usize, EditError> {
    let mut removed = 0;
    let Some(hooks) = doc.doc.get_mut("hooks").and_then(|i| i.as_table_mut()) else {
        return Ok(0);
    };
    let events: Vec<String> = hooks.iter().map(|(k, _)| k.to_string()).collect();
    for event in events {
        let Some(aot) = hooks
            .get_mut(&event)
            .and_then(|i| i.as_array_of_tables_mut())
        else {
            continue;
        };
        let mut removed_here = 0;
        let mut empty_groups = Vec::new();
        for (gi, g) in aot.iter_mut().enumerate() {
            let Some(hs) = g.get_mut("hooks").and_then(|i| i.as_array_of_tables_mut()) else {
                continue;
            };
            let before = hs.len();
            hs.retain(|h| !toml_is_ours(h, shape.command_key, agent));
            let n = before - hs.len();
            if n > 0 {
                removed_here += n;
                if hs.is_empty() {
                    empty_groups.push(gi);
                }
            }
        }
        for gi in empty_groups.into_iter().rev() {
            aot.remove(gi);
        }
        if removed_here > 0 && aot.is_empty() {
            hooks.remove(&event);
        }
        removed += removed_here;
    }
    if removed > 0 && hooks.is_empty() {
        doc.doc.remove("hooks");
    }
    Ok(removed)
}

/// Whether the TOML document holds cordon's hook for every event of `shape`.
pub fn toml_installed(doc: &toml_edit::DocumentMut, shape: &HookShape, agent: AgentId) -> bool {
    let Some(hooks) = doc.get("hooks").and_then(|i| i.as_table()) else {
        return false;
    };
    shape.events.iter().all(|(event, _)| {
        hooks
            .get(event)
            .and_then(|i| i.as_array_of_tables())
            .is_some_and(|aot| {
                aot.iter().any(|g| {
                    g.get("hooks")
                        .and_then(|i| i.as_array_of_tables())
                        .is_some_and(|hs| {
                            hs.iter().any(|h| toml_is_ours(h, shape.command_key, agent))
                        })
                })
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cordon_hook_commands_are_recognised_by_name_not_path() {
        let a = AgentId::Claude;
        assert!(is_cordon_hook("/usr/local/bin/cordon hook claude", a));
        assert!(is_cordon_hook(
            "'/home/me/my dir/cordon' hook claude --event PreToolUse",
            a
        ));
        assert!(is_cordon_hook("cordon hook claude", a));
        assert!(!is_cordon_hook("/usr/bin/cordon hook codex", a));
        assert!(!is_cordon_hook("/usr/bin/not-cordon hook claude", a));
        assert!(!is_cordon_hook("echo cordon hook claude", a));
        assert!(!is_cordon_hook("'unterminated", a));
        let q = hook_command(Path::new("/opt/my tools/it's/cordon"), a);
        assert_eq!(q, r"'/opt/my tools/it'\''s/cordon' hook claude");
        assert!(is_cordon_hook(&q, a));
        assert_eq!(shell_words(&q).unwrap()[0], "/opt/my tools/it's/cordon");
    }
}
