//! Landlock: the second, independent fence on the file system (the first is the mount
//! namespace). In the no-namespace fallback it is the only one.
//!
//! Landlock is an allow-list of file hierarchies: a right granted on a directory holds for
//! everything below it. To make a secret unreadable below a readable directory, cordon "carves":
//! instead of granting read on `/`, it grants read on each child of `/` except the one leading to
//! the secret, and so on down to the secret's parent. Listing directories (ReadDir) stays granted
//! on `/` as a whole: names are visible, contents are not. In the fallback `/dev` is carved out
//! the same way and only the devices a command needs are granted (see `exec::build_fence`).
//!
//! The ruleset is built in the supervisor before fork (so its cost is paid once, outside the
//! child), rules for the sandbox's own fresh /tmp, /dev and /proc are added by the sandbox's init
//! after it mounts them, and the command's process calls `restrict_self` just before execve.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

/// The newest ABI whose rights cordon asks for; older kernels get what they support
/// (best effort), and `doctor` reports the ABI actually in force.
const WANT: ABI = ABI::V9;

/// The Landlock ABI version of the running kernel (0 = unavailable).
pub fn kernel_abi() -> i32 {
    crate::sys::fs::landlock_abi()
}

fn read_rights() -> BitFlags<AccessFs> {
    AccessFs::ReadFile | AccessFs::Execute
}

fn all_rights() -> BitFlags<AccessFs> {
    AccessFs::from_all(WANT)
}

fn file_rights() -> BitFlags<AccessFs> {
    AccessFs::from_file(WANT)
}

/// A ruleset under construction.
pub struct Fence {
    rs: RulesetCreated,
}

fn ll_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("Landlock: {e}"))
}

/// Opens `name` under `dir` (or an absolute path when `dir` is None) as O_PATH, never following
/// a symlink: a rule granted through a symlink would land on its target.
fn open_path(dir: Option<&OwnedFd>, name: &Path) -> io::Result<OwnedFd> {
    crate::sys::fs::open_path_nofollow(dir, name)
}

fn fd_kind(fd: &OwnedFd) -> Option<libc::mode_t> {
    use std::os::fd::AsFd;
    crate::sys::fs::fstat(fd.as_fd())
        .ok()
        .map(|(mode, _)| mode & libc::S_IFMT)
}

impl Fence {
    /// A new ruleset handling every file-system right of the newest ABI, and scoping abstract
    /// unix sockets and signals (ABI 6) to the sandbox.
    pub fn new() -> io::Result<Fence> {
        let rs = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(WANT))
            .map_err(ll_err)?
            .scope(Scope::AbstractUnixSocket | Scope::Signal)
            .map_err(ll_err)?
            .create()
            .map_err(ll_err)?;
        Ok(Fence { rs })
    }

    /// Grants `access` on the hierarchy at `fd`, masked to file rights when it is not a directory.
    fn grant_fd(&mut self, fd: OwnedFd, access: BitFlags<AccessFs>) -> io::Result<()> {
        let kind = fd_kind(&fd);
        if kind == Some(libc::S_IFLNK) {
            return Ok(()); // a symlink is resolved at use, and checked on its target
        }
        let access = if kind == Some(libc::S_IFDIR) {
            access
        } else {
            access & file_rights()
        };
        if access.is_empty() {
            return Ok(());
        }
        (&mut self.rs)
            .add_rule(PathBeneath::new(fd, access))
            .map_err(ll_err)?;
        Ok(())
    }

    /// Grants `access` on `path` (absolute). A missing path is skipped.
    pub fn grant(&mut self, path: &Path, access: BitFlags<AccessFs>) -> io::Result<()> {
        match open_path(None, path) {
            Ok(fd) => self.grant_fd(fd, access),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("Landlock rule for {}: {e}", path.display()),
            )),
        }
    }

    /// Grants `access` on `root` and everything below it, except the hierarchies in `holes`.
    /// Directories on the way from `root` to a hole get no rule of their own: their children do.
    pub fn grant_carved(
        &mut self,
        root: &Path,
        access: BitFlags<AccessFs>,
        holes: &[PathBuf],
    ) -> io::Result<()> {
        let holes: Vec<&PathBuf> = holes.iter().filter(|h| h.starts_with(root)).collect();
        if holes.iter().any(|h| h.as_path() == root) {
            return Ok(());
        }
        if holes.is_empty() {
            return self.grant(root, access);
        }
        let dir = match open_path(None, root) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let entries = match std::fs::read_dir(root) {
            Ok(rd) => rd,
            // Unreadable directory: nothing below it can be granted by name; it stays closed.
            Err(_) => return Ok(()),
        };
        for ent in entries.flatten() {
            let child = root.join(ent.file_name());
            let holes_below: Vec<PathBuf> = holes
                .iter()
                .filter(|h| h.starts_with(&child))
                .map(|h| (*h).clone())
                .collect();
            if holes_below.is_empty() {
                match open_path(Some(&dir), Path::new(&ent.file_name())) {
                    Ok(fd) => self.grant_fd(fd, access)?,
                    Err(_) => continue, // vanished or unreadable
                }
            } else {
                self.grant_carved(&child, access, &holes_below)?;
            }
        }
        Ok(())
    }

    /// Read access to the whole machine except `secrets`, listing everywhere.
    pub fn grant_machine_read(&mut self, secrets: &[PathBuf]) -> io::Result<()> {
        self.grant(Path::new("/"), AccessFs::ReadDir.into())?;
        self.grant_carved(Path::new("/"), read_rights(), secrets)
    }

    /// Read, write and ioctl on the terminal `fd` is open on (one of the command's standard
    /// descriptors), by its path in /dev, if it is a terminal. The rule is on that device
    /// node only: the user's other terminals (`/dev/pts/*`) stay closed, since reading one
    /// takes the keystrokes typed there (passwords included) and writing one fakes its output.
    /// The node opened must be the device `fd` is on (checked by st_rdev), not what a path
    /// might have become.
    pub fn grant_terminal(&mut self, fd: std::os::fd::RawFd) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let Some(dev) = crate::sys::fs::char_device(fd) else {
            return Ok(());
        };
        let Some(path) = crate::sys::fs::terminal_path(fd) else {
            return Ok(());
        };
        let Ok(node) = open_path(None, &path) else {
            return Ok(());
        };
        if crate::sys::fs::char_device(node.as_raw_fd()) != Some(dev) {
            return Ok(());
        }
        self.grant_fd(
            node,
            AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev,
        )
    }

    /// Every right on a writable root, except below `holes` (fallback mode: secrets and
    /// protected paths inside the root).
    pub fn grant_writable(&mut self, root: &Path, holes: &[PathBuf]) -> io::Result<()> {
        self.grant_carved(root, all_rights(), holes)
    }

    /// Read and execute on a socket-proof view (sockets.rs), from inside the sandbox, except the
    /// `secrets` inside it. Its files are overlay inodes: the rule the machine-wide grant put on
    /// the real directory is on the mount point below the overlay, which Landlock's walk up
    /// skips, and so are the real secrets' carve-outs. The carve is made again here, on the
    /// view's own inodes (the secrets' covers are mounted on the view by then, by path), so
    /// this grants what the machine-wide rules granted there: nothing on a secret.
    pub fn grant_view(&mut self, path: &Path, secrets: &[PathBuf]) -> io::Result<()> {
        self.grant_carved(path, read_rights() | AccessFs::ReadDir, secrets)
    }

    pub fn grant_all(&mut self, path: &Path) -> io::Result<()> {
        self.grant(path, all_rights())
    }

    /// Every right on the hierarchy at `fd` (an open directory or mount, e.g. a tool cache's
    /// overlay attached in the sandbox: the rule is on that inode, whatever its path).
    pub fn grant_all_fd(&mut self, fd: OwnedFd) -> io::Result<()> {
        self.grant_fd(fd, all_rights())
    }

    /// /proc: read only. Some /proc files are writable by file mode alone, with no capability
    /// check (`/proc/sysrq-trigger` is mode 0200 root: uid 0 in the sandbox maps to the host's
    /// root), so no write right is granted anywhere under /proc.
    pub fn grant_proc(&mut self, path: &Path) -> io::Result<()> {
        self.grant(path, AccessFs::ReadFile | AccessFs::ReadDir)
    }

    pub fn grant_read_write_files(&mut self, path: &Path) -> io::Result<()> {
        self.grant(
            path,
            AccessFs::ReadFile
                | AccessFs::WriteFile
                | AccessFs::ReadDir
                | AccessFs::Truncate
                | AccessFs::IoctlDev,
        )
    }

    /// Restricts the calling thread (and what it executes). Sets no_new_privs.
    /// Returns the enforcement status; the caller refuses to go on if nothing is enforced.
    pub fn restrict_self(self) -> io::Result<RulesetStatus> {
        let st = self.rs.restrict_self().map_err(ll_err)?;
        if !st.no_new_privs {
            return Err(io::Error::other("could not set no_new_privs"));
        }
        Ok(st.ruleset)
    }
}
