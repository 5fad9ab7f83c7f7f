//! The check after every run: what the run created or changed under the writable roots that
//! would make code run later, outside the sandbox, when someone uses git, an editor or an agent
//! there. What it finds is renamed in its own directory to `NAME.cordon-disabled-<run>` (nothing
//! is deleted), through directory handles, after checking it is still the inode inspected, and
//! reported (the caller prints it and records it in the audit log; a line also goes to
//! `neutralised.jsonl` in the workspace's state directory, for `cordon repair`).
//!
//! It runs in [`crate::run`] after every sandbox, so that no entry point can forget it. A run
//! whose check did not happen (cordon was killed) leaves its file in `runs/`; the next run in
//! the workspace performs that check first ([`recover`]).
//!
//! What counts, from the index walk against the snapshot taken before the run (`index.rs`):
//! - a git directory (found by its shape: `.git`, bare, `worktrees/*`, `modules/**`) that is new,
//!   or an entry git reads in one that is new or whose ctime is from the run: a config with a
//!   key git does not write itself (`gitconfig::is_data_key`), a hook that is not a `*.sample`
//!   nor a copy of git's template, a `commondir` that does not lead back to its own common
//!   directory, `exec` lines added to a rebase in progress;
//! - a `.git` file whose `gitdir:` leads outside the writable roots, a `.git` symlink;
//! - an agent or editor config (`protected::AGENT_CONFIGS`), outside regenerated trees, that is new
//!   or changed;
//! - a watched path (named by a config, a hook manager's config) that appeared or changed.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::guard::{self, Guard, Roots};
use crate::handles::{self, Stat, Ts};
use crate::index::{self, Index, Tree, GIT_DIR, REGEN, SKIPPED};
use crate::Error;

/// One thing found after a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was found.
    pub path: PathBuf,
    /// Why it would run code.
    pub reason: String,
    /// Where it was moved (None: not moved, see `error`).
    pub moved_to: Option<PathBuf>,
    /// Why it could not be moved.
    pub error: Option<String>,
}

impl Finding {
    /// The command that puts it back, once reviewed.
    pub fn restore(&self) -> Option<String> {
        let to = self.moved_to.as_ref()?;
        Some(format!(
            "mv -T -n {} {}",
            shell_quote(to),
            shell_quote(&self.path)
        ))
    }

    /// One line for stderr.
    pub fn message(&self) -> String {
        match (&self.moved_to, &self.error) {
            (Some(_), _) => format!(
                "neutralised {}: {}; it is now {}; after reviewing it, restore it with: {}",
                shown(&self.path),
                shown(Path::new(&self.reason)),
                self.moved_to.as_deref().map(shown).unwrap_or_default(),
                self.restore().unwrap_or_default()
            ),
            (None, Some(e)) => format!(
                "DANGER: {}: {}; it could not be moved aside ({}): remove or fix it before using git, an editor or an agent there",
                shown(&self.path),
                shown(Path::new(&self.reason)),
                shown(Path::new(e))
            ),
            (None, None) => format!(
                "{}: {}",
                shown(&self.path),
                shown(Path::new(&self.reason))
            ),
        }
    }
}

/// `p` quoted for a POSIX shell (`$'...'` with `\xHH` when it holds control characters).
pub fn shell_quote(p: &Path) -> String {
    let s = p.to_string_lossy();
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@".contains(&b))
    {
        s.into_owned()
    } else if s.chars().any(char::is_control) {
        // bash's and zsh's $'...': control characters as \xHH, never raw (see `shown`).
        let mut q = String::from("$'");
        for c in s.chars() {
            match c {
                '\'' | '\\' => {
                    q.push('\\');
                    q.push(c);
                }
                c if c.is_control() => {
                    let mut b = [0u8; 4];
                    for byte in c.encode_utf8(&mut b).bytes() {
                        q.push_str(&format!("\\x{byte:02x}"));
                    }
                }
                c => q.push(c),
            }
        }
        q.push('\'');
        q
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A path as cordon prints it: the names in it are the sandbox's (a run chose them), and a
/// control character printed raw would reach the terminal of whoever reads cordon's output
/// (`cordon repair` later, in yours: an escape sequence that sets the clipboard or the title,
/// or that a terminal answers into its input). Each one is shown escaped (`\u{1b}`).
pub fn shown(p: &Path) -> String {
    let s = p.to_string_lossy();
    if !s.chars().any(char::is_control) {
        return s.into_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `2025-01-31T12:00:00Z` as `20250131T120000Z` (UTC, no dependency).
pub fn stamp(t: Ts) -> String {
    let days = t.sec.div_euclid(86_400);
    let secs = t.sec.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A run file's first bytes while its run is unchecked: `cordrun2` (t0, the snapshot's length
/// and bytes, then the watched paths); `cordrun1` files (t0 and the snapshot alone), left by a
/// cordon of before, are still checked.
const RUN_MAGIC: &[u8; 8] = b"cordrun2";
const RUN_MAGIC_V1: &[u8; 8] = b"cordrun1";

fn is_run_magic(head: &[u8]) -> bool {
    head == RUN_MAGIC || head == RUN_MAGIC_V1
}

/// The watched paths in a run file (see [`RUN_MAGIC`]): for each, the path, its reason, and the
/// (device, inode) it was kept as, if any. The check of a killed run needs them as much as the
/// snapshot: what the run swapped under a path a config names shows in neither the index nor
/// a ctime.
fn encode_watched(watched: &[guard::Watched]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(watched.len() as u32).to_le_bytes());
    for w in watched {
        let p = w.path.as_os_str().as_bytes();
        b.extend_from_slice(&(p.len() as u32).to_le_bytes());
        b.extend_from_slice(p);
        b.extend_from_slice(&(w.why.len() as u32).to_le_bytes());
        b.extend_from_slice(w.why.as_bytes());
        let (dev, ino) = w.was.unwrap_or((0, 0));
        b.push(u8::from(w.was.is_some()));
        b.extend_from_slice(&dev.to_le_bytes());
        b.extend_from_slice(&ino.to_le_bytes());
    }
    b
}

fn decode_watched(b: &[u8]) -> Option<Vec<guard::Watched>> {
    let mut r = index::R::new(b);
    let n = r.u32()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let len = r.u32()? as usize;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(r.take(len)?));
        let len = r.u32()? as usize;
        let why = String::from_utf8_lossy(r.take(len)?).into_owned();
        let kept = r.u8()? == 1;
        let id = (r.u64()?, r.u64()?);
        out.push(guard::Watched {
            path,
            why,
            was: kept.then_some(id),
        });
    }
    Some(out)
}

/// The check around one run: [`Watch::begin`] before the sandbox starts, [`Watch::end`] after
/// it is gone (or on drop, if the run failed on the way).
pub struct Watch<'a> {
    guard: Option<&'a Guard>,
}

impl<'a> Watch<'a> {
    pub fn begin(spec: &'a crate::SandboxSpec) -> Watch<'a> {
        // No sandbox (danger-full-access), nothing to check: the command had the user's rights.
        let guard = match spec.isolation {
            crate::Isolation::None => None,
            _ => spec.guard.as_deref(),
        };
        if let Some(g) = guard {
            // Only for recovery after a crash: the check itself needs nothing from the file.
            let _ = begin(g);
        }
        Watch { guard }
    }

    pub fn end(mut self) -> Vec<Finding> {
        match self.guard.take() {
            Some(g) => after(g),
            None => Vec::new(),
        }
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.guard.take() {
            // Persisted in neutralised.jsonl for `cordon repair`.
            let _ = after(g);
        }
    }
}

/// Before the sandbox starts: records "a run is in progress since t0" with the snapshot, in
/// `runs/` of the state directory, and keeps it locked until the check is done.
///
/// The record goes into a slot file (`runs/slot-N`) that is kept and reused, not into a new
/// file per run: creating and removing a file on every run costs an inode allocation and a
/// free each time (on ext4 without a journal, which skips every inode freed in the last ~30 s
/// when allocating one, that is tens to hundreds of µs per file under a stream of runs). A slot
/// is taken by locking it (`flock`, exclusive, not waiting: a locked slot is a live run's); one
/// that still holds an unchecked run (its cordon died after `recover` looked) is left for the
/// next recovery. The record is written whole, in place, while locked, and marked idle
/// ([`RUN_IDLE`]) once the check is done; `recover` never reads a locked slot, so it never
/// sees one half written.
pub fn begin(g: &Guard) -> io::Result<()> {
    let Some(state) = &g.state_dir else {
        return Ok(());
    };
    use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
    let runs = state.join("runs");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&runs)?;
    let mut b = RUN_MAGIC.to_vec();
    b.extend_from_slice(&g.t0.sec.to_le_bytes());
    b.extend_from_slice(&g.t0.nsec.to_le_bytes());
    let snapshot = index::encode(&g.index);
    b.extend_from_slice(&(snapshot.len() as u64).to_le_bytes());
    b.extend_from_slice(&snapshot);
    b.extend_from_slice(&encode_watched(&g.watched));
    for n in 0..MAX_SLOTS {
        let path = runs.join(format!("{SLOT_PREFIX}{n}"));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)?;
        if flock(&f, libc::LOCK_EX | libc::LOCK_NB).is_err() {
            continue; // a live run's
        }
        let mut head = [0u8; 8];
        let n_read = f.read_at(&mut head, 0)?;
        if n_read == 8 && is_run_magic(&head) {
            continue; // a dead run's, not checked yet: the next `recover` does it
        }
        f.write_all_at(&b, 0)?;
        if f.metadata()?.len() > b.len() as u64 {
            f.set_len(b.len() as u64)?;
        }
        if let Ok(mut r) = g.run_file.lock() {
            *r = Some((path, f));
        }
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{}: {MAX_SLOTS} runs at once in this workspace",
        runs.display()
    )))
}

/// A run file's first bytes once its check is done (see [`begin`]).
const RUN_IDLE: &[u8; 8] = b"cordidle";
/// Run files are `runs/slot-N` (older cordon versions made one `runs/<pid>-<time>` per run).
const SLOT_PREFIX: &str = "slot-";
/// Slots tried before giving up (only the crash recovery depends on the run file).
const MAX_SLOTS: usize = 4096;

/// The check of the run in `f` is done: its slot is idle (the slot is kept for the next run);
/// a file of an older cordon (not a slot) is removed.
fn release_run_file(path: &Path, f: &std::fs::File) {
    use std::os::unix::fs::FileExt;
    let is_slot = path
        .file_name()
        .is_some_and(|n| n.as_bytes().starts_with(SLOT_PREFIX.as_bytes()));
    if is_slot {
        let _ = f.write_all_at(RUN_IDLE, 0);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

fn flock(f: &std::fs::File, op: i32) -> io::Result<()> {
    use std::os::fd::AsFd;
    crate::sys::fs::flock(f.as_fd(), op)
}

/// Signals that would kill cordon mid-check are held until it is done and recorded.
struct HoldSignals(#[allow(dead_code)] crate::sys::process::HeldSignals);

impl HoldSignals {
    fn new() -> HoldSignals {
        HoldSignals(crate::sys::process::HeldSignals::new(&[
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
        ]))
    }
}

/// The check after a run (see the module comment). Never fails: what goes wrong is a finding.
pub fn after(g: &Guard) -> Vec<Finding> {
    let _hold = HoldSignals::new();
    let run = stamp(g.t0);
    let (next, findings) = check(
        &g.index,
        g.t0,
        &g.roots,
        &g.skip,
        g.limit,
        &g.watched,
        &g.rebase_exec,
        g.templates.as_deref(),
        &run,
    );
    let store = g
        .state_dir
        .as_deref()
        .and_then(|d| index::Store::open(d).ok());
    finish(
        g.state_dir.as_deref(),
        store.as_ref(),
        next.as_ref(),
        &findings,
    );
    drop(store);
    // An incomplete walk reports a finding with an error: then the run file stays for the next
    // run to check again.
    let done = findings.iter().all(|f| f.error.is_none());
    if let Ok(mut r) = g.run_file.lock() {
        if let Some((path, f)) = r.take() {
            if done {
                release_run_file(&path, &f);
            }
            drop(f);
        }
    }
    findings
}

/// Saves the index after a check (under the store's lock), and appends the findings to
/// `neutralised.jsonl`.
fn finish(
    state: Option<&Path>,
    store: Option<&index::Store>,
    next: Option<&Index>,
    findings: &[Finding],
) {
    let Some(state) = state else { return };
    if let (Some(idx), Some(s)) = (next, store) {
        let _ = s.save(idx);
    }
    if findings.is_empty() {
        return;
    }
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(state.join("neutralised.jsonl"))
    {
        for x in findings {
            let line = serde_json::json!({
                "time": Ts::now().sec,
                "path": x.path.to_string_lossy(),
                "moved_to": x.moved_to.as_ref().map(|p| p.to_string_lossy().into_owned()),
                "reason": x.reason,
                "error": x.error,
            });
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Performs the checks of earlier runs in this workspace that ended without one (their
/// `runs/` file is not locked: the cordon that wrote it is gone).
pub(crate) fn recover(
    store: &index::Store,
    inp: &guard::ScanInput<'_>,
) -> Result<Vec<Finding>, Error> {
    let Some(state) = inp.state_dir else {
        return Ok(Vec::new());
    };
    let Ok(rd) = std::fs::read_dir(state.join("runs")) else {
        return Ok(Vec::new());
    };
    let mut all = Vec::new();
    for e in rd.flatten() {
        // A run's file being written (see `begin`).
        if e.file_name().as_bytes().first() == Some(&b'.') {
            continue;
        }
        let path = e.path();
        // Written too: a slot is marked idle once its run is checked.
        use std::os::unix::fs::OpenOptionsExt;
        let Ok(mut f) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        else {
            continue;
        };
        if flock(&f, libc::LOCK_EX | libc::LOCK_NB).is_err() {
            continue; // its run is alive
        }
        let mut b = Vec::new();
        if f.read_to_end(&mut b).is_ok() && b.starts_with(RUN_IDLE) {
            continue; // a slot whose run was checked
        }
        if b.len() < 20 || !is_run_magic(&b[..8]) {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        let t0 = Ts {
            sec: i64::from_le_bytes(b[8..16].try_into().unwrap_or([0; 8])),
            nsec: u32::from_le_bytes(b[16..20].try_into().unwrap_or([0; 4])),
        };
        let parsed = if &b[..8] == RUN_MAGIC_V1 {
            index::decode(&b[20..]).map(|s| (s, Vec::new()))
        } else {
            b.get(20..28)
                .and_then(|n| usize::try_from(u64::from_le_bytes(n.try_into().ok()?)).ok())
                .and_then(|n| {
                    let end = 28usize.checked_add(n)?;
                    let snap = index::decode(b.get(28..end)?)?;
                    Some((snap, decode_watched(b.get(end..)?)?))
                })
        };
        let Some((snap, watched)) = parsed else {
            // Torn (cordon died while writing it, before its sandbox started).
            let _ = std::fs::remove_file(&path);
            continue;
        };
        let roots: Vec<PathBuf> = snap.trees.iter().map(|t| t.root.clone()).collect();
        let (next, mut findings) = check(
            &snap,
            t0,
            &roots,
            inp.skip,
            inp.limit,
            &watched,
            &[],
            None,
            &stamp(t0),
        );
        for x in &mut findings {
            x.reason = format!(
                "{} (found now: the run of {} ended before its check)",
                x.reason,
                stamp(t0)
            );
        }
        finish(Some(state), Some(store), next.as_ref(), &findings);
        if findings.iter().all(|f| f.error.is_none()) {
            release_run_file(&path, &f);
        }
        all.extend(findings);
    }
    Ok(all)
}

/// Where things were found, before they are moved.
struct Found {
    path: PathBuf,
    stat: Stat,
    reason: String,
}

struct Ctx<'a> {
    roots: Roots,
    /// When the run's snapshot was taken: a ctime that may be later is the run's doing.
    t0: Ts,
    templates: Option<&'a Path>,
    rebase_exec: &'a [(PathBuf, Vec<String>)],
    found: Vec<Found>,
    /// cordon's own placeholders (`placeholders::listed`): a run killed before it could remove
    /// them leaves them, new since its snapshot, for the recovery check of the next run.
    placeholders: Vec<(u64, u64)>,
}

/// The check itself: walks against `snap`, inspects, neutralises. Returns the index to keep
/// (None when the walk could not complete) and the findings.
#[allow(clippy::too_many_arguments)]
fn check(
    snap: &Index,
    t0: Ts,
    roots_: &[PathBuf],
    skip: &[PathBuf],
    limit: u64,
    watched: &[guard::Watched],
    rebase_exec: &[(PathBuf, Vec<String>)],
    templates: Option<&Path>,
    run: &str,
) -> (Option<Index>, Vec<Finding>) {
    // The returned index is None when the walk could not complete (a finding with an error
    // says so) or found nothing changed (nothing to save).
    let (next, changes) = match index::walk(Some(snap), roots_, skip, limit) {
        Ok(r) => r,
        Err(e) => {
            let why = match e {
                index::WalkError::Limit(l) => format!(
                    "the run left more than {} entries under the writable roots (largest: {})",
                    l.limit,
                    l.largest
                        .iter()
                        .map(|(p, n)| format!("{} {n}", p.display()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                index::WalkError::Io(e) => e.to_string(),
            };
            return (
                None,
                vec![Finding {
                    path: roots_.first().cloned().unwrap_or_default(),
                    reason: "the check after the run could not finish".into(),
                    moved_to: None,
                    error: Some(format!(
                        "{why}; what the run planted in repositories or agent configs there is not known: \
                         look before using git or an agent there, then run 'cordon repair'"
                    )),
                }],
            );
        }
    };
    let mut next = next;
    guard::classify(&mut next, Some(snap), &Roots::open(roots_));
    let mut cx = Ctx {
        roots: Roots::open(roots_),
        t0,
        templates,
        rebase_exec,
        found: Vec::new(),
        placeholders: crate::placeholders::listed(),
    };
    let new_set: std::collections::HashSet<(usize, u32)> =
        changes.new_dirs.iter().copied().collect();
    // 1. Directories that are new: everything in them counts.
    for &(t, i) in &changes.new_dirs {
        let tree = &next.trees[t];
        let dir = &tree.dirs[i as usize];
        if dir.flags & SKIPPED != 0 {
            continue;
        }
        let path = tree.path(i);
        if dir.flags & GIT_DIR != 0 {
            cx.git_dir(tree, i, &path, None);
        }
        for m in &dir.marks {
            cx.mark(tree, i, &path, &m.name, m.dtype);
        }
    }
    // 2. Directories read again with new marks.
    for nm in &changes.new_marks {
        let tree = &next.trees[nm.tree];
        let dir = &tree.dirs[nm.dir as usize];
        let path = tree.path(nm.dir);
        if dir.flags & GIT_DIR != 0 {
            if nm.was_git_dir {
                cx.git_dir(tree, nm.dir, &path, Some(&nm.names));
            } else {
                cx.git_dir(tree, nm.dir, &path, None);
            }
        }
        for n in &nm.names {
            if let Some(m) = dir.mark(n) {
                cx.mark(tree, nm.dir, &path, &m.name, m.dtype);
            }
        }
    }
    // 3. What existed: changed in place (its ctime is from the run)?
    for (t, tree) in next.trees.iter().enumerate() {
        for (i, dir) in tree.dirs.iter().enumerate() {
            let i = i as u32;
            if dir.flags & SKIPPED != 0 || new_set.contains(&(t, i)) {
                continue;
            }
            let path = tree.path(i);
            if dir.flags & GIT_DIR != 0 {
                cx.git_dir_in_place(tree, i, &path);
            }
            if dir.flags & REGEN == 0 {
                for m in &dir.marks {
                    if guard::agent_config(tree, i, &m.name).is_some() {
                        cx.changed_inside(&path.join(std::ffi::OsStr::from_bytes(&m.name)));
                    }
                }
            }
        }
    }
    for w in watched {
        cx.watched(w);
    }
    // Move each aside (deepest first, so that a parent's rename does not change a child's path).
    let mut found = std::mem::take(&mut cx.found);
    found.sort_by_key(|f| std::cmp::Reverse(f.path.components().count()));
    found.dedup_by(|a, b| a.path == b.path);
    let mut out: Vec<Finding> = found.into_iter().map(|f| cx.neutralise(f, run)).collect();
    out.reverse();
    let unchanged = changes.dirs_read == 0 && out.is_empty();
    (Some(next).filter(|_| !unchanged), out)
}

impl Ctx<'_> {
    /// A watched path after the run: a file now where there was none (or a changed one), another
    /// file than the one kept read-only (a directory on its way was swapped), or a symlink on
    /// its way (git would follow it; the path's own checks, which refuse symlinks, would not
    /// see past it): that symlink is what is moved aside.
    fn watched(&mut self, w: &guard::Watched) {
        match self.roots.stat(&w.path) {
            Ok(st) => match w.was {
                Some(id) if id != (st.dev, st.ino) => self.found(
                    w.path.clone(),
                    st,
                    format!(
                        "{}: another file than the one kept read-only (a directory on its way was replaced during the run)",
                        w.why
                    ),
                ),
                Some(_) => {}
                None if st.ctime.maybe_after(self.t0) => self.found(
                    w.path.clone(),
                    st,
                    format!("{} appeared or changed during the run", w.why),
                ),
                None => {}
            },
            Err(_) => {
                // Missing (nothing runs), or a symlink on the way: find it, from the top.
                let mut at = PathBuf::new();
                for part in w.path.components() {
                    at.push(part);
                    let below_a_root = matches!(self.roots.locate(&at), Some((_, rel)) if !rel.as_os_str().is_empty());
                    if !below_a_root || at == w.path {
                        continue;
                    }
                    match self.roots.stat(&at) {
                        Ok(st) if st.is_symlink() => {
                            let reason = format!(
                                "a symlink on the way to {} ({})",
                                w.path.display(),
                                w.why
                            );
                            self.found(at, st, reason);
                            return;
                        }
                        Ok(st) if st.is_dir() => {}
                        _ => return,
                    }
                }
            }
        }
    }

    fn found(&mut self, path: PathBuf, stat: Stat, reason: String) {
        if !self.found.iter().any(|f| f.path == path) {
            self.found.push(Found { path, stat, reason });
        }
    }

    /// A mark in a directory that is new or read again.
    fn mark(&mut self, tree: &Tree, i: u32, dir: &Path, name: &[u8], dtype: u8) {
        let p = dir.join(std::ffi::OsStr::from_bytes(name));
        let regen = tree.dirs[i as usize].flags & REGEN != 0;
        if name == b".git" {
            match dtype {
                libc::DT_REG => self.gitfile(&p),
                libc::DT_LNK => {
                    if let Ok(st) = self.roots.stat(&p) {
                        self.found(
                            p,
                            st,
                            "a .git symlink (git follows it to a repository cordon did not check)"
                                .into(),
                        );
                    }
                }
                _ => {}
            }
        } else if !regen {
            if let Some(why) = guard::agent_config(tree, i, name) {
                if let Ok(st) = self.roots.stat(&p) {
                    // An empty file or directory configures nothing (and is what a placeholder
                    // of a concurrent run looks like, which must stay where it is).
                    if !self.empty(&p, &st) {
                        self.found(p, st, format!("a new agent or editor config ({why})"));
                    }
                }
            } else if name == guard::LOADED_ENV_FILE.0.as_bytes() {
                // A new mark: made by the run (its ctime says so; an existing `.env` moved
                // along with its directory is the user's, covered during the run). A symlink
                // counts: the agent reads through it.
                if let Ok(st) = self.roots.stat(&p) {
                    if !self.empty(&p, &st) && st.ctime.maybe_after(self.t0) {
                        self.found(p, st, guard::LOADED_ENV_FILE.1.to_string());
                    }
                }
            }
        }
    }

    fn empty(&self, p: &Path, st: &Stat) -> bool {
        if st.is_file() {
            return st.size == 0;
        }
        if !st.is_dir() {
            return false;
        }
        let mut budget = 1;
        self.roots
            .open_dir(p, libc::O_RDONLY)
            .and_then(|fd| handles::read_dir(fd.as_fd(), &mut budget))
            .is_ok_and(|e| e.is_empty())
    }

    /// A new `.git` file: its `gitdir:` must stay in the writable roots.
    fn gitfile(&mut self, p: &Path) {
        let Ok((st, text)) = self.roots.read(p, 4096) else {
            return;
        };
        let s = String::from_utf8_lossy(&text);
        let target = s
            .strip_prefix("gitdir:")
            .map(|t| t.trim())
            .map(|t| guard::lexical(Path::new(t), p.parent().unwrap_or(Path::new("/"))));
        match target {
            Some(t) if self.roots.contains(&t) => {}
            Some(t) => self.found(
                p.to_path_buf(),
                st,
                format!(
                    "a .git file pointing outside the writable roots ({})",
                    t.display()
                ),
            ),
            None => {}
        }
    }

    /// A git directory: all of it (`names` None: new, or newly a git directory), or the entries
    /// named (new marks).
    fn git_dir(&mut self, tree: &Tree, i: u32, g: &Path, names: Option<&[Box<[u8]>]>) {
        if !guard::valid_head(&self.roots, g) {
            return;
        }
        let dir = &tree.dirs[i as usize];
        let want = |n: &str| names.is_none_or(|ns| ns.iter().any(|x| &**x == n.as_bytes()));
        for n in ["config", "config.worktree"] {
            if want(n) && dir.has(n) {
                self.config(&g.join(n));
            }
        }
        if want("commondir") && dir.has("commondir") {
            self.commondir(tree, i, g);
        }
        if want("hooks") && dir.has("hooks") {
            self.hooks(&g.join("hooks"), None);
        }
        if want("rebase-merge") && dir.has("rebase-merge") {
            self.rebase(g);
        }
    }

    /// An existing git directory: its entries whose ctime is from the run.
    fn git_dir_in_place(&mut self, tree: &Tree, i: u32, g: &Path) {
        let dir = &tree.dirs[i as usize];
        let t0 = self.t0;
        let changed = |cx: &Self, n: &str| {
            cx.roots
                .stat(&g.join(n))
                .is_ok_and(|st| st.ctime.maybe_after(t0))
        };
        for n in ["config", "config.worktree"] {
            if dir.has(n) && changed(self, n) {
                self.config(&g.join(n));
            }
        }
        if dir.has("commondir") && changed(self, "commondir") {
            self.commondir(tree, i, g);
        }
        if dir.has("hooks") {
            self.hooks(&g.join("hooks"), Some(t0));
        }
        if dir.has("rebase-merge") && changed(self, "rebase-merge/git-rebase-todo") {
            self.rebase(g);
        }
    }

    fn config(&mut self, p: &Path) {
        let st = match self.roots.stat(p) {
            Ok(s) => s,
            Err(_) => return,
        };
        if st.is_symlink() {
            self.found(p.to_path_buf(), st, "a git config that is a symlink".into());
            return;
        }
        let Ok((st, text)) = self.roots.read(p, 4 << 20) else {
            return;
        };
        match crate::gitconfig::suspicious_keys(&text) {
            Ok(keys) if keys.is_empty() => {}
            Ok(keys) => self.found(
                p.to_path_buf(),
                st,
                format!(
                    "a git config with keys git does not write itself, which can run commands: {}",
                    keys.join(", ")
                ),
            ),
            Err(e) => self.found(
                p.to_path_buf(),
                st,
                format!("a git config cordon cannot read as git does ({e})"),
            ),
        }
    }

    /// `commondir` is only git's own when it sits in `<common>/worktrees/<id>/` and leads back
    /// to `<common>`.
    fn commondir(&mut self, tree: &Tree, i: u32, g: &Path) {
        let p = g.join("commondir");
        let Ok((st, text)) = self.roots.read(&p, 4096) else {
            if let Ok(st) = self.roots.stat(&p) {
                self.found(p, st, "a commondir git cannot use as its own".into());
            }
            return;
        };
        let dir = &tree.dirs[i as usize];
        let parent_is_worktrees =
            dir.parent != u32::MAX && &*tree.dirs[dir.parent as usize].name == b"worktrees";
        let target = guard::lexical(Path::new(String::from_utf8_lossy(&text).trim_end()), g);
        let ok = parent_is_worktrees
            && g.parent()
                .and_then(Path::parent)
                .is_some_and(|common| same_dir(&self.roots, &target, common));
        if !ok {
            self.found(
                p,
                st,
                format!(
                    "a commondir that sends git to {} for its config and hooks",
                    target.display()
                ),
            );
        }
    }

    /// Hooks that are not samples nor git's templates (only those changed since `t0`, if given).
    fn hooks(&mut self, hooks: &Path, since: Option<Ts>) {
        let st = match self.roots.stat(hooks) {
            Ok(s) => s,
            Err(_) => return,
        };
        if !st.is_dir() {
            if since.is_none_or(|s| st.ctime.maybe_after(s)) {
                self.found(
                    hooks.to_path_buf(),
                    st,
                    "a hooks entry that is not a directory".into(),
                );
            }
            return;
        }
        let Ok(fd) = self.roots.open_dir(hooks, libc::O_RDONLY) else {
            return;
        };
        let mut budget = 100_000;
        let Ok(entries) = handles::read_dir(fd.as_fd(), &mut budget) else {
            return;
        };
        for e in entries {
            if e.name.ends_with(b".sample") {
                continue;
            }
            let Ok(st) = handles::statx_at(fd.as_fd(), &e.name, false) else {
                continue;
            };
            if since.is_some_and(|s| !st.ctime.maybe_after(s)) {
                continue;
            }
            if self.is_template(&fd, &e.name, &st) {
                continue;
            }
            self.found(
                hooks.join(std::ffi::OsStr::from_bytes(&e.name)),
                st,
                "a git hook (it runs when git does)".into(),
            );
        }
    }

    /// A hook byte-identical to git's template of the same name (copied by `git init`).
    fn is_template(&self, dir: &std::os::fd::OwnedFd, name: &[u8], st: &Stat) -> bool {
        let Some(t) = self.templates else {
            return false;
        };
        if self.roots.contains(t) || !st.is_file() {
            return false;
        }
        let Ok(tmpl) = std::fs::read(t.join("hooks").join(std::ffi::OsStr::from_bytes(name)))
        else {
            return false;
        };
        handles::read_file_at(dir.as_fd(), name, tmpl.len() + 1).is_ok_and(|(_, b)| b == tmpl)
    }

    fn rebase(&mut self, g: &Path) {
        let p = g.join("rebase-merge/git-rebase-todo");
        let Ok((st, text)) = self.roots.read(&p, 4 << 20) else {
            return;
        };
        let before: &[String] = self
            .rebase_exec
            .iter()
            .find(|(d, _)| d == g)
            .map(|(_, l)| l.as_slice())
            .unwrap_or(&[]);
        let added: Vec<String> = guard::exec_lines(&text)
            .into_iter()
            .filter(|l| !before.contains(l))
            .collect();
        if !added.is_empty() {
            self.found(
                p,
                st,
                format!(
                    "a rebase in progress that would run commands on 'git rebase --continue': {}",
                    added.join("; ")
                ),
            );
        }
    }

    /// A file placeholder of cordon's, still as it was made: empty. It configures nothing. (A
    /// directory placeholder is walked like any directory: empty, nothing in it is found.)
    fn placeholder(&self, st: &Stat) -> bool {
        st.is_file() && st.size == 0 && self.placeholders.contains(&(st.dev, st.ino))
    }

    /// An existing agent config: a file in it (or it) changed during the run.
    fn changed_inside(&mut self, p: &Path) {
        let Ok(st) = self.roots.stat(p) else { return };
        if self.placeholder(&st) {
            return;
        }
        if st.ctime.maybe_after(self.t0) && !st.is_dir() {
            self.found(
                p.to_path_buf(),
                st,
                "an agent or editor config changed during the run".into(),
            );
            return;
        }
        if !st.is_dir() {
            return;
        }
        let Ok(fd) = self.roots.open_dir(p, libc::O_RDONLY) else {
            return;
        };
        let mut stack = vec![(fd, p.to_path_buf())];
        let mut budget = 4096u64;
        while let Some((fd, dir)) = stack.pop() {
            let Ok(entries) = handles::read_dir(fd.as_fd(), &mut budget) else {
                return;
            };
            for e in entries {
                let Ok(st) = handles::statx_at(fd.as_fd(), &e.name, false) else {
                    continue;
                };
                let child = dir.join(std::ffi::OsStr::from_bytes(&e.name));
                if self.placeholder(&st) {
                    continue;
                }
                if st.ctime.maybe_after(self.t0) {
                    self.found(
                        child,
                        st,
                        "an agent or editor config changed during the run".into(),
                    );
                } else if st.is_dir() {
                    if let Ok(c) =
                        handles::open_entry(fd.as_fd(), &e.name, libc::O_RDONLY | libc::O_DIRECTORY)
                    {
                        stack.push((c, child));
                    }
                }
            }
        }
    }

    /// Renames `f.path` to `NAME.cordon-disabled-<run>` in its directory, by handle, if it is
    /// still the inode inspected.
    fn neutralise(&self, f: Found, run: &str) -> Finding {
        let mut out = Finding {
            path: f.path.clone(),
            reason: f.reason,
            moved_to: None,
            error: None,
        };
        let r = (|| -> io::Result<PathBuf> {
            let (dir, name) = guard::split(&f.path)?;
            let fd = self.roots.open_dir(dir, libc::O_PATH)?;
            let mut last = io::Error::other("no free name");
            for n in 0..100 {
                let mut to = name.to_vec();
                to.extend_from_slice(b".cordon-disabled-");
                to.extend_from_slice(run.as_bytes());
                if n > 0 {
                    to.extend_from_slice(format!("-{n}").as_bytes());
                }
                match handles::rename_checked(fd.as_fd(), name, &to, &f.stat) {
                    Ok(()) => return Ok(dir.join(std::ffi::OsStr::from_bytes(&to))),
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => last = e,
                    Err(e) => return Err(e),
                }
            }
            Err(last)
        })();
        match r {
            Ok(to) => out.moved_to = Some(to),
            Err(e) => out.error = Some(e.to_string()),
        }
        out
    }
}

/// One line of `neutralised.jsonl` (what an earlier check moved aside).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Record {
    pub time: i64,
    pub path: PathBuf,
    pub moved_to: Option<PathBuf>,
    pub reason: String,
    pub error: Option<String>,
}

/// What the checks in this workspace moved aside, oldest first.
pub fn records(state_dir: &Path) -> Vec<Record> {
    let Ok(text) = std::fs::read_to_string(state_dir.join("neutralised.jsonl")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| Record {
            time: v["time"].as_i64().unwrap_or(0),
            path: PathBuf::from(v["path"].as_str().unwrap_or_default()),
            moved_to: v["moved_to"].as_str().map(PathBuf::from),
            reason: v["reason"].as_str().unwrap_or_default().to_string(),
            error: v["error"].as_str().map(str::to_string),
        })
        .collect()
}

/// Runs in this workspace that ended before their check (the next `cordon run` performs it).
pub fn pending_runs(state_dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(state_dir.join("runs")) else {
        return 0;
    };
    rd.flatten()
        .filter(|e| {
            std::fs::File::open(e.path()).is_ok_and(|f| {
                let mut head = [0u8; 8];
                flock(&f, libc::LOCK_EX | libc::LOCK_NB).is_ok()
                    && std::os::unix::fs::FileExt::read_at(&f, &mut head, 0).is_ok_and(|n| n == 8)
                    && is_run_magic(&head)
            })
        })
        .count()
}

/// Puts `moved_to` back at `original` (same directory, inside `root`), by handle: no symlink on
/// the way, never over an existing `original`.
pub fn restore(root: &Path, moved_to: &Path, original: &Path) -> io::Result<()> {
    let (dir, from) = guard::split(moved_to)?;
    let (dir2, to) = guard::split(original)?;
    if dir != dir2 {
        return Err(io::Error::other("not in the same directory"));
    }
    let roots = Roots::open(&[root.to_path_buf()]);
    let fd = roots.open_dir(dir, libc::O_PATH)?;
    let st = handles::statx_at(fd.as_fd(), from, false)?;
    handles::rename_checked(fd.as_fd(), from, to, &st)
}

/// Whether two paths (inside the roots) are the same directory.
fn same_dir(roots: &Roots, a: &Path, b: &Path) -> bool {
    match (
        roots
            .open_dir(a, libc::O_PATH)
            .and_then(|f| handles::fstat(f.as_fd())),
        roots
            .open_dir(b, libc::O_PATH)
            .and_then(|f| handles::fstat(f.as_fd())),
    ) {
        (Ok(x), Ok(y)) => x.same(&y),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        assert_eq!(stamp(Ts { sec: 0, nsec: 0 }), "19700101T000000Z");
        assert_eq!(
            stamp(Ts {
                sec: 1_735_689_600,
                nsec: 0
            }),
            "20250101T000000Z"
        );
        assert_eq!(
            stamp(Ts {
                sec: 951_782_400 + 3_661,
                nsec: 0
            }),
            "20000229T010101Z"
        );
    }

    /// What the recovery tests scan: `roots`, writable, with `state` as the state directory.
    fn scan_input<'a>(roots: &'a [PathBuf], state: &'a Path) -> guard::ScanInput<'a> {
        guard::ScanInput {
            roots,
            writable: true,
            state_dir: Some(state),
            skip: &[],
            limit: 1000,
            env: &[],
            remove_protected: &[],
        }
    }

    /// A run's file is invisible to `recover` until it is locked and complete (`begin` writes it
    /// under a dot name): recovery never removes a starting run's file. A dead run's
    /// unreadable file is still cleaned up.
    #[test]
    fn recovery_skips_a_run_file_being_written() {
        let t = tempfile::tempdir().unwrap();
        let state = t.path().join("state");
        let ws = t.path().join("ws");
        std::fs::create_dir_all(state.join("runs")).unwrap();
        std::fs::create_dir_all(&ws).unwrap();
        let starting = state.join("runs/.123-456");
        let dead = state.join("runs/124-456");
        std::fs::write(&starting, b"").unwrap();
        std::fs::write(&dead, b"short").unwrap();
        let store = index::Store::open(&state).unwrap();
        let roots = vec![ws];
        let inp = scan_input(&roots, &state);
        assert!(recover(&store, &inp).unwrap().is_empty());
        assert!(starting.exists(), "a starting run's file was removed");
        assert!(!dead.exists(), "a dead run's unreadable file was kept");
    }

    /// Run files are slots, kept and reused: a run's check done leaves its slot idle (no file
    /// created or removed per run), a live run's slot (locked) and a dead run's unchecked one
    /// are not taken, and recovery checks the dead one and leaves it idle for reuse.
    #[test]
    fn run_files_are_reused_slots() {
        let t = tempfile::tempdir().unwrap();
        let state = t.path().join("state");
        let ws = t.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        let roots = vec![ws];
        let inp = scan_input(&roots, &state);
        let guard = || crate::scan::scan(&inp).unwrap().guard.unwrap();
        let slot = |n: usize| state.join(format!("runs/{SLOT_PREFIX}{n}"));
        let head = |n: usize| std::fs::read(slot(n)).unwrap()[..8].to_vec();
        let g1 = guard();
        begin(&g1).unwrap();
        assert_eq!(head(0), RUN_MAGIC);
        // A second run while the first is alive takes another slot.
        let g2 = guard();
        begin(&g2).unwrap();
        assert_eq!(head(1), RUN_MAGIC);
        assert!(after(&g1).is_empty() && after(&g2).is_empty());
        assert_eq!(head(0), RUN_IDLE);
        assert_eq!(head(1), RUN_IDLE);
        let ino =
            |n: usize| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(slot(n)).unwrap());
        let ino0 = ino(0);
        let g3 = guard();
        begin(&g3).unwrap();
        assert_eq!(ino(0), ino0, "the idle slot was not reused");
        assert_eq!(head(0), RUN_MAGIC);
        // g3 dies before its check: its slot is unlocked but not idle.
        if let Ok(mut r) = g3.run_file.lock() {
            r.take();
        }
        assert_eq!(pending_runs(&state), 1);
        // The next scan checks it (recovery) and leaves the slot idle.
        let _g4 = guard();
        assert_eq!(head(0), RUN_IDLE, "the dead run was not checked");
        assert_eq!(pending_runs(&state), 0);
        assert!(!slot(2).exists(), "a slot more than runs at once");
    }
}
