//! The workspace index (index.rs, guard.rs): what it costs per run, against the floor of walking
//! the same tree in the same run.
//!
//! `cargo bench -p cordon-sandbox --bench workspace_index [-- RUNS] [TREE...]`
//!
//! For each tree (default: a small generated repository, and a ~40k-entry node_modules: the
//! machine's /tmp/nmtest/node_modules if it exists, else one generated with the same shape):
//! - floor, full: open + getdents of every directory (what any full walk pays);
//! - floor, incremental: one statx per directory from its parent's descriptor, plus an O_PATH
//!   open of each directory that has subdirectories (what any ctime check pays);
//! - index, first run: `index::walk` with no index (reads everything);
//! - index, later run: `index::walk` against the previous index, nothing changed (one pass; a run
//!   makes two: before and after);
//! - scan before a run: `scan::scan` with its state directory (load, walk, save if changed,
//!   derive secrets/protected/pins) on an unchanged tree;
//! - check after a run: `neutralise::begin` (the run file with the snapshot) and
//!   `neutralise::after` (the walk again, what it inspects, the save when something changed).
//!
//! Medians of RUNS (default 30), and each as a ratio of the floor measured in the same run.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cordon_sandbox::{guard, handles, index, scan};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm the caches
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

/// open + getdents of every directory; returns (directories, entries).
fn floor_full(root: &Path) -> (u64, u64) {
    fn walk(fd: &std::os::fd::OwnedFd, dirs: &mut u64, entries: &mut u64) {
        let mut budget = u64::MAX;
        let Ok(es) = handles::read_dir(fd.as_fd(), &mut budget) else {
            return;
        };
        *dirs += 1;
        *entries += es.len() as u64;
        for e in es {
            if e.dtype == libc::DT_DIR {
                if let Ok(c) =
                    handles::open_entry(fd.as_fd(), &e.name, libc::O_RDONLY | libc::O_DIRECTORY)
                {
                    walk(&c, dirs, entries);
                }
            }
        }
    }
    let (mut d, mut e) = (0, 0);
    if let Ok(fd) = handles::open_no_symlinks(root, libc::O_RDONLY | libc::O_DIRECTORY) {
        walk(&fd, &mut d, &mut e);
    }
    (d, e)
}

/// The directory tree as (name, children) for the incremental floor.
struct Node {
    name: Vec<u8>,
    kids: Vec<Node>,
}

fn shape(root: &Path) -> Node {
    fn walk(fd: &std::os::fd::OwnedFd, name: Vec<u8>) -> Node {
        let mut budget = u64::MAX;
        let mut kids = Vec::new();
        if let Ok(es) = handles::read_dir(fd.as_fd(), &mut budget) {
            for e in es {
                if e.dtype == libc::DT_DIR {
                    if let Ok(c) =
                        handles::open_entry(fd.as_fd(), &e.name, libc::O_RDONLY | libc::O_DIRECTORY)
                    {
                        kids.push(walk(&c, e.name));
                    }
                }
            }
        }
        Node { name, kids }
    }
    let fd = handles::open_no_symlinks(root, libc::O_RDONLY | libc::O_DIRECTORY).unwrap();
    walk(&fd, Vec::new())
}

/// statx of every directory from its parent, O_PATH open of those with subdirectories.
fn floor_incremental(root: &Path, tree: &Node) -> u64 {
    fn walk(fd: std::os::fd::BorrowedFd<'_>, n: &Node, count: &mut u64) {
        for k in &n.kids {
            if handles::statx_at(fd, &k.name, false).is_ok() {
                *count += 1;
            }
            if !k.kids.is_empty() {
                if let Ok(c) = handles::open_entry(fd, &k.name, libc::O_PATH | libc::O_DIRECTORY) {
                    walk(c.as_fd(), k, count);
                }
            }
        }
    }
    let fd = handles::open_no_symlinks(root, libc::O_PATH | libc::O_DIRECTORY).unwrap();
    let mut count = 1;
    walk(fd.as_fd(), tree, &mut count);
    count
}

/// A small repository: 30 directories, ~300 files, a .git with its hooks.
fn small_repo(base: &Path) -> PathBuf {
    let r = base.join("small");
    let _ = std::fs::remove_dir_all(&r);
    std::fs::create_dir_all(&r).unwrap();
    let ok = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&r)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        std::fs::create_dir_all(r.join(".git/hooks")).unwrap();
    }
    for d in 0..30 {
        let dir = r.join(format!("src/m{}/sub{}", d % 6, d));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..10 {
            std::fs::write(dir.join(format!("f{f}.rs")), "x").unwrap();
        }
    }
    r
}

/// A node_modules-like tree: 800 packages, ~4,600 directories, ~40k entries.
fn synthetic_node_modules(base: &Path) -> PathBuf {
    let r = base.join("nm");
    if r.join("node_modules/.done").exists() {
        return r;
    }
    let _ = std::fs::remove_dir_all(&r);
    for p in 0..800 {
        let pkg = r.join(format!("node_modules/pkg{p}"));
        for d in ["", "lib", "lib/util", "dist", "test"] {
            let dir = pkg.join(d);
            std::fs::create_dir_all(&dir).unwrap();
            for f in 0..8 {
                std::fs::write(dir.join(format!("f{f}.js")), "").unwrap();
            }
        }
        std::fs::write(pkg.join("package.json"), "{}").unwrap();
    }
    std::fs::write(r.join("node_modules/.done"), "").unwrap();
    r
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runs: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(30);
    let base = std::env::temp_dir().join(format!("cordon-index-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base).unwrap();
    let mut trees: Vec<(String, PathBuf)> = args
        .iter()
        .filter(|a| a.parse::<usize>().is_err())
        .map(|a| (a.clone(), std::fs::canonicalize(a).unwrap()))
        .collect();
    if trees.is_empty() {
        trees.push(("small repository".into(), small_repo(&base)));
        let nm = Path::new("/tmp/nmtest");
        if nm.join("node_modules").is_dir() {
            trees.push((
                "/tmp/nmtest (node_modules)".into(),
                std::fs::canonicalize(nm).unwrap(),
            ));
        } else {
            trees.push((
                "synthetic node_modules".into(),
                synthetic_node_modules(&std::env::temp_dir().join("cordon-index-bench-nm")),
            ));
        }
    }
    let env: Vec<(String, String)> = vec![("HOME".into(), base.display().to_string())];
    println!("runs: {runs} (medians)");
    for (name, root) in &trees {
        bench_tree(name, root, runs, &base, &env);
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// Measures one tree and prints its lines.
fn bench_tree(name: &str, root: &Path, runs: usize, base: &Path, env: &[(String, String)]) {
    let roots = vec![root.to_path_buf()];
    let (dirs, entries) = floor_full(root);
    let node = shape(root);
    let full_floor = time(runs, || {
        floor_full(root);
    });
    let inc_floor = time(runs, || {
        floor_incremental(root, &node);
    });
    let first = time(runs, || {
        let _ = index::walk(None, &roots, &[], u64::MAX);
    });
    let Ok((mut idx, _)) = index::walk(None, &roots, &[], u64::MAX) else {
        panic!("walk")
    };
    // As the next run finds it: recorded long enough ago to be stable.
    for t in &mut idx.trees {
        for d in &mut t.dirs {
            d.stable = true;
        }
    }
    let later = time(runs, || {
        let _ = index::walk(Some(&idx), &roots, &[], u64::MAX);
    });
    let codec = time(runs, || {
        let b = index::encode(&idx);
        let _ = index::decode(&b);
    });
    let state = base.join(format!("state-{}", name.len()));
    let scan = |_: ()| {
        scan::scan(&guard::ScanInput {
            roots: &roots,
            writable: true,
            state_dir: Some(&state),
            skip: &[],
            limit: u64::MAX,
            env,
            remove_protected: &[],
        })
        .map(|s| s.guard)
    };
    let _ = scan(());
    std::thread::sleep(Duration::from_millis(200)); // past the racy window
    let _ = scan(());
    let pre = time(runs, || {
        let _ = scan(());
    });
    let g = scan(()).ok().flatten();
    let post = time(runs, || {
        if let Some(g) = &g {
            let _ = cordon_sandbox::neutralise::begin(g);
            let _ = cordon_sandbox::neutralise::after(g);
        }
    });
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "\n{name}: {} ({dirs} directories, {entries} entries)",
        root.display()
    );
    println!(
        "  floor, full walk (open+getdents)          {:>9.3} ms",
        ms(full_floor)
    );
    println!(
        "  floor, statx per directory                {:>9.3} ms",
        ms(inc_floor)
    );
    println!(
        "  index, first run (full walk)              {:>9.3} ms  {:>5.2}x the full floor",
        ms(first),
        ms(first) / ms(full_floor)
    );
    println!(
        "  index, later run (one pass, unchanged)    {:>9.3} ms  {:>5.2}x the statx floor, {:>5.2}x the full floor",
        ms(later),
        ms(later) / ms(inc_floor),
        ms(later) / ms(full_floor)
    );
    println!(
        "  index encode + decode ({:>7} bytes)      {:>9.3} ms",
        index::encode(&idx).len(),
        ms(codec)
    );
    println!(
        "  scan before a run (load, walk, derive)    {:>9.3} ms  {:>5.2}x the statx floor",
        ms(pre),
        ms(pre) / ms(inc_floor)
    );
    println!(
        "  check after a run (walk, inspect)         {:>9.3} ms  {:>5.2}x the statx floor",
        ms(post),
        ms(post) / ms(inc_floor)
    );
    println!(
        "  a run in all (scan + check)               {:>9.3} ms",
        ms(pre) + ms(post)
    );
}
