//! Where cordon keeps per-user runtime state (locks, the record of live runs).

use std::path::{Path, PathBuf};

/// The per-user directory for cordon's runtime state, outside every sandbox (the sandbox gets a
/// private /tmp and empty /run/user).
pub fn runtime_dir() -> PathBuf {
    let uid = crate::sys::fs::uid();
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d).join("cordon"),
        _ => PathBuf::from(format!("/tmp/cordon-{uid}")),
    }
}
