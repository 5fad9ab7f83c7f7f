//! Decisions per second for a realistic mix, against a baseline measured in the same run:
//! parsing the same inputs with tree-sitter-bash alone (the floor any real-grammar policy pays).
//!
//!     cargo bench -p cordon-policy --bench policy
//!
//! The mix (per 100 decisions): 80 short commands, 15 pipelines/lists of 6-12 stages with
//! substitutions and wrappers, 5 here-docs of ~4 KiB.

use std::hint::black_box;
use std::path::PathBuf;

use cordon_policy::{Context, Policy};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "common/mix.rs"]
mod mix;
use mix::mix;

fn bench(c: &mut Criterion) {
    let policy = Policy::builtin();
    let ctx = Context {
        cwd: PathBuf::from("/work/project"),
        workspace: PathBuf::from("/work/project"),
        home: PathBuf::from("/home/user"),
    };
    let mix = mix();
    let mut g = c.benchmark_group("policy");
    g.throughput(Throughput::Elements(mix.len() as u64));
    g.bench_function("baseline: tree-sitter parse only", |b| {
        let mut parser = tree_sitter::Parser::new();
        parser
            .set_language(&tree_sitter_bash::LANGUAGE.into())
            .unwrap();
        b.iter(|| {
            for s in &mix {
                black_box(parser.parse(black_box(s), None));
            }
        })
    });
    g.bench_function("check_shell: the mix", |b| {
        b.iter(|| {
            for s in &mix {
                black_box(policy.check_shell(black_box(s), &ctx));
            }
        })
    });
    g.finish();
    // Per class, each against its own parse-only baseline: where the time goes.
    let classes: [(&str, Vec<String>); 3] = [
        ("short", mix[..80].to_vec()),
        ("pipeline", mix[80..95].to_vec()),
        ("heredoc", mix[95..].to_vec()),
    ];
    for (name, inputs) in classes {
        let mut g = c.benchmark_group(format!("class/{name}"));
        g.throughput(Throughput::Elements(inputs.len() as u64));
        g.bench_function("baseline: parse only", |b| {
            let mut parser = tree_sitter::Parser::new();
            parser
                .set_language(&tree_sitter_bash::LANGUAGE.into())
                .unwrap();
            b.iter(|| {
                for s in &inputs {
                    black_box(parser.parse(black_box(s), None));
                }
            })
        });
        g.bench_function("check_shell", |b| {
            b.iter(|| {
                for s in &inputs {
                    black_box(policy.check_shell(black_box(s), &ctx));
                }
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
