//! `cordon doctor`: what this kernel supports, what cordon will use, what is missing and how to
//! fix it.

use std::process::ExitCode;

use cordon_pipeline::Error;
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
                "deny list of {} syscalls, foreign syscall ABIs refused",
                cordon_sandbox::seccomp::denied_syscalls().len()
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
    let report = Report {
        probe,
        will_use,
        layers,
        env_dropped,
        fixes,
    };
    if a.json {
        let j = serde_json::to_string_pretty(&report).map_err(|e| Error::Usage(e.to_string()))?;
        println!("{j}");
    } else {
        println!(
            "cordon doctor — kernel {} ({})",
            report.probe.kernel, report.probe.arch
        );
        for l in &report.layers {
            println!(
                "  [{}] {:<40} {}",
                if l.ok { " ok " } else { "MISS" },
                l.name,
                l.detail
            );
        }
        println!(
            "  will use: {}",
            match will_use {
                "namespaces" => "full sandbox (namespaces + Landlock + seccomp)",
                "landlock-only" =>
                    "fallback: Landlock + seccomp only (no private /tmp, no network)",
                _ => "nothing: cordon run refuses to run (exit 125)",
            }
        );
        for f in &report.fixes {
            println!("  fix: {f}");
        }
    }
    Ok(if will_use == "refuse" {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
