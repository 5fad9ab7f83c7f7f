//! Running without namespaces (the fallback: Landlock + seccomp only), beside the decision to
//! fall back (`spec::build` picks the isolation; `exec::run` falls back when namespaces fail at
//! run time): when cordon refuses to run at all, and what it says when it runs so.

use crate::spec::{Isolation, Network, SandboxSpec};
use crate::Probe;

/// Why `spec` must not run here, if it must not (fail closed: without namespaces Landlock is the
/// only file-system fence, and seccomp the only network one). The message names the fix.
pub fn refusal(spec: &SandboxSpec, probe: &Probe) -> Option<String> {
    let Isolation::LandlockOnly { reason } = &spec.isolation else {
        return None;
    };
    if let Network::Proxy { .. } = spec.network {
        return Some(format!(
            "cannot sandbox: {reason}, and without a network namespace --allow-domain cannot be enforced \
             (the proxy would be reachable only through a socket the command could also use to go anywhere). \
             Enable user namespaces ('cordon doctor'), or drop --allow-domain"
        ));
    }
    if probe.landlock_abi < 1 {
        return Some(format!(
            "cannot sandbox: {reason}, and Landlock is unavailable (kernel {}, or 'landlock' missing from the lsm= boot parameter); \
             refusing to run unconfined. Fix one of the two, or pass --mode danger-full-access to run without a sandbox",
            probe.kernel
        ));
    }
    if !probe.seccomp {
        return Some(
            "cannot sandbox: seccomp is unavailable in this kernel; refusing to run".into(),
        );
    }
    None
}

/// What cordon says when a run goes without namespaces, because `reason`.
pub fn notice(reason: &str) -> String {
    format!(
        "{reason}: running with Landlock + seccomp only (no private /tmp, no network at all, \
         new entries cannot be created in directories that hold protected or secret paths, \
         secret directories' file names and sizes stay visible, their contents do not); see 'cordon doctor'"
    )
}
