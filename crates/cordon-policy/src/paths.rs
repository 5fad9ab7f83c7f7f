//! Paths: resolving them against the current directory (as `cd` moves it), what `rm -r` must
//! never delete, the protected paths in the workspace, and what a write to a path decides.

use std::path::{Component, Path, PathBuf};

use crate::eval::Ev;
use crate::{hit, Decision, Hit, Word};

const SYSTEM_DIRS: &[&str] = &[
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
];

impl Ev<'_> {
    pub(crate) fn resolve(&self, p: &str) -> Option<PathBuf> {
        let path = Path::new(p);
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.cwd.as_ref()?.join(path)
        };
        Some(normalize(&abs))
    }

    /// Is this path one that `rm -r` must never delete: `/`, a system directory, the home or
    /// workspace directory, or an ancestor of them?
    pub(crate) fn critical(&self, p: &Path) -> bool {
        const SYS: &[&str] = &[
            "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc",
            "/root", "/sbin", "/srv", "/sys", "/usr", "/var", "/Users", "/System",
        ];
        SYS.iter().any(|s| p == Path::new(s))
            || self.ctx.home.starts_with(p)
            || self.ctx.workspace.starts_with(p)
    }

    /// A write by redirection: harmless sinks, the workspace and /tmp are allow; protected
    /// paths and devices are deny; anywhere else asks.
    pub(crate) fn write_check(&self, w: &Word) -> Hit {
        if !w.known || w.glob {
            return hit(
                Decision::Ask,
                "redirect-dynamic",
                format!("writes to {}, a path only known at run time", w.text),
            );
        }
        let t = w.text.as_str();
        if matches!(t, "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/tty")
            || t.starts_with("/dev/fd/")
        {
            return hit(
                Decision::Allow,
                "redirect-harmless",
                format!("writes to {t}"),
            );
        }
        let Some(p) = self.resolve(t) else {
            return hit(
                Decision::Ask,
                "redirect-dynamic",
                format!("writes to {t} relative to a directory not known statically"),
            );
        };
        if p.starts_with("/dev") {
            return hit(
                Decision::Deny,
                "redirect-device",
                format!("writes to the device {}", p.display()),
            );
        }
        if let Ok(rel) = p.strip_prefix(&self.ctx.workspace) {
            if protected(rel) {
                return hit(
                    Decision::Deny,
                    "redirect-protected",
                    format!("writes to {}, a protected path (code there runs later, outside the sandbox)", p.display()),
                );
            }
            return hit(
                Decision::Allow,
                "redirect-workspace",
                format!("writes to {} inside the workspace", p.display()),
            );
        }
        if p.starts_with("/tmp") {
            return hit(
                Decision::Allow,
                "redirect-workspace",
                format!("writes to {} in the private /tmp", p.display()),
            );
        }
        hit(
            Decision::Ask,
            "redirect-outside",
            format!("writes to {} outside the workspace", p.display()),
        )
    }
}

/// Protected paths inside the workspace (the sandbox's built-in list): writes there persist
/// past the sandbox.
fn protected(rel: &Path) -> bool {
    cordon_defaults::PROTECTED
        .iter()
        .any(|(p, kind)| match kind {
            cordon_defaults::Kind::File => rel == Path::new(p),
            cordon_defaults::Kind::Dir => rel.starts_with(p),
        })
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(x) => out.push(x),
            _ => {}
        }
    }
    out
}

/// The name rules see: the basename when the program is on a system path or has no slash,
/// else the path as written (so `./git` is not `git`).
pub(crate) fn program_name(p: &str) -> String {
    match p.rfind('/') {
        None => p.to_string(),
        Some(i) => {
            let dir = &p[..i];
            if SYSTEM_DIRS.contains(&dir) {
                p[i + 1..].to_string()
            } else {
                p.to_string()
            }
        }
    }
}
