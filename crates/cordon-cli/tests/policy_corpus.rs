//! The policy corpus (tests/policy-corpus.txt): every command with its expected decision.
//! Bypass attempts are marked `!allow`: they must never be allow.

use std::path::PathBuf;

use cordon_policy::{Context, Decision, Policy};

struct Case {
    line: usize,
    expect: String,
    cmd: String,
}

fn corpus() -> Vec<Case> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/policy-corpus.txt");
    let text = std::fs::read_to_string(&path).expect("tests/policy-corpus.txt is readable");
    let mut cases: Vec<Case> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if let Some(more) = l.strip_prefix(">>") {
            let last = cases.last_mut().expect("a >> line continues a command");
            last.cmd.push('\n');
            last.cmd.push_str(more);
            continue;
        }
        if l.trim().is_empty() || l.starts_with('#') {
            continue;
        }
        let (expect, cmd) = l.split_once('\t').expect("EXPECTED<TAB>command");
        cases.push(Case {
            line: i + 1,
            expect: expect.to_string(),
            cmd: cmd.to_string(),
        });
    }
    cases
}

fn ctx() -> Context {
    Context {
        cwd: PathBuf::from("/work/project"),
        workspace: PathBuf::from("/work/project"),
        home: PathBuf::from("/home/user"),
    }
}

#[test]
fn corpus_decisions() {
    let policy = Policy::builtin();
    let cases = corpus();
    assert!(
        cases.len() >= 200,
        "the corpus has {} commands, expected at least 200",
        cases.len()
    );
    let mut failures = Vec::new();
    for c in &cases {
        let ev = policy.check_shell(&c.cmd, &ctx());
        let ok = match c.expect.as_str() {
            "allow" => ev.decision == Decision::Allow,
            "ask" => ev.decision == Decision::Ask,
            "deny" => ev.decision == Decision::Deny,
            "!allow" => ev.decision != Decision::Allow,
            other => panic!("line {}: unknown expectation {other:?}", c.line),
        };
        if !ok {
            failures.push(format!(
                "line {}: expected {}, got {} for {:?}\n{}",
                c.line,
                c.expect,
                ev.decision.as_str(),
                c.cmd,
                ev.summary()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The same commands handed over as `bash -lc CMD` (what agents do) decide the same way,
/// except that nothing can become allow that was not.
#[test]
fn corpus_through_bash_lc_argv() {
    let policy = Policy::builtin();
    for c in corpus() {
        let direct = policy.check_shell(&c.cmd, &ctx()).decision;
        let argv = vec!["bash".to_string(), "-lc".to_string(), c.cmd.clone()];
        let wrapped = policy.check_argv(&argv, &ctx()).decision;
        assert_eq!(
            direct, wrapped,
            "line {}: {:?} direct {direct:?}, via bash -lc {wrapped:?}",
            c.line, c.cmd
        );
    }
}
