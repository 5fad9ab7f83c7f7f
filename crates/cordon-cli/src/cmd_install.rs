//! `cordon install AGENT` / `cordon uninstall AGENT`: write cordon's hook into an agent's
//! settings (user, project or managed scope), merged into what is there, with a backup and a
//! `--dry-run` diff; remove exactly it again.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::agents::{self, AgentId, FileFormat, Location, Scope};
use crate::hook_entries as he;
use crate::installed::{project_dir, scope_name, self_binary};
use crate::settings_edit::{Applied, Change, EditError, JsonDoc, TomlDoc};
use cordon_pipeline::Error;

#[derive(clap::Args)]
pub struct Args {
    /// The agent: claude, codex, gemini, cursor, copilot, goose. Optional with --self-test
    /// (then every agent whose hook is installed is tested).
    #[arg(value_enum)]
    pub agent: Option<AgentId>,
    /// user (default), project (the repository's settings) or managed (root: the file users and
    /// repositories cannot override, plus the agent's "managed hooks only" switch).
    #[arg(long, value_enum, default_value = "user")]
    pub scope: Scope,
    /// The project directory for --scope project (default: the git top-level of the current
    /// directory, else the current directory).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print the diff of every file that would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Feed the installed hook each protocol's sample events and check its answers.
    #[arg(long)]
    pub self_test: bool,
    /// Machine-readable self-test report.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct UninstallArgs {
    #[arg(value_enum)]
    pub agent: AgentId,
    #[arg(long, value_enum, default_value = "user")]
    pub scope: Scope,
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print the diff of every file that would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The planned edit of one location.
struct Plan {
    loc: Location,
    change: Change,
    /// Companion files to create (install) or remove (uninstall).
    companions: Vec<Change>,
    /// Switch record to add or drop once written.
    record: Option<SwitchRecord>,
    drop_record: bool,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
struct SwitchRecord {
    file: PathBuf,
    key: String,
    /// The key's value before cordon set it (null: absent).
    previous: serde_json::Value,
}

fn check_scope(scope: Scope, env: &agents::Env) -> Result<(), String> {
    let euid = cordon_sandbox::host::euid();
    if scope == Scope::Managed && euid != 0 && env.etc == Path::new("/etc") {
        return Err(
            "--scope managed writes the machine's managed settings under /etc: run it as \
                    root (sudo cordon install AGENT --scope managed)"
                .into(),
        );
    }
    Ok(())
}

/// Warns when a managed hook would run a binary that a non-root user could replace.
fn managed_binary_warning(bin: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let mut p = Some(bin);
    while let Some(x) = p {
        if let Ok(m) = fs::metadata(x) {
            if m.uid() != 0 || m.mode() & 0o022 != 0 {
                return Some(format!(
                    "warning: the managed hook runs {}, and {} can be changed by a user other \
                     than root: install cordon somewhere only root can write (e.g. \
                     /usr/local/bin) and run this again",
                    bin.display(),
                    x.display()
                ));
            }
        }
        p = x.parent();
    }
    None
}

fn plan_install(agent: AgentId, loc: Location, cmd: &str) -> Result<Plan, EditError> {
    let shape = agent.shape();
    let mut record = None;
    let change = match loc.format {
        FileFormat::Json(flavor) => {
            let doc = JsonDoc::load(&loc.path, flavor)?;
            he::json_install(&doc, &shape, agent, cmd)?;
            if let Some(sw) = loc.switch {
                let root = doc.root();
                let prev = root
                    .get(sw.key)
                    .and_then(|p| p.value())
                    .and_then(|v| v.to_serde_value());
                if prev != Some(serde_json::Value::Bool(true)) {
                    match root.get(sw.key) {
                        Some(p) => p.set_value(jsonc_parser::cst::CstInputValue::Bool(true)),
                        None => {
                            root.append(sw.key, jsonc_parser::cst::CstInputValue::Bool(true));
                        }
                    }
                    record = Some(SwitchRecord {
                        file: doc.path().to_path_buf(),
                        key: sw.key.into(),
                        previous: prev.unwrap_or(serde_json::Value::Null),
                    });
                }
            }
            doc.change()
        }
        FileFormat::Toml => {
            let mut doc = TomlDoc::load(&loc.path)?;
            he::toml_install(&mut doc, &shape, agent, cmd)?;
            if let Some(sw) = loc.switch {
                let prev = doc.doc.get(sw.key).and_then(|i| i.as_bool());
                if prev != Some(true) {
                    // A top-level key goes before the first table.
                    doc.doc.insert(sw.key, toml_edit::value(true));
                    record = Some(SwitchRecord {
                        file: doc.path().to_path_buf(),
                        key: sw.key.into(),
                        previous: prev.map_or(serde_json::Value::Null, serde_json::Value::Bool),
                    });
                }
            }
            doc.change()
        }
    };
    let companions = loc
        .companions
        .iter()
        .filter(|(p, _)| !p.exists())
        .map(|(p, text)| Change {
            path: p.clone(),
            before: None,
            after: Some(text.clone()),
        })
        .collect();
    Ok(Plan {
        loc,
        change,
        companions,
        record,
        drop_record: false,
    })
}

fn plan_uninstall(
    agent: AgentId,
    loc: Location,
    records: &[SwitchRecord],
) -> Result<Plan, EditError> {
    let shape = agent.shape();
    let mut drop_record = false;
    let change = match loc.format {
        FileFormat::Json(flavor) => {
            let doc = JsonDoc::load(&loc.path, flavor)?;
            if !doc.existed() {
                doc.change()
            } else {
                let removed = he::json_uninstall(&doc, &shape, agent);
                if let Some(sw) = loc.switch {
                    if let Some(r) = records
                        .iter()
                        .find(|r| r.file == doc.path() && r.key == sw.key)
                    {
                        let root = doc.root();
                        if let Some(p) = root.get(sw.key) {
                            if p.value().and_then(|v| v.to_serde_value())
                                == Some(serde_json::Value::Bool(true))
                            {
                                if r.previous.is_null() {
                                    p.remove();
                                } else {
                                    p.set_value(crate::settings_edit::input(&r.previous));
                                }
                            }
                        }
                        drop_record = true;
                    }
                }
                let mut c = doc.change();
                if removed > 0 && he::json_is_skeleton(&doc.value()) {
                    // Only cordon's entries were left: the file goes (cordon's own file, or a
                    // settings file that held nothing else).
                    c.after = None;
                }
                c
            }
        }
        FileFormat::Toml => {
            let mut doc = TomlDoc::load(&loc.path)?;
            let removed = he::toml_uninstall(&mut doc, &shape, agent)?;
            if let Some(sw) = loc.switch {
                if let Some(r) = records
                    .iter()
                    .find(|r| r.file == doc.path() && r.key == sw.key)
                {
                    if doc.doc.get(sw.key).and_then(|i| i.as_bool()) == Some(true) {
                        match r.previous.as_bool() {
                            None => {
                                doc.doc.remove(sw.key);
                            }
                            Some(b) => doc.doc[sw.key] = toml_edit::value(b),
                        }
                    }
                    drop_record = true;
                }
            }
            let mut c = doc.change();
            if (removed > 0 || drop_record)
                && c.after.as_deref().is_some_and(|t| t.trim().is_empty())
            {
                // Only cordon's entries were there: the file goes.
                c.after = None;
            }
            c
        }
    };
    // Companions go with cordon's own file.
    let companions = if loc.own_file && change.after.is_none() {
        loc.companions
            .iter()
            .filter_map(|(p, _)| {
                fs::read_to_string(p).ok().map(|before| Change {
                    path: p.clone(),
                    before: Some(before),
                    after: None,
                })
            })
            .collect()
    } else {
        vec![]
    };
    Ok(Plan {
        loc,
        change,
        companions,
        record: None,
        drop_record,
    })
}

/// `$XDG_STATE_HOME/cordon/agents-switches.json`: the "managed hooks only" switches cordon set,
/// with their previous values, so uninstall restores exactly them.
fn records_path() -> Option<PathBuf> {
    cordon_audit::default_dir()
        .ok()
        .and_then(|d| d.parent().map(|p| p.join("agents-switches.json")))
}

fn load_records() -> Vec<SwitchRecord> {
    records_path()
        .and_then(|p| fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_records(r: &[SwitchRecord]) -> Result<(), String> {
    let Some(p) = records_path() else {
        return Err("no state directory (set HOME or XDG_STATE_HOME)".into());
    };
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let text = serde_json::to_string_pretty(r).unwrap_or_default() + "\n";
    let before = fs::read_to_string(&p).ok();
    let c = Change {
        path: p.clone(),
        before,
        after: Some(text),
    };
    c.apply().map(|_| ()).map_err(|e| e.to_string())
}

fn print_diff(plans: &[Plan]) -> Result<(), Error> {
    let mut any = false;
    for p in plans {
        for c in std::iter::once(&p.change).chain(p.companions.iter()) {
            let d = c.diff();
            if !d.is_empty() {
                any = true;
                out!("{d}")?;
                if !d.ends_with('\n') {
                    outln!()?;
                }
            }
        }
    }
    if !any {
        outln!("(no change)")?;
    }
    Ok(())
}

fn apply(plans: &[Plan]) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    let mut records = load_records();
    let mut records_changed = false;
    for p in plans {
        for c in p.companions.iter().filter(|c| c.after.is_some()) {
            c.apply().map_err(|e| e.to_string())?;
        }
        let mut what = p.change.apply().map_err(|e| e.to_string())?;
        for c in p.companions.iter().filter(|c| c.after.is_none()) {
            if let Applied::Removed { backup } = c.apply().map_err(|e| e.to_string())? {
                let _ = fs::remove_file(backup);
            }
        }
        if let (true, Applied::Removed { backup }) = (p.loc.own_file, &what) {
            // cordon's own file: no backup is kept (it would be left in the agent's hooks or
            // plugin directory).
            let _ = fs::remove_file(backup);
            what = Applied::Removed {
                backup: PathBuf::new(),
            };
        }
        let shown = p.change.path.display();
        lines.push(match what {
            Applied::Unchanged => format!("{shown}: already as wanted, nothing changed"),
            Applied::Created => format!("{shown}: created"),
            Applied::Updated { backup } => {
                format!(
                    "{shown}: updated (the previous version is in {})",
                    backup.display()
                )
            }
            Applied::Removed { backup } if backup.as_os_str().is_empty() => {
                format!("{shown}: removed (cordon's own file)")
            }
            Applied::Removed { backup } => {
                format!(
                    "{shown}: removed (it held only cordon's hook; copy in {})",
                    backup.display()
                )
            }
        });
        if p.loc.own_file && p.change.after.is_none() {
            // Directories cordon created for its own file, now empty.
            let mut d = p.change.path.parent();
            while let Some(x) = d {
                if x.file_name().is_some_and(|n| n == "cordon" || n == "hooks")
                    && fs::remove_dir(x).is_ok()
                {
                    d = x.parent();
                } else {
                    break;
                }
            }
        }
        if let Some(r) = &p.record {
            records.retain(|x| !(x.file == r.file && x.key == r.key));
            records.push(r.clone());
            records_changed = true;
        }
        if let (true, Some(sw)) = (p.drop_record, p.loc.switch) {
            records.retain(|x| !(x.file == p.change.path && x.key == sw.key));
            records_changed = true;
        }
    }
    if records_changed {
        save_records(&records)?;
    }
    Ok(lines)
}

pub fn run_install(a: Args) -> Result<ExitCode, Error> {
    if a.self_test && a.agent.is_none() {
        return crate::selftest::run(None, a.json);
    }
    let Some(agent) = a.agent else {
        return Err(Error::failed(
            "which agent? cordon install claude|codex|gemini|cursor|copilot|goose (or --self-test)",
        ));
    };
    let env = agents::Env::from_process();
    if let Err(e) = check_scope(a.scope, &env) {
        return Err(Error::failed(e));
    }
    let project = if a.scope == Scope::Project {
        match project_dir(a.project) {
            Ok(p) => p,
            Err(e) => return Err(Error::failed(e)),
        }
    } else {
        PathBuf::new()
    };
    let bin = match self_binary() {
        Ok(b) => b,
        Err(e) => return Err(Error::failed(e)),
    };
    let cmd = he::hook_command(&bin, agent);
    let locs = match agent.locations(a.scope, &env, &project) {
        Ok(l) => l,
        Err(e) => return Err(Error::failed(e)),
    };
    let mut plans = Vec::new();
    for loc in locs {
        match plan_install(agent, loc, &cmd) {
            Ok(p) => plans.push(p),
            Err(e) => return Err(Error::failed(e)),
        }
    }
    if a.dry_run {
        print_diff(&plans)?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.scope == Scope::Managed {
        if let Some(w) = managed_binary_warning(&bin) {
            errln!("cordon: {w}");
        }
    }
    let lines = match apply(&plans) {
        Ok(l) => l,
        Err(e) => return Err(Error::failed(e)),
    };
    let events: Vec<&str> = agent.shape().events.iter().map(|(e, _)| *e).collect();
    outln!(
        "cordon: hook installed for {} ({} scope): `{cmd}` on {}",
        agent.display(),
        scope_name(a.scope),
        events.join(", ")
    )?;
    for l in lines {
        outln!("  {l}")?;
    }
    for p in &plans {
        if let (Some(sw), Some(_)) = (p.loc.switch, &p.record) {
            outln!("  set {} = true: {}", sw.key, sw.what)?;
        }
    }
    for n in agent.notes(a.scope) {
        outln!("  next: {n}")?;
    }
    if a.self_test {
        return crate::selftest::run(Some(agent), a.json);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_uninstall(a: UninstallArgs) -> Result<ExitCode, Error> {
    let env = agents::Env::from_process();
    if let Err(e) = check_scope(a.scope, &env) {
        return Err(Error::failed(e));
    }
    let project = if a.scope == Scope::Project {
        match project_dir(a.project) {
            Ok(p) => p,
            Err(e) => return Err(Error::failed(e)),
        }
    } else {
        PathBuf::new()
    };
    let locs = match a.agent.locations(a.scope, &env, &project) {
        Ok(l) => l,
        Err(e) => return Err(Error::failed(e)),
    };
    let records = load_records();
    let mut plans = Vec::new();
    for loc in locs {
        match plan_uninstall(a.agent, loc, &records) {
            Ok(p) => plans.push(p),
            Err(e) => return Err(Error::failed(e)),
        }
    }
    if a.dry_run {
        print_diff(&plans)?;
        return Ok(ExitCode::SUCCESS);
    }
    let nothing = plans
        .iter()
        .all(|p| p.change.is_noop() && p.companions.is_empty());
    let lines = match apply(&plans) {
        Ok(l) => l,
        Err(e) => return Err(Error::failed(e)),
    };
    if nothing {
        outln!(
            "cordon: no hook of cordon's for {} in the {} scope; nothing changed",
            a.agent.display(),
            scope_name(a.scope)
        )?;
    } else {
        outln!(
            "cordon: hook removed for {} ({} scope)",
            a.agent.display(),
            scope_name(a.scope)
        )?;
        for l in lines {
            outln!("  {l}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
