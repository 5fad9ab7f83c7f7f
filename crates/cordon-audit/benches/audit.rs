//! Audit log speed: appends per second with the chain (one writer, no fsync) and records
//! verified per second, each next to a baseline measured in the same run:
//! - append vs a bare `write(2)` of the same line on an O_APPEND descriptor (no lock, no hash,
//!   no head): the ratio is the price of the chain and the lock; and vs the same write inside
//!   flock + fstat + unlock (a locked appender that stats the file each time);
//! - verify vs reading the same files and splitting them into lines (no parse, no hash).
//!
//! Run: `cargo bench -p cordon-audit --bench audit`. The files live under target/ (a real disk,
//! not tmpfs).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use cordon_audit::{Event, Text, Writer};

fn event() -> Event {
    Event::Exec {
        argv: ["cargo", "test", "--workspace", "--locked"]
            .iter()
            .map(|s| Text::from(*s))
            .collect(),
        cwd: Text::from("/home/dev/src/project"),
        pid: 4242,
        isolation: "namespaces".into(),
    }
}

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(1));
    let d = dir("bench-append");
    let mut w = Writer::open(&d).unwrap();
    g.bench_function("chained", |b| b.iter(|| w.append(&event()).unwrap()));
    // Baseline: the same bytes, one write(2) each, nothing else.
    let line = std::fs::read_to_string(d.join("audit.jsonl"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string()
        + "\n";
    let d2 = dir("bench-append-baseline");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(d2.join("plain.jsonl"))
        .unwrap();
    g.bench_function("baseline_write", |b| {
        b.iter(|| f.write_all(line.as_bytes()).unwrap())
    });
    // Baseline 2: the system calls of a cross-process appender that checks the file before
    // each append (exclusive flock, fstat to see whether another writer appended, the write,
    // unlock), with no hash, no JSON, no head. The writer skips the fstat when the shared
    // generation counter says nobody else wrote.
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(d2.join("plain.lock"))
        .unwrap();
    g.bench_function("baseline_locked_write", |b| {
        use std::os::fd::AsRawFd;
        b.iter(|| {
            // SAFETY: flock on a descriptor this bench owns (`lock` lives for the loop).
            unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
            let _ = f.metadata().unwrap().len();
            f.write_all(line.as_bytes()).unwrap();
            // SAFETY: as above: unlocks the descriptor this bench owns.
            unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_UN) };
        })
    });
    g.finish();
}

fn verify(c: &mut Criterion) {
    const N: u64 = 200_000;
    let d = dir("bench-verify");
    let mut w = Writer::open(&d).unwrap();
    for _ in 0..N {
        w.append(&event()).unwrap();
    }
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("chain", |b| {
        b.iter(|| {
            let r = cordon_audit::verify::verify_path(&d).unwrap();
            assert!(r.intact() && r.records == N);
        })
    });
    g.bench_function("baseline_read_lines", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for f in cordon_audit::log_files(&d).unwrap() {
                let buf = std::fs::read(f).unwrap();
                n += buf.split(|&c| c == b'\n').filter(|l| !l.is_empty()).count() as u64;
            }
            assert_eq!(n, N);
        })
    });
    g.finish();
}

criterion_group!(benches, append, verify);
criterion_main!(benches);
