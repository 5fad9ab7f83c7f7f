//! What loading the config costs per `cordon` start, in process, against a baseline measured in
//! the same run: loading it with no file at all (built-in defaults only), and parsing the
//! built-in command policy (which every start pays anyway).
//!
//!     cargo bench -p cordon-config --bench load
//!
//! "all layers": a system file, a user file, a trusted project whose `.cordon/` holds the config
//! and 20 other files (all hashed at each load), and a managed file; then the command policy with
//! their rules.

use std::fs;
use std::hint::black_box;
use std::path::Path;

use cordon_config::{load, Flags, LoadInput, Paths, TrustRecord, TrustStore};
use criterion::{criterion_group, criterion_main, Criterion};

fn setup(root: &Path, full: bool) -> (Paths, std::path::PathBuf) {
    let home = root.join("home");
    let ws = root.join("proj");
    let etc = root.join("etc");
    for d in [&home, &ws, &etc] {
        fs::create_dir_all(d).unwrap();
    }
    let paths = Paths {
        etc_dir: etc.clone(),
        config_dir: home.join(".config/cordon"),
        home: home.clone(),
        state_dir: home.join(".local/state/cordon"),
    };
    if full {
        fs::create_dir_all(&paths.config_dir).unwrap();
        fs::create_dir_all(ws.join(".cordon")).unwrap();
        fs::write(etc.join("config.toml"), "[limits]\nnproc = 2048\n").unwrap();
        fs::write(
            etc.join("managed.toml"),
            "[managed]\nallowed_modes = [\"read-only\", \"workspace-write\"]\nallow_network_full = false\n\
             never_allow_domains = [\"*.pastebin.com\"]\n\n[[policy.rule]]\ndecision = \"deny\"\n\
             command = [\"terraform\", \"apply\"]\nreason = \"infrastructure changes go through CI\"\n",
        )
        .unwrap();
        fs::write(
            paths.user_file(),
            "approval = \"on-request\"\n[network]\nallow = [\"registry.npmjs.org\", \"*.github.com\"]\n[env]\npass = [\"CARGO_HOME\"]\n",
        )
        .unwrap();
        fs::write(
            ws.join(".cordon/config.toml"),
            "[filesystem]\nprotected = [\"deploy/\"]\n[[policy.rule]]\ndecision = \"allow\"\n\
             command = [\"make\", { any = [\"test\", \"check\"] }]\nreason = \"the project's own checks\"\nexamples = [\"make test\"]\n",
        )
        .unwrap();
        for i in 0..20 {
            fs::write(
                ws.join(format!(".cordon/note{i}.md")),
                format!("# note {i}\n"),
            )
            .unwrap();
        }
        let snap = cordon_config::snapshot(&ws).unwrap().unwrap();
        let mut store = TrustStore::load(&paths.config_dir).unwrap();
        store.set(TrustRecord {
            path: ws.clone(),
            hash: snap.hash,
            trusted_at: 0,
        });
        store.save().unwrap();
    }
    (paths, ws)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let none = |_: &str| None;
    let flags = Flags::default();
    let mut g = c.benchmark_group("config");
    for (name, full) in [("no files", false), ("all layers", true)] {
        let (paths, ws) = setup(&dir.path().join(name.replace(' ', "-")), full);
        let cfg = load(&LoadInput {
            paths: &paths,
            workspace: &ws,
            var: &none,
            flags: &flags,
        })
        .unwrap();
        if full {
            assert_eq!(cfg.project.state, cordon_config::TrustState::Trusted);
            assert_eq!(cfg.files.len(), 4);
        }
        g.bench_function(format!("load, {name}"), |b| {
            b.iter(|| {
                black_box(
                    load(&LoadInput {
                        paths: &paths,
                        workspace: &ws,
                        var: &none,
                        flags: &flags,
                    })
                    .unwrap(),
                )
            })
        });
        g.bench_function(format!("load + policy, {name}"), |b| {
            b.iter(|| {
                let mut cfg = load(&LoadInput {
                    paths: &paths,
                    workspace: &ws,
                    var: &none,
                    flags: &flags,
                })
                .unwrap();
                black_box(cfg.load_policy().unwrap())
            })
        });
    }
    g.bench_function("baseline: built-in policy only", |b| {
        b.iter(|| black_box(cordon_policy::Policy::builtin()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
