//! Reading a file that a sandboxed command could have changed, through one handle: the trusted
//! supervisor never re-resolves such a path between looking at it and using what it saw.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// What [`read_pinned`] read: the bytes and what the handle said about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFile {
    pub bytes: Vec<u8>,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub dev: u64,
    pub ino: u64,
}

/// The largest file read (a script, a package.json, a Makefile): beyond it, an error.
pub const MAX_PINNED: u64 = 16 << 20;

/// `path` (absolute, no `.`/`..` after [`lexical`]) opened through `openat2`, never following a
/// symlink in any component, and below `root` when it lies there (`RESOLVE_BENEATH` from a handle
/// on `root`). Only a regular file is read (a FIFO would block, a device would lie); it is opened
/// non-blocking, and read once. `Ok(None)`: it does not exist.
pub fn read_pinned(root: &Path, path: &Path) -> io::Result<Option<ReadFile>> {
    let path = lexical(path);
    let (base, rel) = match path.strip_prefix(root) {
        Ok(rel) if !rel.as_os_str().is_empty() => (root, rel),
        _ => (Path::new("/"), path.strip_prefix("/").unwrap_or(&path)),
    };
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let dir = open_how(
        None,
        base,
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        libc::RESOLVE_NO_SYMLINKS,
    )
    .map_err(named)?;
    let fd = match open_how(
        Some(&dir),
        rel,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(named(io::Error::new(
                e.kind(),
                "a symbolic link on the way (cordon reads such a file only where no link can redirect it)",
            )))
        }
        Err(e) => return Err(named(e)),
    };
    let mut f = File::from(fd);
    let meta = f.metadata().map_err(named)?;
    if !meta.file_type().is_file() {
        return Err(named(io::Error::other("not a regular file")));
    }
    if meta.len() > MAX_PINNED {
        return Err(named(io::Error::other(format!(
            "larger than {} MiB",
            MAX_PINNED >> 20
        ))));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&mut f)
        .take(MAX_PINNED + 1)
        .read_to_end(&mut bytes)
        .map_err(named)?;
    if bytes.len() as u64 > MAX_PINNED {
        return Err(named(io::Error::other("it grew while being read")));
    }
    Ok(Some(ReadFile {
        bytes,
        mode: meta.mode() & 0o7777,
        dev: meta.dev(),
        ino: meta.ino(),
    }))
}

/// `p` with `.` removed and `..` applied lexically (absolute in, absolute out). With symlinks
/// refused on the way, the lexical path is the real one.
pub fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

fn open_how(dir: Option<&OwnedFd>, path: &Path, flags: i32, resolve: u64) -> io::Result<OwnedFd> {
    crate::sys::fs::openat2(dir, path, flags, resolve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_only_and_no_links() {
        let d = tempfile_dir();
        let ws = d.as_path();
        std::fs::write(ws.join("s.sh"), "echo 1\n").unwrap();
        let r = read_pinned(ws, &ws.join("s.sh")).unwrap().unwrap();
        assert_eq!(r.bytes, b"echo 1\n");
        assert!(read_pinned(ws, &ws.join("nope")).unwrap().is_none());
        std::os::unix::fs::symlink("s.sh", ws.join("l.sh")).unwrap();
        assert!(read_pinned(ws, &ws.join("l.sh")).is_err());
        use std::os::unix::ffi::OsStrExt;
        let fifo = std::ffi::CString::new(ws.join("f").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        #[allow(unsafe_code)]
        let made = unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) };
        assert_eq!(made, 0);
        let e = read_pinned(ws, &ws.join("f")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert_eq!(
            lexical(Path::new("/a/./b/../c")),
            PathBuf::from("/a/c"),
            "lexical"
        );
        let _ = std::fs::remove_dir_all(ws);
    }

    fn tempfile_dir() -> PathBuf {
        let p = std::env::temp_dir().join(format!("cordon-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::canonicalize(&p).unwrap()
    }
}
