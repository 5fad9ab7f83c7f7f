//! `cordon setup` (root, once): on AppArmor systems that restrict unprivileged user namespaces
//! (Ubuntu 23.10+: `kernel.apparmor_restrict_unprivileged_userns = 1`), install and load an
//! AppArmor profile that grants cordon's binary `userns`, as Ubuntu does for bubblewrap and the
//! browsers. Without it cordon runs in its fallback (Landlock + seccomp only). `--undo` unloads
//! and removes it.
//!
//! The profile is `flags=(unconfined)` with the one `userns` rule: it changes nothing else about
//! cordon's own process (cordon confines what it runs by itself), and programs cordon executes
//! do not inherit it.

use cordon_pipeline::Error;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[derive(clap::Args)]
pub struct Args {
    /// Unload and remove the profile.
    #[arg(long)]
    pub undo: bool,
    /// Print the profile and where it would go; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The cordon binary to grant (default: this one). It must be writable by root only.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

/// The profile's name (and file name under /etc/apparmor.d).
pub const PROFILE: &str = "cordon";
/// The sysctl that restricts unprivileged user namespaces.
pub const RESTRICT_SYSCTL: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";

/// Debug builds (the tests) may move the profile directory, the parser and the "AppArmor is
/// enabled" answer; release builds never read these variables.
fn debug_var(name: &str) -> Option<String> {
    if cfg!(debug_assertions) {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    } else {
        None
    }
}

pub fn profile_dir() -> PathBuf {
    debug_var("CORDON_APPARMOR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/apparmor.d"))
}

/// Whether the kernel has AppArmor enabled.
pub fn apparmor_enabled() -> bool {
    if let Some(v) = debug_var("CORDON_APPARMOR_ENABLED") {
        return v == "1";
    }
    fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

/// `Some(true)` when AppArmor restricts unprivileged user namespaces on this machine.
pub fn userns_restricted() -> Option<bool> {
    fs::read_to_string(RESTRICT_SYSCTL)
        .ok()
        .map(|s| s.trim() == "1")
}

/// Whether a profile named `cordon` is loaded in the kernel.
pub fn profile_loaded() -> bool {
    fs::read_to_string("/sys/kernel/security/apparmor/profiles").is_ok_and(|s| {
        s.lines()
            .any(|l| l.split_whitespace().next() == Some(PROFILE))
    })
}

/// The profile text for `binary`.
pub fn profile_text(binary: &Path) -> String {
    let b = binary.to_string_lossy();
    let attach = if b.bytes().any(|c| c.is_ascii_whitespace() || c == b'"') {
        format!("\"{}\"", b.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        b.into_owned()
    };
    format!(
        "# Installed by `cordon setup` (cordon {ver}); removed by `cordon setup --undo`.\n\
         # Grants cordon's binary unprivileged user namespaces, which\n\
         # kernel.apparmor_restrict_unprivileged_userns=1 denies by default (Ubuntu 23.10+), as\n\
         # Ubuntu's own profiles do for bubblewrap and the browsers. Otherwise unconfined: cordon\n\
         # confines what it runs itself (namespaces, Landlock, seccomp).\n\
         abi <abi/4.0>,\n\
         include <tunables/global>\n\
         \n\
         profile {PROFILE} {attach} flags=(unconfined) {{\n\
         \x20 userns,\n\
         \n\
         \x20 # Site-specific additions and overrides.\n\
         \x20 include if exists <local/{PROFILE}>\n\
         }}\n",
        ver = env!("CARGO_PKG_VERSION"),
    )
}

/// The parser command: `apparmor_parser`, or the tests' own.
fn parser() -> Vec<String> {
    debug_var("CORDON_APPARMOR_PARSER")
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_else(|| vec!["apparmor_parser".into()])
}

fn run_parser(args: &[&str], file: &Path) -> Result<(), String> {
    let p = parser();
    let out = Command::new(&p[0])
        .args(&p[1..])
        .args(args)
        .arg(file)
        .output()
        .map_err(|e| {
            format!(
                "cannot run {}: {e}; install AppArmor's tools (apt-get install apparmor)",
                p[0]
            )
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {} {} failed: {}",
            p[0],
            args.join(" "),
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Why `bin` must not be granted: it (or a directory above it) can be changed by a user other
/// than root, who could then put any program there and get user namespaces.
fn writable_by_others(bin: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let mut p = Some(bin);
    while let Some(x) = p {
        if let Ok(m) = fs::metadata(x) {
            let sticky_dir = m.is_dir() && m.mode() & 0o1000 != 0;
            if m.uid() != 0 || (m.mode() & 0o022 != 0 && !sticky_dir) {
                return Some(x.display().to_string());
            }
        }
        p = x.parent();
    }
    None
}

pub fn run(a: Args) -> Result<ExitCode, Error> {
    let bin = match a.binary.clone() {
        Some(b) => match fs::canonicalize(&b) {
            Ok(b) => b,
            Err(e) => return Err(Error::failed(format!("--binary {}: {e}", b.display()))),
        },
        None => match crate::installed::self_binary() {
            Ok(b) => b,
            Err(e) => return Err(Error::failed(e)),
        },
    };
    let file = profile_dir().join(PROFILE);
    if a.dry_run {
        outln!("# {}", file.display())?;
        out!("{}", profile_text(&bin))?;
        return Ok(ExitCode::SUCCESS);
    }
    let root = cordon_sandbox::host::euid() == 0;
    if !root && debug_var("CORDON_APPARMOR_DIR").is_none() {
        return Err(Error::failed(format!(
            "cordon setup {}the AppArmor profile in {}: run it as root (sudo cordon setup{})",
            if a.undo {
                "--undo removes "
            } else {
                "installs "
            },
            profile_dir().display(),
            if a.undo { " --undo" } else { "" }
        )));
    }
    if a.undo {
        if !file.exists() {
            outln!("cordon: no profile at {}: nothing to undo", file.display())?;
            return Ok(ExitCode::SUCCESS);
        }
        if apparmor_enabled() {
            if let Err(e) = run_parser(&["-R"], &file) {
                errln!("cordon: {e} (the profile may not have been loaded); removing the file");
            }
        }
        if let Err(e) = fs::remove_file(&file) {
            return Err(Error::failed(format!(
                "cannot remove {}: {e}",
                file.display()
            )));
        }
        outln!(
            "cordon: AppArmor profile removed ({}); cordon now runs in its fallback where \
             user namespaces are restricted",
            file.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if !apparmor_enabled() {
        outln!(
            "cordon: AppArmor is not active on this kernel, so it does not restrict user \
             namespaces here: nothing to do (cordon doctor shows what cordon will use)"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(w) = writable_by_others(&bin) {
        return Err(Error::failed(format!(
            "{} can be changed by a user other than root ({w}): granting it user namespaces \
             would grant them to any program put there; install cordon where only root can \
             write (e.g. sudo install -m 755 {} /usr/local/bin/cordon) and run \
             'sudo /usr/local/bin/cordon setup', or name it with --binary",
            bin.display(),
            bin.display()
        )));
    }
    let text = profile_text(&bin);
    let previous = fs::read_to_string(&file).ok();
    if let Err(e) = write_profile(&file, &text) {
        return Err(Error::failed(format!(
            "cannot write {}: {e}",
            file.display()
        )));
    }
    if let Err(e) = run_parser(&["-r"], &file) {
        // Leave the machine as it was: the previous profile, or none.
        match &previous {
            Some(p) => {
                let _ = write_profile(&file, p);
            }
            None => {
                let _ = fs::remove_file(&file);
            }
        }
        return Err(Error::failed(format!("{e}; the profile was not installed")));
    }
    outln!(
        "cordon: AppArmor profile `{PROFILE}` installed in {} and loaded: {} may create user \
         namespaces (undo: sudo cordon setup --undo)",
        file.display(),
        bin.display()
    )?;
    if userns_restricted() == Some(true)
        && !profile_loaded()
        && debug_var("CORDON_APPARMOR_DIR").is_none()
    {
        outln!("  but the kernel does not list it yet: check `sudo aa-status | grep {PROFILE}`")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the profile atomically (a dot-file in the same directory, which AppArmor's loaders
/// skip, then rename), mode 0644, no backup file (AppArmor would load it as a second profile).
fn write_profile(file: &Path, text: &str) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{PROFILE}.cordon-tmp.{}", std::process::id()));
    let r = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, file)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

/// For `cordon doctor`: the state, and the fix when user namespaces are restricted.
pub fn doctor_line(userns_ok: bool) -> (bool, String, Option<String>) {
    match userns_restricted() {
        None => (
            true,
            "no AppArmor user-namespace restriction on this kernel".into(),
            None,
        ),
        Some(false) => (
            true,
            "kernel.apparmor_restrict_unprivileged_userns = 0".into(),
            None,
        ),
        Some(true) if profile_loaded() => (
            true,
            format!("restricted, and the `{PROFILE}` profile grants cordon user namespaces"),
            None,
        ),
        Some(true) => (
            userns_ok,
            "kernel.apparmor_restrict_unprivileged_userns = 1 and no `cordon` profile".into(),
            Some(
                "user namespaces are restricted by AppArmor: run 'sudo cordon setup' once (it \
                 loads a profile granting cordon's binary userns; 'sudo cordon setup --undo' \
                 removes it)"
                    .into(),
            ),
        ),
    }
}
