//! Real work inside `cordon run`: git, make, Python venv + pip from a local wheel, npm ci from a
//! local tarball, cargo build/test, and an interactive bash driven through a pseudo-terminal
//! (job control, Ctrl-C). Each runs as the invoking user and as an unprivileged user.

mod harness;

use std::path::Path;
use std::process::Command;

use harness::{code, text, Case, Who};

fn ok(c: &Case, o: &std::process::Output, what: &str) {
    assert_eq!(code(o), 0, "[{}] {what} failed:\n{}", c.label(), text(o));
}

fn git_workflow(c: &Case) {
    let st = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&c.ws)
        .output()
        .unwrap();
    assert!(st.status.success());
    c.chown_all();
    let o = c.cordon(&[
        "run",
        "--env",
        "GIT_AUTHOR_NAME=A",
        "--env",
        "GIT_AUTHOR_EMAIL=a@example.com",
        "--env",
        "GIT_COMMITTER_NAME=A",
        "--env",
        "GIT_COMMITTER_EMAIL=a@example.com",
        "--",
        "sh",
        "-c",
        "git status --short && echo change >> README && git diff --stat && git add -A && git commit -qm first && git log --oneline | wc -l && git branch -q feature && git checkout -q feature && git stash list",
    ]);
    ok(c, &o, "git status/diff/add/commit/branch");
    let log = Command::new("git")
        .args(["-c", "safe.directory=*", "log", "--oneline"])
        .current_dir(&c.ws)
        .env("HOME", &c.home)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("first"),
        "[{}] commit not visible outside",
        c.label()
    );
}

fn make_build(c: &Case) {
    std::fs::write(
        c.ws.join("Makefile"),
        "out/app: main.c\n\tcc -o out/app main.c\nclean:\n\trm -f out/app\n",
    )
    .unwrap();
    std::fs::write(
        c.ws.join("main.c"),
        "#include <stdio.h>\nint main(void){puts(\"built in cordon\");return 0;}\n",
    )
    .unwrap();
    c.chown_all();
    let o = c.sh("make -s && ./out/app");
    ok(c, &o, "make");
    assert!(String::from_utf8_lossy(&o.stdout).contains("built in cordon"));
}

/// A minimal wheel, built by hand (a zip with the dist-info files pip needs).
fn make_wheel(dir: &Path) -> std::path::PathBuf {
    let whl = dir.join("hello_cordon-1.0-py3-none-any.whl");
    let script = format!(
        r#"
import zipfile, hashlib, base64
files = {{
  'hello_cordon/__init__.py': 'def greet():\n    return "hello from a local wheel"\n',
  'hello_cordon-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\nName: hello-cordon\nVersion: 1.0\n',
  'hello_cordon-1.0.dist-info/WHEEL': 'Wheel-Version: 1.0\nGenerator: cordon-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
}}
rec = []
with zipfile.ZipFile('{whl}', 'w') as z:
    for n, t in files.items():
        z.writestr(n, t)
        h = base64.urlsafe_b64encode(hashlib.sha256(t.encode()).digest()).rstrip(b'=').decode()
        rec.append(f'{{n}},sha256={{h}},{{len(t)}}')
    rec.append('hello_cordon-1.0.dist-info/RECORD,,')
    z.writestr('hello_cordon-1.0.dist-info/RECORD', '\n'.join(rec) + '\n')
"#,
        whl = whl.display()
    );
    let st = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .status()
        .unwrap();
    assert!(st.success());
    whl
}

fn python_venv_pip(c: &Case) {
    if !Path::new("/usr/bin/python3").exists() {
        panic!("python3 is needed (installed by .ci/run)");
    }
    make_wheel(&c.ws);
    c.chown_all();
    let o = c.sh(
        "/usr/bin/python3 -m venv .venv && .venv/bin/pip install -q --no-index --no-cache-dir --disable-pip-version-check ./hello_cordon-1.0-py3-none-any.whl \
         && .venv/bin/python -c 'import hello_cordon; print(hello_cordon.greet())'",
    );
    ok(c, &o, "python venv + pip install");
    assert!(String::from_utf8_lossy(&o.stdout).contains("hello from a local wheel"));
}

fn npm_ci_offline(c: &Case) {
    if Command::new("npm").arg("--version").output().is_err() {
        eprintln!("skipping: npm not installed");
        return;
    }
    // A local package, packed outside; a project depending on the tarball, locked outside.
    let dep = c.base.join("dep");
    std::fs::create_dir_all(&dep).unwrap();
    std::fs::write(
        dep.join("package.json"),
        r#"{"name":"cordon-dep","version":"1.0.0","main":"index.js"}"#,
    )
    .unwrap();
    std::fs::write(
        dep.join("index.js"),
        "module.exports = () => 'hello from npm ci';\n",
    )
    .unwrap();
    let npm = |dir: &Path, args: &[&str]| {
        let o = Command::new("npm")
            .args(args)
            .current_dir(dir)
            .env("HOME", &c.home)
            .env("npm_config_cache", c.base.join("npm-cache"))
            .output()
            .unwrap();
        assert!(o.status.success(), "npm {args:?}: {}", text(&o));
    };
    npm(
        &dep,
        &[
            "pack",
            "--silent",
            "--pack-destination",
            c.ws.to_str().unwrap(),
        ],
    );
    std::fs::write(c.ws.join("package.json"), r#"{"name":"proj","version":"1.0.0","dependencies":{"cordon-dep":"file:cordon-dep-1.0.0.tgz"}}"#).unwrap();
    npm(
        &c.ws,
        &[
            "install",
            "--offline",
            "--no-audit",
            "--no-fund",
            "--silent",
        ],
    );
    std::fs::remove_dir_all(c.ws.join("node_modules")).unwrap();
    c.chown_all();
    let o = c.sh("npm ci --offline --no-audit --no-fund --cache ./.npm-cache && node -e \"console.log(require('cordon-dep')())\"");
    ok(c, &o, "npm ci");
    assert!(String::from_utf8_lossy(&o.stdout).contains("hello from npm ci"));
}

fn cargo_build_test(c: &Case) {
    // The toolchain must be readable by the user running the test (rustup keeps it in root's
    // home in CI, which the unprivileged user cannot enter).
    let rustup_home = std::env::var("RUSTUP_HOME")
        .unwrap_or_else(|_| format!("{}/.rustup", std::env::var("HOME").unwrap_or_default()));
    let cargo_home = std::env::var("CARGO_HOME")
        .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap_or_default()));
    let cargo = format!("{cargo_home}/bin/cargo");
    // SAFETY: geteuid has no preconditions.
    if c.who == Who::Unprivileged && unsafe { libc::geteuid() } == 0 {
        eprintln!("skipping cargo as the unprivileged user: the toolchain is in root's home");
        return;
    }
    if !Path::new(&cargo).exists() {
        eprintln!("skipping: no cargo at {cargo}");
        return;
    }
    std::fs::create_dir_all(c.ws.join("src")).unwrap();
    std::fs::write(
        c.ws.join("Cargo.toml"),
        "[package]\nname = \"inbox\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(
        c.ws.join("src/lib.rs"),
        "pub fn two() -> u32 { 2 }\n#[test]\nfn it_works() { assert_eq!(two(), 2); }\n",
    )
    .unwrap();
    c.chown_all();
    let o = c.cordon(&[
        "run",
        "--env",
        &format!("RUSTUP_HOME={rustup_home}"),
        "--env",
        &format!("CARGO_HOME={cargo_home}"),
        "--env",
        &format!("PATH={cargo_home}/bin:/usr/bin:/bin"),
        "--",
        "sh",
        "-c",
        "cargo build --offline -q && cargo test --offline -q 2>&1",
    ]);
    ok(c, &o, "cargo build + test");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("1 passed"),
        "{}",
        text(&o)
    );
    assert!(c.ws.join("target").is_dir());
}

/// Drives `cordon run -- bash -i` through a pseudo-terminal: arithmetic, job control
/// (background job, jobs, kill %1), Ctrl-C of a foreground command, then exit status.
const PTY_DRIVER: &str = r#"
import os, pty, sys, time, select
cordon, uid, gid, ws = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pid, fd = pty.fork()
if pid == 0:
    os.chdir(ws)
    if os.getuid() == 0 and uid != 0:
        os.setgroups([]); os.setgid(gid); os.setuid(uid)
    os.execve(cordon, [cordon, 'run', '--env', 'PS1=PROMPT$ ', '--', 'bash', '--norc', '--noprofile', '-i'],
              {'PATH': '/usr/bin:/bin', 'HOME': os.environ['HOME'], 'TERM': 'dumb'})
buf = b''
def expect(pat, t=15):
    global buf
    end = time.time() + t
    while time.time() < end:
        if pat.encode() in buf:
            i = buf.index(pat.encode()); buf = buf[i + len(pat):]; return
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try: buf += os.read(fd, 4096)
            except OSError: break
    sys.stdout.write('TIMEOUT waiting for %r; got %r\n' % (pat, buf)); sys.exit(2)
def send(s): os.write(fd, s.encode())
expect('PROMPT$ ')
send('echo sum=$((6*7))\n'); expect('sum=42')
send('case $- in *m*) echo jc=on;; *) echo jc=off;; esac\n'); expect('jc=on')
send('sleep 100 &\n'); expect('PROMPT$ ')
send('jobs\n'); expect('Running')
send('kill %1; wait; echo killed\n'); expect('killed')
send('sleep 100\n'); time.sleep(0.5); send('\x03'); expect('PROMPT$ ')
send('echo after=$?\n'); expect('after=130')
send('exit 7\n')
_, st = os.waitpid(pid, 0)
print('EXIT', os.waitstatus_to_exitcode(st))
"#;

/// Runs a pseudo-terminal driver script (python) against the cordon binary as this case's user.
fn drive_pty(c: &Case, driver: &str) -> String {
    let o = Command::new("/usr/bin/python3")
        .args([
            "-c",
            driver,
            harness::cordon_bin().to_str().unwrap(),
            &c.uid.to_string(),
            &c.gid.to_string(),
            c.ws.to_str().unwrap(),
        ])
        .env("HOME", &c.home)
        .output()
        .unwrap();
    text(&o)
}

fn interactive_bash(c: &Case) {
    let out = drive_pty(c, PTY_DRIVER);
    assert!(
        out.contains("EXIT 7"),
        "[{}] interactive bash:\n{out}",
        c.label()
    );
}

/// Ctrl-C on a non-interactive command: the terminal's SIGINT reaches it (exit 130), once.
const CTRL_C_DRIVER: &str = r#"
import os, pty, sys, time
cordon, uid, gid, ws = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pid, fd = pty.fork()
if pid == 0:
    os.chdir(ws)
    if os.getuid() == 0 and uid != 0:
        os.setgroups([]); os.setgid(gid); os.setuid(uid)
    os.execve(cordon, [cordon, 'run', '--', 'sleep', '100'], {'PATH': '/usr/bin:/bin', 'HOME': os.environ['HOME']})
time.sleep(1.0)
os.write(fd, b'\x03')
t = time.time()
_, st = os.waitpid(pid, 0)
print('EXIT', os.waitstatus_to_exitcode(st), 'after', round(time.time() - t, 1))
"#;

fn ctrl_c(c: &Case) {
    let out = drive_pty(c, CTRL_C_DRIVER);
    assert!(out.contains("EXIT 130"), "[{}] Ctrl-C:\n{out}", c.label());
}

/// Tools list the home's XDG directories (`ls ~/.config`, a settings search, fontconfig): shown
/// through socket-proof views (read-only overlays of themselves on an empty layer), they must list
/// what they hold. The empty layer was removed once mounted, and overlayfs' readdir of a view's
/// top directory, which merges both layers, then listed nothing.
fn xdg_dirs_list(c: &Case) {
    for d in [
        ".config/app",
        ".cache/tool",
        ".local/share/data",
        ".local/state/log",
    ] {
        c.write(&format!("{d}/f"), "x\n");
    }
    c.chown_all();
    let o = c.cordon(&[
        "run",
        "--",
        "sh",
        "-c",
        "for d in .config .cache .local/share .local/state; do echo \"$d: $(ls -A ~/$d | tr '\\n' ' ')\"; done",
    ]);
    ok(c, &o, "listing the XDG directories");
    let t = text(&o);
    for (d, e) in [
        (".config", "app"),
        (".cache", "tool"),
        (".local/share", "data"),
        (".local/state", "log"),
    ] {
        let line = t
            .lines()
            .find(|l| l.starts_with(&format!("{d}:")))
            .unwrap_or("");
        assert!(
            line.contains(e),
            "[{}] ~/{d} lists {line:?}:\n{t}",
            c.label()
        );
    }
}

macro_rules! realwork {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::harness::{each, Who};
            #[test] fn invoker() { each(super::$name, Who::Invoker, false) }
            #[test] fn unprivileged() { each(super::$name, Who::Unprivileged, false) }
        }
    )*};
}

realwork!(
    git_workflow,
    make_build,
    python_venv_pip,
    npm_ci_offline,
    cargo_build_test,
    interactive_bash,
    ctrl_c,
    xdg_dirs_list
);

/// The fallback still does real work below the workspace's top level.
#[test]
fn fallback_make_in_subdir() {
    let c = Case::new(Who::Unprivileged, true);
    std::fs::create_dir_all(c.ws.join("app")).unwrap();
    std::fs::write(
        c.ws.join("app/Makefile"),
        "out.txt:\n\techo built > out.txt\n",
    )
    .unwrap();
    c.chown_all();
    let o = c.cordon(&[
        "run",
        "--cwd",
        c.ws.join("app").to_str().unwrap(),
        "--",
        "make",
        "-s",
    ]);
    ok(&c, &o, "make in the fallback");
    assert_eq!(
        std::fs::read_to_string(c.ws.join("app/out.txt")).unwrap(),
        "built\n"
    );
}

/// The fallback's private temporary directory (`$TMPDIR/cordon-run-tmp-*`) of a run killed with
/// SIGKILL is left behind (nothing of cordon runs to remove it): the next fallback run removes it,
/// and never the one of a run still alive. Checked outside, in the TMPDIR given to cordon.
fn killed_fallback_leaves_no_tmp(c: &Case) {
    let base = c.home.join("tmpbase");
    std::fs::create_dir_all(&base).unwrap();
    c.chown_all();
    let ours = || -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(&base)
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("cordon-run-tmp-")
            })
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    };
    // Waits for a directory holding the command's file, other than `not`.
    let wait_for = |not: Option<&std::path::PathBuf>| -> std::path::PathBuf {
        for _ in 0..200 {
            if let Some(d) = ours()
                .into_iter()
                .find(|d| Some(d) != not && d.join("f").exists())
            {
                return d;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("[{}] no private temporary directory appeared", c.label());
    };
    let start = |secs: u32| {
        c.command(&[
            "run",
            "--",
            "sh",
            "-c",
            &format!("echo x > \"$TMPDIR/f\"; sleep {secs}"),
        ])
        .env("TMPDIR", &base)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
    };
    // A run killed with SIGKILL: its directory stays.
    let mut killed = start(30);
    let left = wait_for(None);
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert_eq!(ours(), vec![left.clone()], "[{}]", c.label());
    // The next run removes it as it starts.
    let mut live = start(3);
    let kept = wait_for(Some(&left));
    assert!(
        !left.exists(),
        "[{}] the killed run's directory stayed",
        c.label()
    );
    // A run beside a live one leaves the live one's directory alone.
    let o = c
        .command(&["run", "--", "true"])
        .env("TMPDIR", &base)
        .output()
        .unwrap();
    ok(c, &o, "a run beside a live one");
    assert!(
        kept.join("f").exists(),
        "[{}] the live run's directory went",
        c.label()
    );
    assert!(
        live.wait().unwrap().success(),
        "[{}] the live run failed",
        c.label()
    );
    assert!(ours().is_empty(), "[{}] {:?}", c.label(), ours());
}

#[test]
fn killed_fallback_leaves_no_tmp_invoker() {
    harness::each(killed_fallback_leaves_no_tmp, Who::Invoker, true)
}

#[test]
fn killed_fallback_leaves_no_tmp_unprivileged() {
    harness::each(killed_fallback_leaves_no_tmp, Who::Unprivileged, true)
}

/// Runs in two workspaces at once share the user's placeholder lock: a run that starts while
/// the last run of the other workspace cleans up must still find every protected path (a stale
/// placeholder counted as "existing" by the spec used to vanish under it: open_tree ENOENT).
/// Unprivileged user only: it is the user whose runs share one lock.
#[test]
fn concurrent_runs_in_two_workspaces() {
    let cases = [
        Case::new(Who::Unprivileged, false),
        Case::new(Who::Unprivileged, false),
    ];
    // Both cases' runs share the first case's runtime directory, hence one lock and one list.
    let shared = cases[0].runtime.clone();
    std::thread::scope(|s| {
        for c in &cases {
            let shared = &shared;
            s.spawn(move || {
                for i in 0..40 {
                    let o = c
                        .command(&["run", "--", "sh", "-c", "test ! -w .claude && echo ok"])
                        .env("XDG_RUNTIME_DIR", shared)
                        .output()
                        .unwrap();
                    assert_eq!(code(&o), 0, "[{}] run {i} failed:\n{}", c.label(), text(&o));
                    assert!(
                        text(&o).contains("ok"),
                        "[{}] run {i}: {}",
                        c.label(),
                        text(&o)
                    );
                }
            });
        }
    });
    // The last run of the two removed every placeholder, its own and the other's.
    for c in &cases {
        for p in [".claude", ".git", ".mcp.json"] {
            assert!(
                !c.ws.join(p).exists(),
                "[{}] placeholder {p} left behind in {}",
                c.label(),
                c.ws.display()
            );
        }
    }
}
