//! The one way cordon's own JSON files (the trust store, the grants) are written: to a temporary
//! file (mode 0600, fsync'd) in the same 0700 directory, renamed over the file; read-modify-write
//! under an exclusive lock on a file beside it, so that two cordon processes never lose each
//! other's change.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// What failed, for the caller's message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create its directory ({0})")]
    CreateDir(std::io::Error),
    #[error("cannot encode it ({0})")]
    Encode(serde_json::Error),
    #[error("cannot write it ({0})")]
    Write(std::io::Error),
    #[error("cannot lock {path} ({err})")]
    Lock { path: PathBuf, err: std::io::Error },
}

fn dir_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("/"))
}

/// Writes `value` as pretty JSON (and a newline) to `path`, atomically.
pub fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let dir = dir_of(path);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(StoreError::CreateDir)?;
    let mut body = serde_json::to_vec_pretty(value).map_err(StoreError::Encode)?;
    body.push(b'\n');
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        StoreError::Write(e)
    })
}

/// Reads and parses `path`; `Ok(None)` when it does not exist or is empty.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ReadError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(ReadError::Parse)
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("{0}")]
    Parse(serde_json::Error),
}

/// Read-modify-write of `path` under an exclusive lock on `lock` (beside it): `f` gets the
/// current content (`T::default()` when there is none) and may change it; it is written back
/// only when `f` succeeds.
pub fn update<T, R, E>(
    path: &Path,
    lock: &Path,
    read_err: impl FnOnce(ReadError) -> E,
    store_err: impl Fn(StoreError) -> E,
    f: impl FnOnce(&mut T) -> Result<R, E>,
) -> Result<R, E>
where
    T: Serialize + DeserializeOwned + Default,
{
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir_of(path))
        .map_err(|e| store_err(StoreError::CreateDir(e)))?;
    let lock_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(lock)
        .map_err(|err| {
            store_err(StoreError::Lock {
                path: lock.to_path_buf(),
                err,
            })
        })?;
    cordon_sandbox::host::lock_exclusive(&lock_file).map_err(|err| {
        store_err(StoreError::Lock {
            path: lock.to_path_buf(),
            err,
        })
    })?;
    let mut value: T = read(path).map_err(read_err)?.unwrap_or_default();
    let out = f(&mut value)?;
    write(path, &value).map_err(&store_err)?;
    Ok(out)
}
