//! The per-workspace index: every directory under the writable roots, with its device, inode,
//! ctime, child directories and the few entries whose names matter ("marks": secret files,
//! `.git`, agent and editor configs, the names that make a directory a git directory).
//!
//! It makes two things cheap that would otherwise walk the whole tree at every run: finding the
//! secrets and repositories before a run, and finding what the run created or changed after it.
//!
//! Why ctime: no process can set a ctime (any change sets it to now; `utimensat` cannot touch it;
//! the sandbox cannot change the clock), and a directory's ctime changes whenever an entry is
//! added to, removed from or renamed in it. So a directory whose device, inode and ctime are what
//! the index recorded has the same entries, and only its recorded child directories need a look.
//! Two caveats, handled as git handles its "racily clean" index entries:
//! - a ctime is only as fine as the file system's clock: a change in the same tick as the
//!   recorded ctime would leave it equal. A directory whose ctime was within [`RACY_MS`] of the
//!   moment it was recorded (or [`RACY_COARSE_MS`] when its ctime has no sub-second part, as on
//!   file systems with coarse timestamps) is recorded as unstable, and read again next time;
//! - the ctime is read before the entries (fstat, then getdents): a change in between makes the
//!   recorded ctime older than the entries, so the directory is read again, never skipped.
//!
//! Everything is read through handles (`openat` with `O_NOFOLLOW` from the parent's descriptor):
//! a symlink is never followed, whatever a command left in the tree. The file lives in the
//! workspace's state directory, out of the sandbox's reach; it carries a checksum, and anything
//! unreadable means a full walk.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::handles::{self, Entry, Stat, Ts};

/// A directory whose ctime is this close to when it was recorded is read again next time.
pub const RACY_MS: i64 = 50;
/// The same when the ctime has no sub-second part (coarse timestamps: FAT, some network
/// file systems).
pub const RACY_COARSE_MS: i64 = 2_100;

/// Directory names whose trees tools regenerate (dependencies, build output, caches).
pub const REGENERATED: &[&str] = &[
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
];

/// Entry names recorded as marks (see the module comment). Changing this list changes what an
/// index means: bump [`FORMAT`].
pub fn is_mark(name: &[u8]) -> bool {
    if let Ok(s) = std::str::from_utf8(name) {
        if crate::protected::is_secret_file_name(s) {
            return true;
        }
        return s == ".git"
            || GIT_NAMES.contains(&s)
            || crate::protected::agent_config_name(s).is_some()
            || crate::protected::HOOK_MANAGER_CONFIGS
                .iter()
                .any(|(n, _)| *n == s)
            || crate::protected::AGENT_CONFIGS_IN
                .iter()
                .any(|(_, n, _)| *n == s);
    }
    false
}

/// Entries that make a directory a git directory, or that git reads in one.
pub const GIT_NAMES: &[&str] = &[
    "HEAD",
    "objects",
    "refs",
    "commondir",
    "config",
    "config.worktree",
    "gitdir",
    "hooks",
    "info",
    "worktrees",
    "modules",
    "rebase-merge",
    "git-rebase-todo",
];

const FORMAT: &[u8; 16] = b"cordon-index\0\0\0\x05";

/// Flags of a directory.
pub const SKIPPED: u8 = 1;
/// Looks like a git directory: `HEAD` and either `commondir` or `objects` + `refs`.
pub const GIT_DIR: u8 = 2;
/// Is or lies in a regenerated tree ([`REGENERATED`]).
pub const REGEN: u8 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub name: Box<[u8]>,
    pub ino: u64,
    pub dtype: u8,
    /// A secret file that is covered (set by `guard::classify`; kept across runs so that a
    /// secret stays one wherever it is moved: its inode does not change).
    pub covered: bool,
}

#[derive(Debug, Clone)]
pub struct Dir {
    /// Index of the parent in the tree; `u32::MAX` for the root.
    pub parent: u32,
    /// Name in the parent (empty for the root).
    pub name: Box<[u8]>,
    pub dev: u64,
    pub ino: u64,
    pub ctime: Ts,
    /// Recorded far enough from its ctime to be trusted next time.
    pub stable: bool,
    pub flags: u8,
    /// Entries in it (for the size limit).
    pub entries: u32,
    pub marks: Vec<Mark>,
    pub children: Vec<u32>,
}

impl Dir {
    pub fn mark(&self, name: &[u8]) -> Option<&Mark> {
        self.marks.iter().find(|m| &*m.name == name)
    }
    pub fn has(&self, name: &str) -> bool {
        self.mark(name.as_bytes()).is_some()
    }
}

/// The directories under one writable root, in preorder (a parent before its children).
#[derive(Debug, Clone)]
pub struct Tree {
    pub root: PathBuf,
    pub dirs: Vec<Dir>,
}

impl Tree {
    /// The absolute path of directory `i`.
    pub fn path(&self, i: u32) -> PathBuf {
        let mut parts = Vec::new();
        let mut cur = i;
        while cur != u32::MAX {
            let d = &self.dirs[cur as usize];
            if d.parent != u32::MAX {
                parts.push(&d.name);
            }
            cur = d.parent;
        }
        let mut p = self.root.clone();
        for n in parts.iter().rev() {
            p.push(std::ffi::OsStr::from_bytes(n));
        }
        p
    }

    /// The path of directory `i` relative to the root.
    pub fn rel(&self, i: u32) -> PathBuf {
        self.path(i)
            .strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    pub fn child(&self, i: u32, name: &[u8]) -> Option<u32> {
        self.dirs[i as usize]
            .children
            .iter()
            .copied()
            .find(|c| &*self.dirs[*c as usize].name == name)
    }

    /// Total entries recorded.
    pub fn entries(&self) -> u64 {
        self.dirs.iter().map(|d| d.entries as u64).sum()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Index {
    pub trees: Vec<Tree>,
}

impl Index {
    pub fn tree(&self, root: &Path) -> Option<&Tree> {
        self.trees.iter().find(|t| t.root == root)
    }
}

/// What changed between the previous index and this walk.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    /// (tree, dir) of directories that were not in the previous index (new, or another inode).
    pub new_dirs: Vec<(usize, u32)>,
    /// Directories read again whose marks are new (or another inode), or that became git
    /// directories.
    pub new_marks: Vec<NewMarks>,
    /// Directories read (getdents) in this walk, and entries read.
    pub dirs_read: u64,
    pub entries_read: u64,
    /// Directories checked (statx) in this walk.
    pub dirs_seen: u64,
    /// A full walk (no previous index for a root).
    pub full: bool,
}

#[derive(Debug, Clone)]
pub struct NewMarks {
    pub tree: usize,
    pub dir: u32,
    pub names: Vec<Box<[u8]>>,
    /// It was a git directory before.
    pub was_git_dir: bool,
}

/// The walk stopped at the entry limit.
#[derive(Debug)]
pub struct LimitReached {
    pub root: PathBuf,
    pub limit: u64,
    /// The largest directories below the root (path, entries under it), largest first.
    pub largest: Vec<(PathBuf, u64)>,
}

pub enum WalkError {
    Limit(LimitReached),
    Io(io::Error),
}

impl From<io::Error> for WalkError {
    fn from(e: io::Error) -> WalkError {
        WalkError::Io(e)
    }
}

struct Walker<'a> {
    skip: &'a [PathBuf],
    /// Entries left before the limit.
    budget: u64,
    limit: u64,
    t0: Ts,
    changes: Changes,
    tree_no: usize,
}

fn stable(ctime: Ts, t0: Ts) -> bool {
    let window = if ctime.nsec == 0 {
        RACY_COARSE_MS
    } else {
        RACY_MS
    };
    ctime < t0.minus_ms(window)
}

/// Walks `roots` against `old`: unchanged directories are not read again. `skip`: directories
/// not to read (covered secrets: nothing can be planted in them). `limit`: the most entries the
/// trees may hold in total.
pub fn walk(
    old: Option<&Index>,
    roots: &[PathBuf],
    skip: &[PathBuf],
    limit: u64,
) -> Result<(Index, Changes), WalkError> {
    let mut w = Walker {
        skip,
        budget: limit,
        limit,
        t0: Ts::now(),
        changes: Changes::default(),
        tree_no: 0,
    };
    let mut idx = Index::default();
    for (n, root) in roots.iter().enumerate() {
        w.tree_no = n;
        let old_tree = old.and_then(|o| o.tree(root));
        if old_tree.is_none() {
            w.changes.full = true;
        }
        let mut tree = Tree {
            root: root.clone(),
            dirs: Vec::new(),
        };
        let fd =
            handles::open_no_symlinks(root, libc::O_PATH | libc::O_DIRECTORY).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot open {}: {e}", root.display()))
            })?;
        let st = handles::fstat(fd.as_fd())?;
        let mut path = root.clone();
        let r = w.visit_opened(
            fd,
            st,
            b"",
            u32::MAX,
            &mut path,
            old_tree.map(|t| (t, 0u32)),
            false,
            &mut tree,
        );
        match r {
            Ok(()) => {}
            Err(WalkError::Limit(mut l)) => {
                l.root = root.clone();
                l.largest = largest(&tree);
                return Err(WalkError::Limit(l));
            }
            Err(e) => return Err(e),
        }
        idx.trees.push(tree);
    }
    Ok((idx, w.changes))
}

/// The root's children with the most entries below them (for the limit's message).
fn largest(tree: &Tree) -> Vec<(PathBuf, u64)> {
    let mut below = vec![0u64; tree.dirs.len()];
    for i in (0..tree.dirs.len()).rev() {
        below[i] += tree.dirs[i].entries as u64;
        let p = tree.dirs[i].parent;
        if p != u32::MAX {
            below[p as usize] += below[i];
        }
    }
    let mut v: Vec<(PathBuf, u64)> = match tree.dirs.first() {
        Some(r) => r
            .children
            .iter()
            .map(|c| (tree.path(*c), below[*c as usize]))
            .collect(),
        None => Vec::new(),
    };
    v.sort_by_key(|x| std::cmp::Reverse(x.1));
    v.truncate(3);
    v
}

fn is_regenerated(name: &[u8]) -> bool {
    REGENERATED.iter().any(|r| r.as_bytes() == name)
}

impl Walker<'_> {
    fn take(&mut self, n: u64) -> Result<(), WalkError> {
        if n > self.budget {
            return Err(WalkError::Limit(LimitReached {
                root: PathBuf::new(),
                limit: self.limit,
                largest: Vec::new(),
            }));
        }
        self.budget -= n;
        Ok(())
    }

    /// A child directory `name` of the directory open at `parent`.
    #[allow(clippy::too_many_arguments)]
    fn visit_child(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        parent_idx: u32,
        path: &mut PathBuf,
        old: Option<(&Tree, u32)>,
        regen: bool,
        tree: &mut Tree,
    ) -> Result<(), WalkError> {
        let st = match handles::statx_at(parent, name, false) {
            Ok(s) => s,
            // Vanished since the parent was read: nothing there.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if !st.is_dir() {
            return Ok(());
        }
        self.changes.dirs_seen += 1;
        let old = old.filter(|(t, i)| {
            let d = &t.dirs[*i as usize];
            d.dev == st.dev && d.ino == st.ino
        });
        // An unchanged leaf: no need to open it.
        if let Some((t, i)) = old {
            let d = &t.dirs[i as usize];
            if self.unchanged(d, &st, path) && d.children.is_empty() {
                self.take(d.entries as u64)?;
                push(tree, parent_idx, d, st.ctime);
                return Ok(());
            }
        }
        let fd = match handles::open_entry(parent, name, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT) | Some(libc::ELOOP) | Some(libc::ENOTDIR)
                ) =>
            {
                return Ok(())
            }
            Err(e) => return Err(e.into()),
        };
        let st2 = handles::fstat(fd.as_fd())?;
        if !st2.same(&st) {
            // Replaced between the two calls: read what is there now, as new.
            return self.visit_opened(fd, st2, name, parent_idx, path, None, regen, tree);
        }
        self.visit_opened(fd, st, name, parent_idx, path, old, regen, tree)
    }

    fn unchanged(&self, d: &Dir, st: &Stat, path: &Path) -> bool {
        d.stable
            && d.ctime == st.ctime
            && (d.flags & SKIPPED != 0) == self.skip.iter().any(|s| s == path)
    }

    /// What is new in the directory `dir` just read (index `me`), against the previous index.
    fn note_changes(&mut self, dir: &Dir, me: u32, old: Option<(&Tree, u32)>) {
        match old {
            None => self.changes.new_dirs.push((self.tree_no, me)),
            Some((t, i)) => {
                let od = &t.dirs[i as usize];
                let fresh: Vec<Box<[u8]>> = dir
                    .marks
                    .iter()
                    .filter(|m| {
                        od.mark(&m.name)
                            .is_none_or(|o| o.ino != m.ino || o.dtype != m.dtype)
                    })
                    .map(|m| m.name.clone())
                    .collect();
                if !fresh.is_empty() || (dir.flags & GIT_DIR != 0 && od.flags & GIT_DIR == 0) {
                    self.changes.new_marks.push(NewMarks {
                        tree: self.tree_no,
                        dir: me,
                        names: fresh,
                        was_git_dir: od.flags & GIT_DIR != 0,
                    });
                }
            }
        }
    }

    /// The directory open (O_PATH) at `fd`, whose stat is `st`.
    #[allow(clippy::too_many_arguments)]
    fn visit_opened(
        &mut self,
        fd: OwnedFd,
        st: Stat,
        name: &[u8],
        parent_idx: u32,
        path: &mut PathBuf,
        old: Option<(&Tree, u32)>,
        regen: bool,
        tree: &mut Tree,
    ) -> Result<(), WalkError> {
        let regen = regen || is_regenerated(name);
        if let Some((t, i)) = old {
            let d = &t.dirs[i as usize];
            if self.unchanged(d, &st, path) {
                self.take(d.entries as u64)?;
                let me = push(tree, parent_idx, d, st.ctime);
                for c in &d.children {
                    let cd = &t.dirs[*c as usize];
                    path.push(std::ffi::OsStr::from_bytes(&cd.name));
                    let r = self.visit_child(
                        fd.as_fd(),
                        &cd.name,
                        me,
                        path,
                        Some((t, *c)),
                        regen,
                        tree,
                    );
                    path.pop();
                    r?;
                }
                return Ok(());
            }
        }
        // Read it: stat first, then the entries (see the module comment).
        let me = tree.dirs.len() as u32;
        let mut dir = Dir {
            parent: parent_idx,
            name: name.into(),
            dev: st.dev,
            ino: st.ino,
            ctime: st.ctime,
            stable: false,
            flags: if regen { REGEN } else { 0 },
            entries: 0,
            marks: Vec::new(),
            children: Vec::new(),
        };
        if self.skip.iter().any(|s| s == path) {
            dir.flags |= SKIPPED;
            dir.stable = stable(st.ctime, self.t0);
            link(tree, dir);
            return Ok(());
        }
        let rfd = handles::open_beneath(
            fd.as_fd(),
            Path::new("."),
            libc::O_RDONLY | libc::O_DIRECTORY,
        )?;
        let st = handles::fstat(rfd.as_fd())?;
        dir.ctime = st.ctime;
        dir.stable = stable(st.ctime, self.t0);
        let mut budget = self.budget;
        let entries = match handles::read_dir(rfd.as_fd(), &mut budget) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
                return Err(WalkError::Limit(LimitReached {
                    root: PathBuf::new(),
                    limit: self.limit,
                    largest: Vec::new(),
                }))
            }
            Err(e) => return Err(e.into()),
        };
        self.budget = budget;
        self.changes.dirs_read += 1;
        self.changes.entries_read += entries.len() as u64;
        dir.entries = entries.len().min(u32::MAX as usize) as u32;
        let mut subdirs: Vec<Vec<u8>> = Vec::new();
        for Entry { name, ino, dtype } in entries {
            let mut dtype = dtype;
            let mark = is_mark(&name);
            if dtype == libc::DT_UNKNOWN {
                match handles::statx_at(rfd.as_fd(), &name, false) {
                    Ok(s) => dtype = handles::dtype_of(&s),
                    Err(_) => continue,
                }
            }
            if mark {
                dir.marks.push(Mark {
                    name: name.clone().into(),
                    ino,
                    dtype,
                    covered: false,
                });
            }
            if dtype == libc::DT_DIR {
                subdirs.push(name);
            }
        }
        if dir.has("HEAD") && (dir.has("commondir") || (dir.has("objects") && dir.has("refs"))) {
            dir.flags |= GIT_DIR;
        }
        self.note_changes(&dir, me, old);
        link(tree, dir);
        for n in subdirs {
            let old_child = old.and_then(|(t, i)| t.child(i, &n).map(|c| (t, c)));
            path.push(std::ffi::OsStr::from_bytes(&n));
            let r = self.visit_child(rfd.as_fd(), &n, me, path, old_child, regen, tree);
            path.pop();
            r?;
        }
        Ok(())
    }
}

/// Appends a copy of `d` (unchanged) under `parent`; returns its index.
fn push(tree: &mut Tree, parent: u32, d: &Dir, ctime: Ts) -> u32 {
    link(
        tree,
        Dir {
            parent,
            name: d.name.clone(),
            dev: d.dev,
            ino: d.ino,
            ctime,
            stable: d.stable,
            flags: d.flags,
            entries: d.entries,
            marks: d.marks.clone(),
            children: Vec::new(),
        },
    )
}

fn link(tree: &mut Tree, d: Dir) -> u32 {
    let me = tree.dirs.len() as u32;
    if d.parent != u32::MAX {
        tree.dirs[d.parent as usize].children.push(me);
    }
    tree.dirs.push(d);
    me
}

// ---------------------------------------------------------------------------------------------
// On disk.

/// FNV-1a, 64 bits: the file is out of the sandbox's reach; this catches truncation and bit rot.
fn fnv(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= *x as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub fn encode(idx: &Index) -> Vec<u8> {
    let mut b = Vec::with_capacity(64 * 1024);
    b.extend_from_slice(FORMAT);
    b.extend_from_slice(&(idx.trees.len() as u32).to_le_bytes());
    for t in &idx.trees {
        let p = t.root.as_os_str().as_bytes();
        b.extend_from_slice(&(p.len() as u32).to_le_bytes());
        b.extend_from_slice(p);
        b.extend_from_slice(&(t.dirs.len() as u32).to_le_bytes());
        for d in &t.dirs {
            b.extend_from_slice(&d.parent.to_le_bytes());
            b.extend_from_slice(&(d.name.len() as u16).to_le_bytes());
            b.extend_from_slice(&d.name);
            b.extend_from_slice(&d.dev.to_le_bytes());
            b.extend_from_slice(&d.ino.to_le_bytes());
            b.extend_from_slice(&d.ctime.sec.to_le_bytes());
            b.extend_from_slice(&d.ctime.nsec.to_le_bytes());
            b.push(d.stable as u8);
            b.push(d.flags);
            b.extend_from_slice(&d.entries.to_le_bytes());
            b.extend_from_slice(&(d.marks.len() as u16).to_le_bytes());
            for m in &d.marks {
                b.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
                b.extend_from_slice(&m.name);
                b.extend_from_slice(&m.ino.to_le_bytes());
                b.push(m.dtype);
                b.push(m.covered as u8);
            }
        }
    }
    let h = fnv(&b);
    b.extend_from_slice(&h.to_le_bytes());
    b
}

/// Reads little-endian fields off a byte slice, in order; None once it runs short. The
/// index's format, and the run files' watched paths (neutralise.rs).
pub(crate) struct R<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> R<'a> {
    pub(crate) fn new(b: &'a [u8]) -> R<'a> {
        R { b, i: 0 }
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_le_bytes([s[0], s[1]]))
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_le_bytes)
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_le_bytes)
    }
}

pub fn decode(b: &[u8]) -> Option<Index> {
    if b.len() < FORMAT.len() + 12 || &b[..FORMAT.len()] != FORMAT {
        return None;
    }
    let (body, sum) = b.split_at(b.len() - 8);
    if fnv(body) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let mut r = R::new(body);
    r.take(FORMAT.len())?;
    let mut idx = Index::default();
    for _ in 0..r.u32()? {
        let n = r.u32()? as usize;
        let root = PathBuf::from(std::ffi::OsStr::from_bytes(r.take(n)?));
        let ndirs = r.u32()? as usize;
        let mut tree = Tree {
            root,
            dirs: Vec::with_capacity(ndirs.min(1 << 24)),
        };
        for i in 0..ndirs {
            let parent = r.u32()?;
            if (parent == u32::MAX) != (i == 0) || (parent != u32::MAX && parent as usize >= i) {
                return None;
            }
            let nl = r.u16()? as usize;
            let name: Box<[u8]> = r.take(nl)?.into();
            let dev = r.u64()?;
            let ino = r.u64()?;
            let sec = r.u64()? as i64;
            let nsec = r.u32()?;
            let stable = r.u8()? != 0;
            let flags = r.u8()?;
            let entries = r.u32()?;
            let nm = r.u16()? as usize;
            let mut marks = Vec::with_capacity(nm);
            for _ in 0..nm {
                let l = r.u16()? as usize;
                let name: Box<[u8]> = r.take(l)?.into();
                let ino = r.u64()?;
                let dtype = r.u8()?;
                let covered = r.u8()? != 0;
                marks.push(Mark {
                    name,
                    ino,
                    dtype,
                    covered,
                });
            }
            link(
                &mut tree,
                Dir {
                    parent,
                    name,
                    dev,
                    ino,
                    ctime: Ts { sec, nsec },
                    stable,
                    flags,
                    entries,
                    marks,
                    children: Vec::new(),
                },
            );
        }
        idx.trees.push(tree);
    }
    (r.i == body.len()).then_some(idx)
}

/// The index file of a workspace state directory, with its lock.
pub struct Store {
    dir: PathBuf,
    lock: std::fs::File,
}

impl Store {
    /// Opens (creating it, mode 0700) the state directory and takes its lock (exclusive,
    /// blocking: another run of the same workspace holds it only while it walks).
    pub fn open(dir: &Path) -> io::Result<Store> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("create {}: {e}", dir.display())))?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(dir.join("index.lock"))
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{}: {e}", dir.join("index.lock").display()),
                )
            })?;
        crate::sys::fs::flock(std::os::fd::AsFd::as_fd(&lock), libc::LOCK_EX)?;
        Ok(Store {
            dir: dir.to_path_buf(),
            lock,
        })
    }

    pub fn load(&self) -> Option<Index> {
        let mut f = std::fs::File::open(self.dir.join("index")).ok()?;
        let mut b = Vec::new();
        f.read_to_end(&mut b).ok()?;
        decode(&b)
    }

    /// Writes the index, in place, and only if its bytes changed.
    ///
    /// Why not a new file renamed over the old one: ext4 (`auto_da_alloc`, on by default)
    /// flushes a file renamed over another, or truncated to zero, to disk right away, which
    /// cost 0.2 to 2 ms per save on every run (twice: before and after). In place is as safe
    /// here: every reader and writer holds the store's lock (no one sees a half-written file
    /// while cordon runs), and a file torn by a crash fails its checksum or its length check
    /// in [`decode`], which means a full walk, as with no index at all. A stale index is never
    /// unsafe either: a directory whose ctime moved on is read again.
    pub fn save(&self, idx: &Index) -> io::Result<()> {
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        let new = encode(idx);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(self.dir.join("index"))?;
        let mut old = Vec::with_capacity(new.len() + 1);
        // One byte more than the new index: a longer file is a change too.
        (&mut f).take(new.len() as u64 + 1).read_to_end(&mut old)?;
        if old == new {
            return Ok(());
        }
        f.write_all_at(&new, 0)?;
        if old.len() > new.len() {
            f.set_len(new.len() as u64)?;
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // The lock goes with the descriptor; nothing else to do.
        let _ = &self.lock;
    }
}

/// Marks of every directory, by (tree, path relative to the root): for tests and tools.
pub fn all_marks(idx: &Index) -> HashMap<PathBuf, Vec<String>> {
    let mut m = HashMap::new();
    for t in &idx.trees {
        for (i, d) in t.dirs.iter().enumerate() {
            if !d.marks.is_empty() {
                m.insert(
                    t.path(i as u32),
                    d.marks
                        .iter()
                        .map(|x| String::from_utf8_lossy(&x.name).into_owned())
                        .collect(),
                );
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cordon-index-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::canonicalize(&d).unwrap()
    }

    /// Makes every recorded directory look stable (as it would after the racy window).
    fn settle(idx: &mut Index) {
        for t in &mut idx.trees {
            for d in &mut t.dirs {
                d.stable = true;
            }
        }
    }

    #[test]
    fn walks_then_sees_only_what_changed() {
        let d = tmp("walk");
        std::fs::create_dir_all(d.join("a/b/c")).unwrap();
        std::fs::create_dir_all(d.join("node_modules/x/.git")).unwrap();
        std::fs::write(d.join("a/b/.env"), "x").unwrap();
        std::fs::write(d.join("a/notes.txt"), "x").unwrap();
        let roots = vec![d.clone()];
        let Ok((mut idx, ch)) = walk(None, &roots, &[], 1000) else {
            panic!()
        };
        assert!(ch.full);
        assert_eq!(ch.dirs_read as usize, idx.trees[0].dirs.len());
        let marks = all_marks(&idx);
        assert_eq!(marks[&d.join("a/b")], vec![".env".to_string()]);
        assert_eq!(marks[&d.join("node_modules/x")], vec![".git".to_string()]);
        let nm = idx.trees[0].child(0, b"node_modules").unwrap();
        assert!(idx.trees[0].dirs[nm as usize].flags & REGEN != 0);
        // Encoded and decoded: the same.
        settle(&mut idx);
        let back = decode(&encode(&idx)).unwrap();
        assert_eq!(back.trees[0].dirs.len(), idx.trees[0].dirs.len());
        // Nothing changed: nothing read.
        let Ok((_, ch)) = walk(Some(&back), &roots, &[], 1000) else {
            panic!()
        };
        assert_eq!(ch.dirs_read, 0);
        assert!(ch.new_dirs.is_empty() && ch.new_marks.is_empty());
        // A new secret deep down, a new directory: only the changed directories are read.
        std::fs::write(d.join("a/b/c/id_rsa"), "k").unwrap();
        std::fs::create_dir_all(d.join("a/new/.claude")).unwrap();
        let Ok((idx2, ch)) = walk(Some(&back), &roots, &[], 1000) else {
            panic!()
        };
        assert_eq!(ch.dirs_read, 4, "{ch:?}"); // a, a/b/c, a/new, a/new/.claude
        let marks = all_marks(&idx2);
        assert_eq!(marks[&d.join("a/b/c")], vec!["id_rsa".to_string()]);
        assert_eq!(marks[&d.join("a/new")], vec![".claude".to_string()]);
        assert_eq!(ch.new_dirs.len(), 2);
        // The limit.
        assert!(matches!(
            walk(None, &roots, &[], 5),
            Err(WalkError::Limit(_))
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_swapped_directory_is_read_as_new() {
        let d = tmp("swap");
        std::fs::create_dir_all(d.join("s/.git")).unwrap();
        let roots = vec![d.clone()];
        let Ok((mut idx, _)) = walk(None, &roots, &[], 1000) else {
            panic!()
        };
        settle(&mut idx);
        std::fs::rename(d.join("s/.git"), d.join("s/old")).unwrap();
        std::fs::create_dir_all(d.join("s/.git/hooks")).unwrap();
        let Ok((_, ch)) = walk(Some(&idx), &roots, &[], 1000) else {
            panic!()
        };
        // s was read again: its .git is another inode.
        assert_eq!(ch.new_marks.len(), 1);
        assert_eq!(&*ch.new_marks[0].names[0], b".git");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn skipped_and_symlinked_directories_are_not_read() {
        let d = tmp("skip");
        std::fs::create_dir_all(d.join("secret/deep")).unwrap();
        std::fs::write(d.join("secret/deep/.env"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", d.join("etc-link")).unwrap();
        let roots = vec![d.clone()];
        let Ok((idx, _)) = walk(None, &roots, &[d.join("secret")], 1000) else {
            panic!()
        };
        assert!(all_marks(&idx).is_empty());
        assert_eq!(idx.trees[0].dirs.len(), 2); // root, secret (skipped)
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn saved_in_place_shorter_or_longer() {
        let d = tmp("store");
        let state = d.join("state");
        std::fs::create_dir_all(d.join("w/a/b")).unwrap();
        let roots = vec![d.join("w")];
        let Ok((big, _)) = walk(None, &roots, &[], 1000) else {
            panic!()
        };
        std::fs::remove_dir_all(d.join("w/a")).unwrap();
        let Ok((small, _)) = walk(None, &roots, &[], 1000) else {
            panic!()
        };
        let s = Store::open(&state).unwrap();
        assert!(s.load().is_none());
        for idx in [&big, &small, &small, &big] {
            s.save(idx).unwrap();
            assert_eq!(std::fs::read(state.join("index")).unwrap(), encode(idx));
            assert_eq!(
                s.load().unwrap().trees[0].dirs.len(),
                idx.trees[0].dirs.len()
            );
        }
        drop(s);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn corrupt_files_are_refused() {
        let d = tmp("corrupt");
        let Ok((idx, _)) = walk(None, std::slice::from_ref(&d), &[], 1000) else {
            panic!()
        };
        let mut b = encode(&idx);
        assert!(decode(&b).is_some());
        let n = b.len();
        b[n / 2] ^= 1;
        assert!(decode(&b).is_none());
        assert!(decode(&b[..n - 3]).is_none());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
