//! `cordon cache list` / `cordon cache clean`: the tool caches overlaid in the sandbox, and the
//! per-workspace layers kept under cordon's state directory. Also builds the caches part of a
//! run's request (`request`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cordon_pipeline::plan::{cache_request, load_config, parent_env, paths, workspace_root};
use cordon_pipeline::Error;
use cordon_sandbox::caches::{self, store};
use cordon_sandbox::exit::CHECK_FAILED;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// What is overlaid for this workspace (lower -> upper), and the size of every workspace's
    /// cache layers.
    List(ListArgs),
    /// Remove a workspace's cache layers (the host's caches are never touched).
    Clean(CleanArgs),
}

#[derive(clap::Args)]
struct ListArgs {
    /// The workspace whose caches are shown (default: the git top-level of the current
    /// directory, else the current directory).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CleanArgs {
    /// The workspace whose layers are removed (default: the current one).
    #[arg(long, value_name = "DIR", conflicts_with = "all")]
    workspace: Option<PathBuf>,
    /// Every workspace's layers.
    #[arg(long)]
    all: bool,
}

/// cordon's state directory (`$XDG_STATE_HOME/cordon`, else `~/.local/state/cordon`).
fn state_dir() -> Option<PathBuf> {
    let p = paths();
    (p.home != Path::new("/")).then(|| p.state_dir())
}

pub fn run(a: Args) -> Result<ExitCode, Error> {
    match a.cmd {
        Cmd::List(l) => list(l),
        Cmd::Clean(c) => clean(c),
    }
}

fn human(b: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

fn tilde(p: &Path) -> String {
    if let Some(h) = std::env::var_os("HOME").map(PathBuf::from) {
        if h.is_absolute() && h != Path::new("/") {
            if let Ok(rest) = p.strip_prefix(&h) {
                return format!("~/{}", rest.display());
            }
        }
    }
    p.display().to_string()
}

/// The caches of `workspace` as a run there would have them (namespaces mode).
fn plan(workspace: &Path) -> Result<caches::Caches, String> {
    let p = paths();
    let cfg =
        load_config(&p, workspace, &cordon_config::Flags::default()).map_err(|e| e.to_string())?;
    let req = cache_request(&cfg, &p);
    let env = parent_env();
    let home = env
        .iter()
        .find(|(k, _)| k == "HOME")
        .map(|(_, v)| PathBuf::from(v))
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/"));
    let home = std::fs::canonicalize(&home).unwrap_or(home);
    let writable: Vec<PathBuf> = std::iter::once(workspace.to_path_buf())
        .chain(
            cfg.writable
                .iter()
                .filter_map(|w| std::fs::canonicalize(&w.value).ok()),
        )
        .collect();
    let mut out_env = Vec::new();
    Ok(caches::for_spec(
        &req,
        &caches::Context {
            home: &home,
            workspace,
            writable: &writable,
            secrets: &[],
            parent_env: &env,
        },
        true,
        true,
        &mut out_env,
    ))
}

fn list(a: ListArgs) -> Result<ExitCode, Error> {
    let ws = match workspace_root(a.workspace.as_deref(), None) {
        Ok(w) => w,
        Err(e) => return Err(Error::failed(e)),
    };
    let plan = match plan(&ws) {
        Ok(p) => p,
        Err(e) => return Err(Error::failed(e)),
    };
    let stored = match state_dir() {
        Some(s) => match store::scan(&s) {
            Ok(v) => v,
            Err(e) => return Err(Error::failed(format!("cannot read {}: {e}", s.display()))),
        },
        None => Vec::new(),
    };
    if a.json {
        let v = serde_json::json!({ "workspace": ws, "caches": plan, "stored": stored });
        match serde_json::to_string_pretty(&v) {
            Ok(s) => outln!("{s}")?,
            Err(e) => return Err(Error::failed(format!("cannot encode JSON: {e}"))),
        }
        return Ok(ExitCode::SUCCESS);
    }
    outln!("workspace {}", ws.display())?;
    if plan.overlays.is_empty() && plan.private.is_empty() && plan.skipped.is_empty() {
        outln!("  no tool caches (caches are off, or there is no state directory)")?;
    }
    for o in &plan.overlays {
        outln!(
            "  overlay {} -> {} ({})",
            tilde(&o.lower),
            tilde(&o.upper),
            o.name
        )?;
        for c in &o.caches {
            outln!(
                "    {:<15} {}{}",
                c.name,
                tilde(&c.path),
                if c.create { " (created empty)" } else { "" }
            )?;
        }
    }
    for p in &plan.private {
        outln!("  {:<15} private  {}={}", p.name, p.var, tilde(&p.dir))?;
    }
    for s in &plan.skipped {
        outln!("  {:<15} skipped  {}: {}", s.name, tilde(&s.path), s.why)?;
    }
    outln!()?;
    if stored.is_empty() {
        outln!("no cache layers stored yet")?;
    }
    for w in &stored {
        let total: u64 = w
            .entries
            .iter()
            .map(|e| e.overlay_bytes + e.private_bytes)
            .sum();
        outln!(
            "{} ({}): {}",
            w.workspace
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "workspace unknown".into()),
            w.id,
            human(total)
        )?;
        let width = w.entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
        for e in &w.entries {
            let mut parts = Vec::new();
            if e.overlay_bytes > 0 {
                parts.push(format!("overlay {}", human(e.overlay_bytes)));
            }
            if e.private_bytes > 0 {
                parts.push(format!("private {}", human(e.private_bytes)));
            }
            if parts.is_empty() {
                parts.push("empty".into());
            }
            outln!("  {:<width$} {}", e.name, parts.join(", "))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn clean(a: CleanArgs) -> Result<ExitCode, Error> {
    let Some(state) = state_dir() else {
        return Err(Error::failed(
            "no state directory: neither XDG_STATE_HOME nor HOME is an absolute path",
        ));
    };
    // (caches directory, its workspace when known)
    let dirs: Vec<(PathBuf, Option<PathBuf>)> = if a.all {
        match store::scan(&state) {
            Ok(v) => v.into_iter().map(|w| (w.dir, w.workspace)).collect(),
            Err(e) => {
                return Err(Error::failed(format!(
                    "cannot read {}: {e}",
                    state.display()
                )))
            }
        }
    } else {
        let ws = match workspace_root(a.workspace.as_deref(), None) {
            Ok(w) => w,
            Err(e) => return Err(Error::failed(e)),
        };
        let _ = &state;
        vec![(paths().workspace_state_dir(&ws).join("caches"), Some(ws))]
    };
    // The workspace's lock is held by the sandbox that uses its layers, and (shared) by fallback
    // runs; a second sandbox of the workspace started meanwhile (its overlays on a throwaway
    // layer) holds none, but uses the private directories too: the live runs' records
    // (runs.rs) name every running sandbox's workspace.
    let live = cordon_sandbox::runs::live().map_err(|e| {
        Error::failed(format!(
            "cannot read the record of live runs ({e}); nothing was removed"
        ))
    })?;
    let mut busy = 0;
    for (d, ws) in &dirs {
        let running = ws
            .as_ref()
            .is_some_and(|ws| live.iter().any(|r| r.writable.contains(ws)));
        let cleaned = if running { Ok(false) } else { store::clean(d) };
        match cleaned {
            Ok(true) => errln!("cordon: removed the cache layers in {}", tilde(d)),
            Ok(false) => {
                busy += 1;
                errln!(
                    "cordon: {}: a sandbox of this workspace is running; run 'cordon cache clean' again when it has ended",
                    tilde(d)
                );
            }
            Err(e) => return Err(Error::failed(format!("{e}; nothing else was removed"))),
        }
    }
    if busy > 0 {
        Ok(ExitCode::from(CHECK_FAILED))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}
