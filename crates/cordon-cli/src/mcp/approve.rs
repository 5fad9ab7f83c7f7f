//! `cordon mcp pins` and `cordon mcp approve`.

use std::io::Write;
use std::process::ExitCode;

use cordon_audit::{Event, Text};
use cordon_mcp::pins::{self, PinnedText, PinnedTool, ServerPins};
use cordon_pipeline::Error;
use cordon_sandbox::exit::CHECK_FAILED;
use serde_json::Value;

#[derive(clap::Args)]
pub struct PinsArgs {
    /// Only this server.
    pub name: Option<String>,
    /// As JSON: {"servers": [...], "collisions": [{"tool", "servers"}]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct ApproveArgs {
    /// The server (its --name).
    pub name: String,
    /// Only this tool (default: everything withheld for the server: its identity, its
    /// instructions, every new, changed or flagged tool).
    pub tool: Option<String>,
    /// Approve without the question on the terminal (after showing the diff).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub audit: crate::cmd_audit::LogArgs,
}

pub fn pins(a: PinsArgs) -> Result<ExitCode, Error> {
    let store = match super::store() {
        Ok(s) => s,
        Err(e) => return Err(Error::failed(e)),
    };
    let all = match store.all() {
        Ok(a) => a,
        Err(e) => return Err(Error::failed(e)),
    };
    let collisions = pins::collisions(&all);
    let shown: Vec<&ServerPins> = all
        .iter()
        .filter(|s| a.name.as_deref().is_none_or(|n| n == s.name))
        .collect();
    if let Some(n) = &a.name {
        if shown.is_empty() {
            return Err(Error::failed(format!(
                "no pins for an MCP server named {n:?} (see 'cordon mcp pins')"
            )));
        }
    }
    if a.json {
        let v = serde_json::json!({
            "dir": store.dir(),
            "servers": shown,
            "collisions": collisions.iter().map(|(t, s)| serde_json::json!({"tool": t, "servers": s})).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())?;
        return Ok(ExitCode::SUCCESS);
    }
    if shown.is_empty() {
        outln!("no MCP server pinned yet ({})", store.dir().display())?;
    }
    for s in shown {
        let ident = match (&s.identity, &s.pending_identity) {
            (_, Some(_)) => "identity CHANGED (withheld)",
            (Some(_), None) => "identity pinned",
            (None, None) => "identity not pinned",
        };
        outln!(
            "{}: {} tools pinned, {} withheld; {ident}",
            s.name,
            s.tools.len(),
            s.pending.len() + usize::from(s.pending_instructions.is_some())
        )?;
        if let Some(id) = s.identity.as_ref().or(s.pending_identity.as_ref()) {
            outln!(
                "  command: {}",
                cordon_policy::unicode::escape(&id.argv.join(" "))
            )?;
        }
        for (t, p) in &s.tools {
            let hints = p
                .def
                .get("annotations")
                .map(|a| {
                    format!(
                        " (server says: {})",
                        cordon_policy::unicode::escape(&a.to_string())
                    )
                })
                .unwrap_or_default();
            outln!(
                "  {t:<32} {}… {} {}{hints}",
                &p.sha256[..12.min(p.sha256.len())],
                p.how,
                p.pinned_at
            )?;
        }
        for (t, p) in &s.pending {
            outln!(
                "  {t:<32} WITHHELD: {}{}",
                p.kind,
                if p.findings.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        p.findings
                            .iter()
                            .map(|f| f.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                }
            )?;
        }
        if s.pending_instructions.is_some() {
            outln!("  (instructions)                   WITHHELD: changed or flagged")?;
        }
    }
    for (t, servers) in &collisions {
        outln!("collision: tool {t:?} is offered by {}", servers.join(", "))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A readable line diff of two texts.
fn diff(old: &str, new: &str) -> String {
    let d = similar::TextDiff::from_lines(old, new);
    let mut out = String::new();
    for c in d.iter_all_changes() {
        let sign = match c.tag() {
            similar::ChangeTag::Delete => "-",
            similar::ChangeTag::Insert => "+",
            similar::ChangeTag::Equal => " ",
        };
        let line = cordon_policy::unicode::escape(c.value().trim_end_matches('\n'));
        out.push_str(&format!("    {sign} {line}\n"));
    }
    out
}

/// A field of a tool definition as lines (descriptions as text, schemas as pretty JSON).
fn field_text(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        Some(Value::String(s)) => format!("{s}\n"),
        Some(v) => {
            let sorted: Value =
                serde_json::from_str(&cordon_mcp::canon::to_string(v)).unwrap_or(Value::Null);
            format!(
                "{}\n",
                serde_json::to_string_pretty(&sorted).unwrap_or_default()
            )
        }
    }
}

fn tool_diff(old: Option<&PinnedTool>, new: &Value) -> String {
    let mut out = String::new();
    for f in cordon_mcp::poison::TOOL_FIELDS {
        let o = old.and_then(|p| p.def.get(f));
        let n = new.get(f);
        if o != n || old.is_none() {
            if n.is_none() && o.is_none() {
                continue;
            }
            out.push_str(&format!("  {f}:\n{}", diff(&field_text(o), &field_text(n))));
        }
    }
    out
}

pub fn approve(a: ApproveArgs) -> Result<ExitCode, Error> {
    let store = super::store().map_err(Error::failed)?;
    let cur = store.load(&a.name).map_err(Error::failed)?;
    if cur.identity.is_none()
        && cur.pending_identity.is_none()
        && cur.tools.is_empty()
        && cur.pending.is_empty()
    {
        return Err(Error::failed(format!(
            "no pins for an MCP server named {:?} (see 'cordon mcp pins')",
            a.name
        )));
    }
    // What would be approved, shown first.
    let whole = a.tool.is_none();
    let mut text = if whole {
        server_changes(&cur)
    } else {
        String::new()
    };
    let tools: Vec<String> = match &a.tool {
        Some(t) => {
            if !cur.pending.contains_key(t) {
                return Err(Error::failed(format!(
                    "nothing withheld for tool {t:?} of {:?} ({})",
                    a.name,
                    if cur.tools.contains_key(t) {
                        "it is pinned as it is"
                    } else {
                        "no such tool; see 'cordon mcp pins'"
                    }
                )));
            }
            vec![t.clone()]
        }
        None => cur.pending.keys().cloned().collect(),
    };
    for t in &tools {
        let p = &cur.pending[t];
        text.push_str(&format!(
            "tool {t} ({}):\n{}",
            p.kind,
            tool_diff(cur.tools.get(t), &p.def)
        ));
        for f in &p.findings {
            text.push_str(&format!("  flagged: {f}\n"));
        }
    }
    if text.is_empty() {
        outln!("nothing withheld for {:?}", a.name)?;
        return Ok(ExitCode::SUCCESS);
    }
    out!("{text}")?;
    cordon_pipeline::out::flush()?;
    // What is approved must have been shown: a diff cut short (`| head`) is not a review.
    if !a.yes && cordon_pipeline::out::closed() {
        errln!(
            "cordon: not approved: the changes could not all be shown (stdout was closed); \
             run it without a pipe that stops early, or pass --yes"
        );
        return Ok(ExitCode::from(CHECK_FAILED));
    }
    if !a.yes && !confirm() {
        errln!("cordon: not approved");
        return Ok(ExitCode::from(CHECK_FAILED));
    }
    let now = cordon_audit::rfc3339_ms(cordon_audit::now_ms());
    let mut changes = Vec::new();
    let res = store.update(&a.name, |p| {
        if whole {
            if let Some(id) = p.pending_identity.take() {
                changes.push((None, Some(id.sha256())));
                p.identity = Some(id);
            }
            if let Some(ins) = p.pending_instructions.take() {
                changes.push((Some("(instructions)".to_string()), Some(ins.sha256.clone())));
                p.instructions = Some(PinnedText { ..ins });
            }
        }
        for t in &tools {
            // Approve what was shown: a definition seen since then stays withheld.
            if let Some(pend) = p
                .pending
                .get(t)
                .filter(|x| x.sha256 == cur.pending[t].sha256)
                .cloned()
            {
                p.pending.remove(t);
                changes.push((Some(t.clone()), Some(pend.sha256.clone())));
                p.tools.insert(
                    t.clone(),
                    PinnedTool {
                        sha256: pend.sha256,
                        def: pend.def,
                        pinned_at: now.clone(),
                        how: "approved".into(),
                        accepted: pend.findings,
                    },
                );
            }
        }
        p.listed = true;
    });
    if let Err(e) = res {
        return Err(Error::failed(e));
    }
    // Recorded in the audit log like every change.
    record_approvals(&a, &changes);
    outln!(
        "approved: {} item(s) of {:?}; the client sees them at its next tools/list",
        changes.len(),
        a.name
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The server-level changes waiting for approval (its identity, its instructions), as shown.
fn server_changes(cur: &ServerPins) -> String {
    let mut text = String::new();
    if let Some(new) = &cur.pending_identity {
        text.push_str(&format!(
            "server identity: {}\n",
            match &cur.identity {
                Some(old) => cordon_mcp::gateway::identity_diff(old, new),
                None => format!("first use: {}", new.argv.join(" ")),
            }
        ));
    }
    if let Some(new) = &cur.pending_instructions {
        let old = cur.instructions.as_ref().map_or("", |p| p.text.as_str());
        text.push_str(&format!("instructions:\n{}", diff(old, &new.text)));
        for f in &new.findings {
            text.push_str(&format!("  flagged: {f}\n"));
        }
    }
    text
}

/// The approvals, recorded in the audit log (when there is one) like every change.
fn record_approvals(a: &ApproveArgs, changes: &[(Option<String>, Option<String>)]) {
    if let Ok(Some(dir)) = cordon_pipeline::record::resolve_run_dir(&a.audit.options(), None) {
        let start = cordon_pipeline::record::session_start(
            "mcp-approve",
            cordon_audit::sha256_hex(b""),
            None,
            "none",
            vec![],
            "none",
            a.audit.agent.as_deref(),
        );
        if let Ok(s) = cordon_pipeline::record::Session::start(&dir, &start) {
            for (tool, sha) in changes {
                s.record(&Event::McpChange {
                    server: a.name.clone(),
                    tool: tool.as_deref().map(Text::from),
                    change: "approved".into(),
                    old_sha256: None,
                    new_sha256: sha.clone(),
                    detail: Text::from(if a.yes {
                        "approved with --yes"
                    } else {
                        "approved on the terminal"
                    }),
                });
            }
        }
    }
}

/// y/N on the terminal (never from stdin: what reads stdin may be a script).
fn confirm() -> bool {
    use std::io::BufRead;
    let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    else {
        errln!(
            "cordon: no terminal to confirm on; review the diff above and pass --yes to approve"
        );
        return false;
    };
    let mut w = &tty;
    let _ = w.write_all(b"cordon: approve? [y/N] ");
    let mut line = String::new();
    let _ = std::io::BufReader::new(&tty).read_line(&mut line);
    matches!(line.trim(), "y" | "Y" | "yes")
}
