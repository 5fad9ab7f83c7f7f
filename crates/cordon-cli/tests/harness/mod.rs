//! Test harness for sandbox tests: a fake home with secrets, a workspace inside it, a directory
//! outside the workspace, and a way to run `cordon` as the invoking user (root in CI) or as an
//! unprivileged user (created when the tests run as root), with or without namespaces.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const TEST_USER: &str = "cordontest";

/// Every known cache at its default place in a home directory.
pub const CACHE_DIRS: &[&str] = &[
    ".npm",
    ".local/share/pnpm/store",
    ".cache/pnpm",
    ".cache/yarn",
    ".yarn/berry",
    ".bun/install/cache",
    ".cache/pip",
    ".cache/uv",
    ".cache/pypoetry",
    ".cargo/registry",
    ".cargo/git",
    "go/pkg/mod",
    ".cache/go-build",
    ".gradle/caches",
    ".gradle/wrapper/dists",
    ".m2/repository",
    ".cache/ccache",
    ".cache/sccache",
    ".cache/pre-commit",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// Whoever runs the tests (root in CI).
    Invoker,
    /// An unprivileged user: `cordontest` when the tests run as root, else the invoker.
    Unprivileged,
}

/// Whether the tests run as root (CI does): the unprivileged cases then run as `cordontest`.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// (uid, gid) of the unprivileged test user, creating it when needed.
fn test_user() -> (u32, u32) {
    static U: OnceLock<(u32, u32)> = OnceLock::new();
    *U.get_or_init(|| {
        if !is_root() {
            // SAFETY: getuid and getgid have no preconditions.
            return unsafe { (libc::getuid(), libc::getgid()) };
        }
        let id = |flag: &str| {
            Command::new("id").args([flag, TEST_USER]).output().ok().filter(|o| o.status.success()).and_then(|o| {
                String::from_utf8_lossy(&o.stdout).trim().parse::<u32>().ok()
            })
        };
        if id("-u").is_none() {
            let st = Command::new("useradd")
                .args(["--no-create-home", "--shell", "/bin/sh", "--home-dir", "/nonexistent", TEST_USER])
                .status()
                .expect("useradd (package passwd) is needed to run the sandbox tests as an unprivileged user");
            assert!(st.success() || id("-u").is_some(), "useradd {TEST_USER} failed");
        }
        (id("-u").expect("test user uid"), id("-g").expect("test user gid"))
    })
}

/// A directory every test user can reach, outside /tmp (which is private inside the sandbox,
/// so a target under it would be trivially unreachable and prove nothing).
fn base_root() -> PathBuf {
    static B: OnceLock<PathBuf> = OnceLock::new();
    B.get_or_init(|| {
        let p = if is_root() {
            PathBuf::from("/var/lib/cordon-tests")
        } else {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cordon-tests")
        };
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    })
    .clone()
}

/// The cordon binary, copied where the unprivileged user can execute it.
pub fn cordon_bin() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let src = PathBuf::from(env!("CARGO_BIN_EXE_cordon"));
        if !is_root() {
            return src;
        }
        // Copies left by earlier test processes that are gone.
        if let Ok(rd) = fs::read_dir(base_root()) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if let Some(pid) = name
                    .strip_prefix("bin-")
                    .or_else(|| name.strip_prefix("case-").and_then(|r| r.split('-').next()))
                {
                    if !Path::new(&format!("/proc/{pid}")).exists() {
                        let _ = fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let dir = base_root().join(format!("bin-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let dst = dir.join("cordon");
        fs::copy(&src, &dst).unwrap();
        fs::set_permissions(&dst, fs::Permissions::from_mode(0o755)).unwrap();
        dst
    })
    .clone()
}

pub struct Case {
    pub who: Who,
    pub fallback: bool,
    pub base: PathBuf,
    pub home: PathBuf,
    pub ws: PathBuf,
    /// The case's own XDG_RUNTIME_DIR: its runs share a placeholder lock only with each other,
    /// so "no placeholder left behind" is deterministic while other tests run.
    pub runtime: PathBuf,
    /// A directory outside the workspace, visible (read-only) inside the sandbox.
    pub outside: PathBuf,
    pub uid: u32,
    pub gid: u32,
    /// When `chown_all` last touched the fixture (see `SETTLE`).
    fixture_at: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Case {
    pub fn new(who: Who, fallback: bool) -> Case {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let base = base_root().join(format!("case-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let home = base.join("home");
        let ws = home.join("proj");
        let outside = home.join("outside");
        let runtime = base.join("run");
        for d in [&base, &home, &ws, &outside, &runtime] {
            fs::create_dir_all(d).unwrap();
        }
        let (uid, gid) = match who {
            // SAFETY: getuid and getgid have no preconditions.
            Who::Invoker => unsafe { (libc::getuid(), libc::getgid()) },
            Who::Unprivileged => test_user(),
        };
        let c = Case {
            who,
            fallback,
            base,
            home,
            ws,
            runtime,
            outside,
            uid,
            gid,
            fixture_at: std::sync::Mutex::new(None),
        };
        // Secrets and dotfiles in the fake home.
        c.write(".ssh/id_rsa", "SECRET-SSH-KEY-MARKER\n");
        c.write(
            ".aws/credentials",
            "[default]\naws_secret_access_key=SECRET-AWS-MARKER\n",
        );
        c.write(".bashrc", "# bashrc\n");
        c.write("outside/victim.txt", "original\n");
        c.write("proj/README", "hello\n");
        c.write("proj/out/.keep", "");
        c.chown_all();
        c
    }

    /// Writes a file under the fake home (path relative to it).
    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.home.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        p
    }

    /// Where this case's `cordon` writes its audit log.
    pub fn audit_dir(&self) -> PathBuf {
        self.home.join(".local/state/cordon/audit")
    }

    pub fn read(&self, rel: &str) -> Option<String> {
        fs::read_to_string(self.home.join(rel)).ok()
    }

    /// Gives the case's files to its user (as root). The next run waits until they are older
    /// than the ctime slack of the check after a run (see `SETTLE`).
    pub fn chown_all(&self) {
        if let Ok(mut t) = self.fixture_at.lock() {
            *t = Some(std::time::Instant::now());
        }
        if !is_root() {
            return;
        }
        fn walk(p: &Path, uid: u32, gid: u32) {
            let _ = std::os::unix::fs::lchown(p, Some(uid), Some(gid));
            if p.is_dir() && !p.is_symlink() {
                let entries = match fs::read_dir(p) {
                    Ok(rd) => rd,
                    // Gone meanwhile: cordon's trash cleaner (caches' old work directories,
                    // removed at idle priority after a run) may still be at work in the state
                    // directory below the fake home.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                    Err(e) => panic!("chown_all: read {}: {e}", p.display()),
                };
                for e in entries.flatten() {
                    walk(&e.path(), uid, gid);
                }
            }
        }
        walk(&self.base, self.uid, self.gid);
        let _ = chown(&self.base, Some(self.uid), Some(self.gid));
        if let Ok(mut t) = self.fixture_at.lock() {
            *t = Some(std::time::Instant::now());
        }
    }

    /// A `cordon` command as this case's user, in the workspace, with the fake home.
    pub fn command(&self, args: &[&str]) -> Command {
        self.build(args, false)
    }

    /// Like `command`, with the command policy consulted (as a user gets it).
    pub fn command_with_policy(&self, args: &[&str]) -> Command {
        self.build(args, true)
    }

    fn build(&self, args: &[&str], with_policy: bool) -> Command {
        if let Some(at) = self.fixture_at.lock().ok().and_then(|t| *t) {
            if let Some(rest) = SETTLE.checked_sub(at.elapsed()) {
                std::thread::sleep(rest);
            }
        }
        let mut cmd = Command::new(cordon_bin());
        // Mutation check for the tests themselves: CORDON_TEST_UNSANDBOXED=1 runs every command
        // unsandboxed, and the attack tests must then fail.
        let mut args: Vec<&str> = args.to_vec();
        if std::env::var_os("CORDON_TEST_UNSANDBOXED").is_some() && args.first() == Some(&"run") {
            args.splice(1..1, ["--mode", "danger-full-access"]);
        }
        // These tests attack the sandbox itself: the command policy, which would refuse many of
        // the attacks before they start, is tested on its own (policy_*.rs, run_policy below).
        if args.first() == Some(&"run") && !args.contains(&"--policy") && !with_policy {
            args.insert(1, "--no-policy");
        }
        cmd.args(&args)
            .current_dir(&self.ws)
            .env_clear()
            .env("HOME", &self.home)
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("LANG", "C.UTF-8")
            .env("XDG_RUNTIME_DIR", &self.runtime)
            // The system and managed config layers of the tests (debug builds only honour it),
            // so that a machine's own /etc/cordon cannot change what the tests see.
            .env("CORDON_ETC_DIR", self.base.join("etc"))
            // The audit log of the case, inside its fake home (never the real user's).
            .env("CORDON_AUDIT_DIR", self.audit_dir())
            .stdin(Stdio::null());
        if self.fallback {
            cmd.env("CORDON_NO_USERNS", "1");
        }
        if is_root() && self.who == Who::Unprivileged {
            cmd.uid(self.uid).gid(self.gid);
        }
        cmd
    }

    pub fn cordon(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run cordon")
    }

    /// `cordon run -- sh -c SCRIPT`
    pub fn sh(&self, script: &str) -> Output {
        self.cordon(&["run", "--", "sh", "-c", script])
    }

    pub fn label(&self) -> String {
        format!(
            "{:?}{}",
            self.who,
            if self.fallback { "+fallback" } else { "" }
        )
    }
}

/// A `cordon run` whose command, once the sandbox has started, waits until the test lets it go
/// on ([`Case::paused`], [`Paused::go`]): meanwhile the test changes things outside (a daemon
/// starts and binds its socket, git's credential cache is filled).
pub struct Paused {
    child: std::process::Child,
    go: PathBuf,
}

impl Case {
    /// Starts `cordon run --timeout 60s -- sh -c '<wait for the go>; SCRIPT' ARGS...` (ARGS are
    /// the script's `$0`, `$1`, ...), with `env` added, and returns once the sandbox has started.
    pub fn paused(&self, script: &str, args: &[&str], env: &[(&str, &str)]) -> Paused {
        let started = self.ws.join("out/started");
        let go = self.outside.join("go");
        let wait = format!(
            "touch {}; i=0; while [ ! -e {} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; \
             {script}",
            started.display(),
            go.display()
        );
        let mut all = vec!["run", "--timeout", "60s", "--", "sh", "-c", &wait];
        all.extend_from_slice(args);
        let mut cmd = self.command(&all);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run cordon");
        self.wait_for(&started, "the sandbox");
        Paused { child, go }
    }

    /// A paused run (see [`Case::paused`]) of `PRELUDE exec python3 -c CONNECT_EACH` on the
    /// sockets at `later` (below the home), which daemons outside will bind during the run:
    /// [`Paused::bind_and_go`].
    pub fn connect_later(&self, prelude: &str, later: &[&str], env: &[(&str, &str)]) -> Paused {
        let paths: Vec<String> = later
            .iter()
            .map(|r| self.home.join(r).display().to_string())
            .collect();
        let mut args = vec!["sh", "-c", CONNECT_EACH];
        args.extend(paths.iter().map(String::as_str));
        self.paused(&format!("{prelude} exec python3 \"$@\""), &args, env)
    }

    /// `cmd`, a program run outside the sandbox beside the test (git, a daemon), as this case's
    /// user: its uid and gid when the tests run as root.
    pub fn as_user<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        if is_root() {
            cmd.uid(self.uid).gid(self.gid);
        }
        cmd
    }

    /// Waits (30 s at most) for `p`, a file a run makes once it has started; `what` names the
    /// run in the failure.
    pub fn wait_for(&self, p: &Path, what: &str) {
        for _ in 0..600 {
            if p.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("[{}] {what} did not start", self.label());
    }

    /// A listening unix socket at `rel` under the fake home, as a daemon of the user leaves it
    /// (whatever was there first removed), not blocking: `accept` says whether anyone came.
    pub fn listen_at(&self, rel: &str) -> std::os::unix::net::UnixListener {
        let p = self.home.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = fs::remove_file(&p);
        let l = std::os::unix::net::UnixListener::bind(&p).unwrap();
        l.set_nonblocking(true).unwrap();
        l
    }
}

impl Paused {
    /// Lets the command go on, and waits for the run's end.
    pub fn go(self) -> Output {
        fs::write(&self.go, "").unwrap();
        self.child.wait_with_output().expect("wait for cordon")
    }

    /// For [`Case::connect_later`]: binds a listener at each of `later`, as daemons starting
    /// outside during the run, lets the run go on, and returns its output (once it is sure the
    /// command tried) with the listeners, for [`assert_nothing_received`].
    pub fn bind_and_go(
        self,
        c: &Case,
        later: &[&str],
    ) -> (String, Vec<(String, std::os::unix::net::UnixListener)>) {
        let ls = later
            .iter()
            .map(|r| (r.to_string(), c.listen_at(r)))
            .collect();
        c.chown_all();
        let o = self.go();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let out = text(&o);
        assert!(
            out.contains("refused"),
            "[{}] the command did not try: {out}",
            c.label()
        );
        (out, ls)
    }
}

/// Connects to each unix socket named in its arguments, as a stream and as a datagram socket,
/// and says `CONNECTED path` or `refused path why` for each.
pub const CONNECT_EACH: &str = r#"import socket, sys
for p in sys.argv[1:]:
  for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
    try:
      s = socket.socket(socket.AF_UNIX, kind)
      if kind == socket.SOCK_STREAM: s.connect(p); s.send(b'x')
      else: s.sendto(b'x', p)
      print('CONNECTED', p)
    except Exception as e: print('refused', p, e)
"#;

/// No listener of `ls` (a path under the home, its listener) got a connection, and the command
/// connected nowhere.
pub fn assert_nothing_received(
    c: &Case,
    ls: &[(String, std::os::unix::net::UnixListener)],
    out: &str,
) {
    for (rel, l) in ls {
        assert!(
            matches!(l.accept(), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "[{}] the unix socket ~/{rel} outside was reached: {out}",
            c.label()
        );
    }
    assert!(!out.contains("CONNECTED"), "[{}] {out}", c.label());
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// How old the fixture must be when a run starts: a file written or chowned less than one coarse
/// clock tick (1–10 ms, by the kernel's HZ) before a run's snapshot counts as changed by the
/// run, and an agent config or a git hook would be moved aside (the check fails closed; see the
/// README, "Moving aside"). Every fixture that writes before a run ends with `chown_all`.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(25);

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Runs `f` for every (user, mode) variant. Used by the `variants!` macro.
pub fn each(f: fn(&Case), who: Who, fallback: bool) {
    let c = Case::new(who, fallback);
    f(&c);
}

/// `variants!(name)` makes four tests for the attack function `name`: as the invoking user and
/// as an unprivileged user, each with namespaces and with the no-namespace fallback.
#[macro_export]
macro_rules! variants {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::harness::{each, Who};
            #[test] fn invoker() { each(super::$name, Who::Invoker, false) }
            #[test] fn unprivileged() { each(super::$name, Who::Unprivileged, false) }
            #[test] fn invoker_fallback() { each(super::$name, Who::Invoker, true) }
            #[test] fn unprivileged_fallback() { each(super::$name, Who::Unprivileged, true) }
        }
    )*};
}
