//! `cordon doctor`: what this kernel supports, what cordon will use, what is missing and how to
//! fix it.

use std::process::ExitCode;

use cordon_pipeline::Error;
use cordon_sandbox::exit::CHECK_FAILED;
use cordon_sandbox::Probe;
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    probe: Probe,
    /// "namespaces" or "landlock-only" or "refuse".
    will_use: &'static str,
    layers: Vec<Layer>,
    /// Environment variables that `cordon run` would drop (names only).
    env_dropped: Vec<cordon_sandbox::env::DroppedEnv>,
    fixes: Vec<String>,
    /// The coding agents found on PATH or with cordon's hook installed.
    agents: Vec<AgentLine>,
    /// The self-test of every installed hook.
    hook_self_test: Vec<crate::selftest::AgentReport>,
}

#[derive(Serialize)]
struct AgentLine {
    agent: crate::agents::AgentId,
    binary: Option<std::path::PathBuf>,
    version: Option<String>,
    /// Where cordon's hook is installed: `user:/home/me/.claude/settings.json`, ...
    cordon_hook: Vec<String>,
}

fn agent_lines() -> Vec<AgentLine> {
    let found = crate::agents::find_installed();
    let env = crate::agents::Env::from_process();
    let project = crate::installed::project_dir(None).unwrap_or_default();
    crate::agents::ALL
        .into_iter()
        .filter_map(|a| {
            let f = found.iter().find(|f| f.agent == a);
            let hooks: Vec<String> = crate::installed::installed_scopes(a, &env, &project)
                .into_iter()
                .map(|(s, p)| format!("{}:{}", crate::installed::scope_name(s), p.display()))
                .collect();
            (f.is_some() || !hooks.is_empty()).then(|| AgentLine {
                agent: a,
                binary: f.map(|f| f.binary.clone()),
                version: f.map(|f| f.version.clone()),
                cordon_hook: hooks,
            })
        })
        .collect()
}

#[derive(Serialize)]
struct Layer {
    name: &'static str,
    ok: bool,
    detail: String,
}

pub fn run(a: Args) -> Result<ExitCode, Error> {
    let probe = Probe::full();
    let mut fixes = Vec::new();
    let userns_ok = probe.userns_error.is_none();
    if let Some(e) = &probe.userns_error {
        fixes.push(e.clone());
    }
    let ll = probe.landlock_abi;
    if ll < 1 {
        fixes.push(
            "Landlock is unavailable: use Linux 5.13+ with 'landlock' in the lsm= boot parameter"
                .into(),
        );
    } else if ll < 6 {
        fixes.push(format!(
            "Landlock ABI {ll}: signal and abstract-socket scoping need ABI 6 (Linux 6.12+)"
        ));
    }
    let will_use = if userns_ok {
        "namespaces"
    } else if ll >= 1 && probe.seccomp {
        "landlock-only"
    } else {
        "refuse"
    };
    let (aa_ok, aa_detail, aa_fix) = crate::cmd_setup::doctor_line(userns_ok);
    if let Some(f) = aa_fix {
        fixes.push(f);
    }
    let layers = vec![
        Layer {
            name: "user+mount+pid+net+ipc+uts namespaces",
            ok: userns_ok,
            detail: probe
                .userns_error
                .clone()
                .unwrap_or_else(|| "available".into()),
        },
        Layer {
            name: "apparmor userns restriction",
            ok: aa_ok,
            detail: aa_detail,
        },
        Layer {
            name: "landlock",
            ok: ll >= 1,
            detail: if ll >= 1 {
                format!(
                    "ABI {ll}{}{}",
                    if ll >= 6 {
                        ", signal + abstract unix socket scoping"
                    } else {
                        ""
                    },
                    if ll >= 9 {
                        ", named unix sockets fenced"
                    } else {
                        ", named unix sockets hidden by mounts instead"
                    }
                )
            } else {
                "unavailable".into()
            },
        },
        Layer {
            name: "seccomp",
            ok: probe.seccomp,
            detail: format!(
                "deny list of {} syscalls (+{} in the fallback: System V IPC, message queues), \
                 no set-ID modes, foreign syscall ABIs refused",
                cordon_sandbox::seccomp::denied_syscalls().len(),
                cordon_sandbox::seccomp::fallback_denied_syscalls().len()
            ),
        },
        Layer {
            name: "mount API",
            ok: probe.mount_api,
            detail: format!("kernel {}", probe.kernel),
        },
    ];
    // What the environment filter would drop right now.
    let env = cordon_pipeline::plan::parent_env();
    let (_, env_dropped) = cordon_sandbox::env::filter_env(&env, &Default::default());
    let agents = agent_lines();
    let hook_self_test = crate::selftest::reports(None);
    for r in hook_self_test.iter().filter(|r| !r.ok()) {
        fixes.push(format!(
            "the {} hook failed its self-test: run 'cordon install {} --self-test' for details",
            r.agent_name(),
            r.agent_arg()
        ));
    }
    let report = Report {
        probe,
        will_use,
        layers,
        env_dropped,
        fixes,
        agents,
        hook_self_test,
    };
    if a.json {
        let j = serde_json::to_string_pretty(&report).map_err(|e| Error::Usage(e.to_string()))?;
        outln!("{j}")?;
    } else {
        print_text(&report, will_use)?;
    }
    Ok(if will_use == "refuse" {
        ExitCode::from(CHECK_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The report for a person.
fn print_text(report: &Report, will_use: &str) -> Result<(), Error> {
    outln!(
        "cordon doctor — kernel {} ({})",
        report.probe.kernel,
        report.probe.arch
    )?;
    for l in &report.layers {
        outln!(
            "  [{}] {:<40} {}",
            if l.ok { " ok " } else { "MISS" },
            l.name,
            l.detail
        )?;
    }
    outln!(
        "  will use: {}",
        match will_use {
            "namespaces" => "full sandbox (namespaces + Landlock + seccomp)",
            "landlock-only" => {
                "fallback: Landlock + seccomp only (no private /tmp, no network, no System V IPC; secret directories' \
                 file names and sizes stay visible, not their contents; the modes of your files outside \
                 the workspace can be changed: README \"The fallback\")"
            }
            _ => "nothing: cordon run refuses to run (exit 125)",
        }
    )?;
    outln!("  agents:")?;
    if report.agents.is_empty() {
        outln!("    none found on PATH (claude, codex, gemini, cursor-agent, copilot, goose)")?;
    }
    for l in &report.agents {
        outln!(
            "    {:<20} {:<45} cordon hook: {}",
            l.agent.display(),
            match (&l.binary, &l.version) {
                (Some(b), Some(v)) => format!("{} ({v})", b.display()),
                _ => "not on PATH".into(),
            },
            if l.cordon_hook.is_empty() {
                format!("not installed (cordon install {})", l.agent.arg())
            } else {
                l.cordon_hook.join(", ")
            }
        )?;
    }
    if !report.hook_self_test.is_empty() {
        outln!("  hook self-test:")?;
        crate::selftest::print(&report.hook_self_test)?;
    }
    for f in &report.fixes {
        outln!("  fix: {f}")?;
    }
    Ok(())
}
