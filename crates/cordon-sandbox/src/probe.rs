//! What this kernel supports. `quick` is cheap enough for every run (a few sysctl reads);
//! `full` (for `cordon doctor`) also tries a user namespace for real.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub kernel: String,
    pub arch: &'static str,
    /// Why user namespaces cannot be used, if they cannot.
    pub userns_error: Option<String>,
    /// Landlock ABI version (0: unavailable).
    pub landlock_abi: i32,
    pub seccomp: bool,
    /// The new mount API (open_tree, move_mount, mount_setattr: Linux 5.12).
    pub mount_api: bool,
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn kernel_version() -> (String, (u32, u32)) {
    let rel = read_trim("/proc/sys/kernel/osrelease").unwrap_or_default();
    let v = crate::sys::release_version(&rel);
    (rel, v)
}

impl Probe {
    pub fn quick() -> Probe {
        let (kernel, v) = kernel_version();
        let mut userns_error = None;
        if read_trim("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0")
            && crate::sys::fs::euid() != 0
        {
            userns_error = Some(
                "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0); enable with 'sysctl -w kernel.unprivileged_userns_clone=1'".into(),
            );
        }
        if read_trim("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
            userns_error =
                Some("user namespaces are disabled (user.max_user_namespaces=0); enable with 'sysctl -w user.max_user_namespaces=15000'".into());
        }
        if read_trim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref()
            == Some("1")
            && crate::sys::fs::euid() != 0
        {
            userns_error = Some(
                "unprivileged user namespaces are restricted by AppArmor (kernel.apparmor_restrict_unprivileged_userns=1); allow cordon with an AppArmor profile granting 'userns', or 'sysctl -w kernel.apparmor_restrict_unprivileged_userns=0'".into(),
            );
        }
        let mount_api = v >= (5, 12);
        if userns_error.is_none() && !mount_api {
            userns_error = Some(format!(
                "kernel {kernel} lacks the mount API cordon's namespaces need (Linux 5.12+)"
            ));
        }
        let seccomp = crate::sys::process::seccomp_available();
        Probe {
            kernel,
            arch: std::env::consts::ARCH,
            userns_error,
            // CORDON_ASSUME_NO_LANDLOCK=1 (for tests of the refusal path) can only make cordon
            // stricter: it refuses where it would have run.
            landlock_abi: if std::env::var_os("CORDON_ASSUME_NO_LANDLOCK").is_some() {
                0
            } else {
                crate::fence::kernel_abi()
            },
            seccomp,
            mount_api,
        }
    }

    /// `quick`, plus a real attempt at a user namespace in a child process.
    pub fn full() -> Probe {
        let mut p = Probe::quick();
        if p.userns_error.is_none() {
            if let Err(e) = try_userns() {
                p.userns_error = Some(format!("creating a user namespace failed: {e}"));
            }
        }
        p
    }
}

fn try_userns() -> std::io::Result<()> {
    crate::sys::process::try_userns()
}
