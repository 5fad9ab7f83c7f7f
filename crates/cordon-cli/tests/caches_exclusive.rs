//! An upper layer is never in two overlay mounts at once (README "Tool caches"): after a run,
//! the sandbox's init takes its overlays down before it lets the next run of the workspace mount
//! them again (crates/cordon-sandbox/src/caches/mount.rs, `teardown`). overlayfs itself says when
//! that is broken: mounting an upper or work directory another live overlay still uses logs
//! "upperdir is in-use ... undefined behavior" in the kernel log. Twelve runs of one workspace
//! back to back, each writing to every known cache, must add no such line.
//!
//! Reading the kernel log needs CAP_SYSLOG (root, as in CI): skipped, said on stderr, where it
//! cannot be read. Alone in its test binary, so that no other test's mounts can log the line
//! while this one watches. The fallback has no overlays (nothing to check).

mod harness;

use std::process::Command;

use harness::{code, text, Case, CACHE_DIRS};

/// The kernel log's "in use" lines of overlayfs since `since` (seconds since boot), and the
/// time of its last line; None when the log cannot be read.
fn in_use_since(since: f64) -> Option<(Vec<String>, f64)> {
    let o = Command::new("dmesg").output().ok()?;
    if !o.status.success() {
        return None;
    }
    let mut last = 0.0f64;
    let mut hits = Vec::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let Some(t) = line
            .strip_prefix('[')
            .and_then(|l| l.split_once(']'))
            .and_then(|(t, _)| t.trim().parse::<f64>().ok())
        else {
            continue;
        };
        last = last.max(t);
        if t > since && line.contains("overlayfs") && line.contains("in-use") {
            hits.push(line.to_string());
        }
    }
    Some((hits, last))
}

fn one_mount_per_layer(c: &Case) {
    if c.fallback {
        return;
    }
    let Some((_, start)) = in_use_since(f64::MAX) else {
        eprintln!(
            "[{}] skipped: the kernel log cannot be read here (dmesg needs CAP_SYSLOG)",
            c.label()
        );
        return;
    };
    for d in CACHE_DIRS {
        c.write(&format!("{d}/f"), "host\n");
    }
    c.chown_all();
    let script: String = CACHE_DIRS
        .iter()
        .map(|d| format!("echo x >> $HOME/{d}/f; "))
        .collect::<String>()
        + "true";
    for i in 0..12 {
        let o = c.sh(&script);
        let t = text(&o);
        assert_eq!(code(&o), 0, "[{}] run {i}: {t}", c.label());
        assert!(!t.contains("cordon: cache"), "[{}] run {i}: {t}", c.label());
    }
    // The last run's overlays are gone once its init has let the lock go; the line would have
    // been logged by a later mount, of which there is none: one more run mounts them again.
    let o = c.sh("true");
    assert_eq!(code(&o), 0, "[{}] {}", c.label(), text(&o));
    let (hits, _) = in_use_since(start).expect("the kernel log was readable a moment ago");
    assert!(
        hits.is_empty(),
        "[{}] an upper layer was mounted while another overlay still used it:\n{}",
        c.label(),
        hits.join("\n")
    );
    for d in CACHE_DIRS {
        assert_eq!(
            std::fs::read_to_string(c.home.join(d).join("f")).unwrap(),
            "host\n",
            "[{}] {d}",
            c.label()
        );
    }
}

variants!(one_mount_per_layer);
