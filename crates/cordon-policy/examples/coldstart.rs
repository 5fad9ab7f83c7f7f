//! Cold-start cost of the policy in one process (what `cordon run` pays before it starts the
//! sandbox): loading the built-in rules, then the first decision (tree-sitter parser set-up).
//!
//!     cargo run --release -p cordon-policy --example coldstart
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let t0 = Instant::now();
    let p = cordon_policy::Policy::builtin();
    let t1 = Instant::now();
    let ctx = cordon_policy::Context {
        cwd: PathBuf::from("/work/project"),
        workspace: PathBuf::from("/work/project"),
        home: PathBuf::from("/home/user"),
    };
    let ev = p.check_argv(&["true".to_string()], &ctx);
    let t2 = Instant::now();
    let _ = p.check_argv(&["ls".to_string(), "-la".to_string()], &ctx);
    let t3 = Instant::now();
    println!(
        "builtin rules: {:?}; first decision: {:?}; second: {:?} ({:?})",
        t1 - t0,
        t2 - t1,
        t3 - t2,
        ev.decision
    );
}
