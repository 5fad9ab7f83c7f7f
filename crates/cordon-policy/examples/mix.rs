//! The benchmark's mix, decided N times (default 20) in one process, for instruction counts
//! that do not depend on the machine's load (`perf stat -e instructions:u` or
//! `valgrind --tool=callgrind`), before and after a change:
//!
//!     cargo build --release -p cordon-policy --example mix
//!     perf stat -e instructions:u target/release/examples/mix 20
//!     target/release/examples/mix 20 parse   # the same inputs, tree-sitter parsing only
//!     target/release/examples/mix 20 short   # one class (short, pipeline, heredoc; -parse)
use std::hint::black_box;
use std::path::PathBuf;

#[path = "../benches/common/mix.rs"]
mod mix;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let what = args.next().unwrap_or_default();
    let parse_only = what.contains("parse");
    let policy = cordon_policy::Policy::builtin();
    let ctx = cordon_policy::Context {
        cwd: PathBuf::from("/work/project"),
        workspace: PathBuf::from("/work/project"),
        home: PathBuf::from("/home/user"),
    };
    let all = mix::mix();
    let inputs = match what.trim_end_matches("parse").trim_end_matches('-') {
        "short" => &all[..80],
        "pipeline" => &all[80..95],
        "heredoc" => &all[95..],
        _ => &all[..],
    };
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_bash::LANGUAGE.into())
        .expect("the bash grammar loads");
    for _ in 0..n {
        for s in inputs {
            if parse_only {
                black_box(parser.parse(black_box(s), None));
            } else {
                black_box(policy.check_shell(black_box(s), &ctx));
            }
        }
    }
}
