//! Fuzz the parser and evaluator: any input must give a decision, never a panic or a hang.
#![no_main]

use std::path::PathBuf;

use cordon_policy::{Context, Decision, Policy};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static POLICY: Policy = Policy::builtin();
}

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    let ctx = Context {
        cwd: PathBuf::from("/work/project/src"),
        workspace: PathBuf::from("/work/project"),
        home: PathBuf::from("/home/user"),
    };
    POLICY.with(|p| {
        let ev = p.check_shell(&src, &ctx);
        // Invariant: the overall decision is the strictest of the parts.
        let worst = ev
            .commands
            .iter()
            .map(|c| c.decision)
            .chain(ev.findings.iter().map(|f| f.decision))
            .max()
            .unwrap_or(Decision::Allow);
        assert_eq!(ev.decision, worst);
        let _ = ev.summary();
        // The same bytes as an argv (split on NUL), as `cordon run -- argv` would give.
        let argv: Vec<String> = src.split('\0').map(str::to_string).collect();
        let _ = p.check_argv(&argv, &ctx);
    });
});
