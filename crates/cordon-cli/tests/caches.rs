//! Tool caches in the sandbox (README "Tool caches"): a sandboxed command can use and fill the
//! caches of package managers and build tools, and cannot poison the host's.
//!
//! - `poisoning`: modifies, creates, deletes, renames, hard-links and chmods in every known cache
//!   of a fake home; the host's caches are byte-for-byte unchanged (checked outside, from a
//!   listing of names, modes, link counts and content hashes), the same workspace sees its
//!   changes again (warm), a second workspace does not; registry credentials next to the caches
//!   stay unreadable, also inside a cache added by the config (mount order).
//! - `back_to_back`: six runs of one workspace in a row, each appending to two caches, each
//!   seeing every earlier run's writes, none saying anything about its caches.
//! - real installs against the real registries, through cordon's proxy: `npm install`, `pip
//!   install` and `uv pip install` into a venv (as the unprivileged user), `cargo fetch` +
//!   `cargo build` (as the invoking user: the toolchain is in root's home in CI); each twice, the
//!   second run served from the workspace's cache (zero connections in the proxy's `--net-log`),
//!   and no read-only-cache error or warning. In the fallback (no namespaces, so no proxy: the
//!   run has `--network full`) the same installs go to the private cache directories, and the
//!   second run works with every network route closed (a proxy variable pointing nowhere).

mod harness;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::{code, text, Case, Who, CACHE_DIRS};

const SECRET: &str = "SECRET-REGISTRY-TOKEN-MARKER";

/// Names, types, modes, link counts and content hashes of everything under `root`.
fn listing(root: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, p: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(m) = fs::symlink_metadata(p) else {
            return;
        };
        let rel = p.strip_prefix(base).unwrap().display().to_string();
        let desc = if m.file_type().is_symlink() {
            format!("link -> {}", fs::read_link(p).unwrap().display())
        } else if m.is_dir() {
            let mut names: Vec<PathBuf> = fs::read_dir(p)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .collect();
            names.sort();
            for n in &names {
                walk(base, n, out);
            }
            format!("dir {:o}", m.mode())
        } else {
            let data = fs::read(p).unwrap();
            format!(
                "file {:o} nlink {} sha256 {}",
                m.mode(),
                m.nlink(),
                cordon_audit::sha256_hex(&data)
            )
        };
        out.insert(rel, desc);
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The entries that differ between two listings (for readable failures).
fn diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            Some(w) if w == v => {}
            Some(w) => out.push(format!("{k}: {v} -> {w}")),
            None => out.push(format!("{k}: {v} -> (gone)")),
        }
    }
    for (k, w) in b {
        if !a.contains_key(k) {
            out.push(format!("{k}: (new) {w}"));
        }
    }
    out
}

/// Checks the host's caches against `before`. In the fallback, Landlock is the only fence and it
/// has no right for metadata: the mode of a file one owns can be changed (README: known limits);
/// names, contents and links cannot.
fn assert_unchanged(c: &Case, before: &BTreeMap<String, String>, when: &str) {
    let strip = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.iter()
            .map(|(k, v)| {
                let v = if c.fallback {
                    v.split(' ')
                        .enumerate()
                        .filter(|(i, _)| *i != 1)
                        .map(|(_, w)| w)
                        .collect::<Vec<_>>()
                        .join(" ")
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect()
    };
    let d = diff(&strip(before), &strip(&host_caches(c)));
    assert!(
        d.is_empty(),
        "[{}] {when}: the host's caches changed:\n{}",
        c.label(),
        d.join("\n")
    );
}

fn host_caches(c: &Case) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    for d in CACHE_DIRS.iter().chain([".toolx"].iter()) {
        for (k, v) in listing(&c.home.join(d)) {
            all.insert(format!("{d}/{k}"), v);
        }
    }
    all
}

fn seed(c: &Case) {
    seed_with(c, true);
}

/// `toolx`: a cache added by the config with a secret inside it. Mounted after the caches, the
/// secret's cover makes the run build its overlays before the view (`caches::mount::late` is
/// false); without it, they are made after the command's fork, and attached last.
fn seed_with(c: &Case, toolx: bool) {
    for d in CACHE_DIRS {
        c.write(&format!("{d}/f"), "original\n");
        c.write(&format!("{d}/rm_me"), "delete me\n");
        c.write(&format!("{d}/sub/deep/g"), "deep\n");
        fs::hard_link(c.home.join(d).join("f"), c.home.join(d).join("hl")).unwrap();
    }
    // Registry credentials beside the caches (HOME_SECRETS).
    c.write(
        ".cargo/credentials.toml",
        &format!("[registry]\ntoken = \"{SECRET}\"\n"),
    );
    c.write(
        ".m2/settings.xml",
        &format!("<password>{SECRET}</password>\n"),
    );
    c.write(".gradle/gradle.properties", &format!("token={SECRET}\n"));
    c.write(
        ".config/pip/pip.conf",
        &format!("[global]\nindex-url = https://u:{SECRET}@pypi.example/simple\n"),
    );
    c.write(
        ".local/share/uv/credentials/credentials.toml",
        &format!("[[credential]]\npassword = \"{SECRET}\"\n"),
    );
    if !toolx {
        c.chown_all();
        return;
    }
    // A cache added by the config, with a secret inside it: the secret must be covered on top
    // of the overlay.
    c.write(".toolx/data", "original\n");
    c.write(".toolx/token", &format!("{SECRET}\n"));
    c.write(
        ".config/cordon/config.toml",
        "[caches]\nadd = [{ name = \"toolx\", path = \"~/.toolx\" }]\n\n[filesystem]\nsecret = [\"~/.toolx/token\"]\n",
    );
    c.chown_all();
}

/// The shell script that tries to poison every cache.
fn attack_script() -> String {
    let mut s = String::new();
    for d in CACHE_DIRS.iter().chain([".toolx"].iter()) {
        let d = format!("\"$HOME/{d}\"");
        s.push_str(&format!(
            "echo poison >> {d}/f; echo new > {d}/new; rm -f {d}/rm_me; mv {d}/sub {d}/sub2; \
             ln {d}/f {d}/hl2; chmod 777 {d}/f; mkdir {d}/newdir; ln -s /etc/passwd {d}/link; \
             echo poison >> {d}/data; echo \"READ {d} $(cat {d}/f 2>/dev/null | tr '\\n' ' ')\";\n"
        ));
    }
    s.push_str(
        "cat ~/.cargo/credentials.toml ~/.m2/settings.xml ~/.gradle/gradle.properties ~/.toolx/token \
         ~/.config/pip/pip.conf ~/.local/share/uv/credentials/credentials.toml 2>&1; true\n",
    );
    s
}

fn run_in(c: &Case, ws: &Path, script: &str) -> Output {
    let w = ws.display().to_string();
    c.cordon(&[
        "run",
        "--workspace",
        &w,
        "--cwd",
        &w,
        "--",
        "sh",
        "-c",
        script,
    ])
}

fn poisoning(c: &Case) {
    attack(c, true);
}

/// The same attack on overlays made after the command's fork and attached last (the usual
/// case: no secret or protected path in a cache).
fn poisoning_late(c: &Case) {
    attack(c, false);
}

/// Which way a run's overlays are made (namespaces), as init's timing points say.
fn assert_made_late(c: &Case, late: bool) {
    let o = sh_with(c, &[("CORDON_TIMING", "1")], "true");
    let t = text(&o);
    assert_eq!(
        t.contains("init: overlays configured"),
        late,
        "[{}] overlays made late: expected {late}:\n{t}",
        c.label()
    );
}

fn attack(c: &Case, toolx: bool) {
    seed_with(c, toolx);
    if !c.fallback {
        assert_made_late(c, !toolx);
    }
    let before = host_caches(c);
    let o = run_in(c, &c.ws, &attack_script());
    let out = text(&o);
    assert_eq!(code(&o), 0, "[{}] {out}", c.label());
    assert!(
        !out.contains(SECRET),
        "[{}] a registry credential was read:\n{out}",
        c.label()
    );
    assert_unchanged(c, &before, "after the attack");
    if !c.fallback {
        // The writes landed in the workspace's layers: every cache showed the change inside.
        for d in CACHE_DIRS {
            assert!(
                out.contains(&format!("/{d} original poison")),
                "[{}] {d} was not writable inside:\n{out}",
                c.label()
            );
        }
        // The same workspace again: warm (its own changes are there).
        let o = run_in(c, &c.ws, "cat ~/.npm/f; ls ~/.npm; cat ~/.toolx/data");
        let t = text(&o);
        assert!(t.contains("original\npoison"), "[{}] {t}", c.label());
        assert!(
            t.contains("sub2") && t.contains("new") && !t.contains("rm_me"),
            "[{}] {t}",
            c.label()
        );
    }
    // A second workspace sees none of it.
    let ws2 = c.home.join("proj2");
    fs::create_dir_all(&ws2).unwrap();
    c.chown_all();
    let o = run_in(
        c,
        &ws2,
        "cat ~/.npm/f ~/.cargo/registry/f ~/.toolx/data; ls ~/.npm",
    );
    let t = text(&o);
    assert_eq!(code(&o), 0, "[{}] {t}", c.label());
    assert!(
        !t.contains("poison") && t.contains("rm_me") && !t.contains("sub2"),
        "[{}] the second workspace sees the first one's changes:\n{t}",
        c.label()
    );
    assert_unchanged(c, &before, "after the second workspace");

    // The workspace's layers are out of reach: not readable, not writable, by path.
    // The workspace's id: the first 16 hex digits of the SHA-256 of its canonical path.
    let id = cordon_audit::sha256_hex(
        fs::canonicalize(&c.ws)
            .unwrap()
            .as_os_str()
            .as_encoded_bytes(),
    )[..16]
        .to_string();
    let layers = c
        .home
        .join(format!(".local/state/cordon/workspaces/{id}/caches"));
    // The home directory's overlay (which serves ~/.npm): its layers are in caches/home-<hash>,
    // ~/.npm's files in its upper/.npm.
    let layer = fs::read_dir(&layers)
        .into_iter()
        .flatten()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("home-"))
        .map(|e| e.path())
        .unwrap_or_else(|| layers.join("home-none"));
    let o = run_in(
        c,
        &ws2,
        &format!(
            "cat {l}/upper/.npm/f; echo x > {l}/upper/.npm/f; ls {l}; echo END",
            l = layer.display()
        ),
    );
    let t = text(&o);
    assert!(
        !t.contains("poison") && t.contains("END"),
        "[{}] {t}",
        c.label()
    );
    if !c.fallback {
        assert_eq!(
            fs::read_to_string(layer.join("upper/.npm/f")).unwrap(),
            "original\npoison\n",
            "[{}] the layer was changed from another sandbox",
            c.label()
        );
    }

    if c.fallback {
        // The fallback's private cache directories: warm in the same workspace, absent in another.
        let o = run_in(
            c,
            &c.ws,
            "mkdir -p \"$PIP_CACHE_DIR\" && echo mine > \"$PIP_CACHE_DIR/x\" && echo OK",
        );
        assert!(text(&o).contains("OK"), "[{}] {}", c.label(), text(&o));
        let o = run_in(c, &c.ws, "cat \"$PIP_CACHE_DIR/x\"");
        assert!(text(&o).contains("mine"), "[{}] {}", c.label(), text(&o));
        let o = run_in(c, &ws2, "cat \"$PIP_CACHE_DIR/x\"; echo \"$PIP_CACHE_DIR\"");
        assert!(!text(&o).contains("mine"), "[{}] {}", c.label(), text(&o));
    }

    // cordon cache list shows the layers; cordon cache clean removes them (never the host's).
    let o = c.cordon(&["cache", "list"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("npm"), "{}", text(&o));
    let o = c.cordon(&["cache", "clean", "--all"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let left: Vec<_> = fs::read_dir(&layers)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from(".lock")],
        "[{}] cache clean left {left:?}",
        c.label()
    );
    assert_unchanged(c, &before, "after cache clean");
}

variants!(poisoning, poisoning_late);

/// Runs of one workspace back to back: each finds every earlier run's writes (no run fell back
/// to a throwaway layer, and no mount was refused: the overlays are volatile, so each mount
/// leaves a mark in its work directory that the next run must move aside, as the unprivileged
/// user too), none complains about its caches, and the host's caches are unchanged.
fn back_to_back(c: &Case) {
    seed(c);
    let before = host_caches(c);
    for i in 0..6 {
        let o = run_in(
            c,
            &c.ws,
            &format!(
                "n=${{npm_config_cache:-$HOME/.npm}}; p=${{PIP_CACHE_DIR:-$HOME/.cache/pip}}; \
                 mkdir -p \"$n\" \"$p\" && echo run{i} >> \"$n/log\" && echo run{i} >> \"$p/log\" && \
                 cat \"$n/log\" \"$p/log\""
            ),
        );
        let t = text(&o);
        assert_eq!(code(&o), 0, "[{}] run {i}: {t}", c.label());
        let want: String = (0..=i).map(|j| format!("run{j}\n")).collect();
        assert_eq!(
            t.matches(&want).count(),
            2,
            "[{}] run {i} does not see every earlier run's writes:\n{t}",
            c.label()
        );
        for bad in ["thrown away", "read-only in this run", "cordon: cache"] {
            assert!(!t.contains(bad), "[{}] run {i}: {t}", c.label());
        }
    }
    assert_unchanged(c, &before, "after the runs");
    if !c.fallback {
        leaves_nothing(c);
    }
}

variants!(back_to_back);

/// The workspace caches directories of the case (one per workspace used).
fn caches_dirs(c: &Case) -> Vec<PathBuf> {
    let ws = c.home.join(".local/state/cordon/workspaces");
    fs::read_dir(&ws)
        .map(|rd| rd.flatten().map(|e| e.path().join("caches")).collect())
        .unwrap_or_default()
}

/// Once the last sandbox's init is done (it clears the work directories after its report, off
/// the run's path), no overlay's old work directory is left, and the trash is empty: the
/// per-run directories do not pile up. Waits up to 20 s for that init.
fn leaves_nothing(c: &Case) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut left = Vec::new();
        for d in caches_dirs(c) {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.join("work/work").symlink_metadata().is_ok() {
                    left.push(p.join("work/work"));
                }
            }
            for t in [".trash", ".cleaning"] {
                left.extend(
                    fs::read_dir(d.join(t))
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| e.path()),
                );
            }
        }
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "[{}] left behind after the runs: {left:?}",
            c.label()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn dry_run_shows_each_overlay() {
    let c = Case::new(Who::Invoker, false);
    c.write(".npm/f", "x");
    let o = c.cordon(&["run", "--dry-run", "--", "true"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("dry run JSON");
    let ov = v["caches"]["overlays"].as_array().unwrap();
    let npm = ov
        .iter()
        .find(|o| {
            o["caches"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["name"] == "npm")
        })
        .expect("npm overlay");
    // One overlay of the home directory serves every cache on its mount.
    assert_eq!(
        npm["lower"],
        fs::canonicalize(&c.home).unwrap().display().to_string()
    );
    let upper = npm["upper"].as_str().unwrap();
    assert!(
        upper.contains("/caches/home-") && upper.ends_with("/upper"),
        "{upper}"
    );
    // The fallback shows the variables instead.
    let mut cmd = c.command(&["run", "--dry-run", "--", "true"]);
    cmd.env("CORDON_NO_USERNS", "1");
    let o = cmd.output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("dry run JSON");
    assert!(v["caches"]["overlays"].as_array().unwrap().is_empty());
    assert!(v["env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "npm_config_cache"));
}

#[test]
fn bad_caches_config_names_the_fix() {
    let c = Case::new(Who::Invoker, false);
    c.write(
        ".config/cordon/config.toml",
        "[caches]\nremove = [\"npn\"]\n",
    );
    let o = c.cordon(&["run", "--", "true"]);
    assert_eq!(code(&o), 125);
    assert!(text(&o).contains("did you mean `npm`"), "{}", text(&o));
}

// ---- what a sandbox can leave in its caches for cordon, or a later run, to trust ----

/// This workspace's caches directory under the case's state directory.
fn caches_dir(c: &Case) -> PathBuf {
    let id = cordon_audit::sha256_hex(
        fs::canonicalize(&c.ws)
            .unwrap()
            .as_os_str()
            .as_encoded_bytes(),
    )[..16]
        .to_string();
    c.home
        .join(format!(".local/state/cordon/workspaces/{id}/caches"))
}

/// `cordon run -- sh -c SCRIPT` with extra variables in cordon's environment.
fn sh_with(c: &Case, env: &[(&str, &str)], script: &str) -> Output {
    let mut cmd = c.command(&["run", "--", "sh", "-c", script]);
    cmd.envs(env.iter().copied());
    cmd.output().expect("run cordon")
}

/// The private cache directories are the sandboxes' (writable in every run of the workspace:
/// bind-mounted with namespaces, a writable root in the fallback), and cordon prepares them
/// before each run, outside the sandbox. A sandbox replaces the private CARGO_HOME (and another
/// group) by a link to a directory outside: the next run must not follow it (cordon made its
/// `config.toml` link there); it plants its own `config.toml` in the private CARGO_HOME
/// (`build.rustc-wrapper`): the next run's cargo must see the user's config again. The next
/// runs are fallback runs, where CARGO_HOME is private (with namespaces it is overlaid).
fn private_dirs_through_handles(c: &Case) {
    c.write(".cargo/config.toml", "[net]\nretry = 3\n");
    fs::create_dir_all(c.home.join("victim")).unwrap();
    c.chown_all();
    let fallback = [("CORDON_NO_USERNS", "1")];
    // $npm_config_cache is a private directory in both modes (there is no ~/.npm).
    let o = c.sh(
        "p=$(dirname \"$npm_config_cache\"); rm -rf \"$p/cargo\" \"$p/pip\" && \
         ln -s \"$HOME/victim\" \"$p/cargo\" && ln -s \"$HOME/victim/\" \"$p/pip\" && echo PLANTED",
    );
    assert!(text(&o).contains("PLANTED"), "[{}] {}", c.label(), text(&o));
    let o = sh_with(c, &fallback, "cat \"$CARGO_HOME/config.toml\"");
    let t = text(&o);
    assert_eq!(code(&o), 0, "[{}] {t}", c.label());
    let victim: Vec<_> = fs::read_dir(c.home.join("victim"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        victim.is_empty(),
        "[{}] cordon followed a link the sandbox planted in its private caches and made {victim:?} outside",
        c.label()
    );
    let private = caches_dir(c).join("private/cargo");
    assert!(
        fs::symlink_metadata(&private).unwrap().is_dir(),
        "[{}] the private CARGO_HOME is still the sandbox's link",
        c.label()
    );
    assert!(t.contains("retry = 3"), "[{}] {t}", c.label());

    // A config of the sandbox's own in the private CARGO_HOME.
    let o = sh_with(
        c,
        &fallback,
        "rm -f \"$CARGO_HOME/config.toml\" && \
         printf '[build]\\nrustc-wrapper = \"/bin/false\"\\n' > \"$CARGO_HOME/config.toml\" && echo PLANTED",
    );
    assert!(text(&o).contains("PLANTED"), "[{}] {}", c.label(), text(&o));
    let o = sh_with(c, &fallback, "cat \"$CARGO_HOME/config.toml\"");
    let t = text(&o);
    assert!(
        t.contains("retry = 3") && !t.contains("rustc-wrapper"),
        "[{}] the next run's cargo reads the config a sandbox planted:\n{t}",
        c.label()
    );
    assert_eq!(
        fs::read_link(private.join("config.toml")).unwrap(),
        c.home.join(".cargo/config.toml"),
        "[{}]",
        c.label()
    );
}

variants!(private_dirs_through_handles);

/// A cache that is or holds a place the sandbox sees private or emptied (its own /tmp, the
/// runtime directory hidden for its sockets) is not overlaid: the overlay's lower layer is the
/// host's directory, so `npm_config_cache=/tmp` showed the host's whole /tmp in the sandbox.
/// Checked with markers in the host's /tmp and runtime directory (readable by the user outside).
/// In the fallback /tmp is the host's anyway (README: no private /tmp); there the markers must
/// only stay unchanged.
fn caches_never_show_private_places(c: &Case) {
    let tmp = PathBuf::from(format!(
        "/tmp/cordon-redcache-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    /// Removes the directory in /tmp when the test ends, failed or not.
    struct Gone(PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    let _gone = Gone(tmp.clone());
    fs::create_dir_all(&tmp).unwrap();
    fs::write(tmp.join("marker"), "HOST-TMP-MARKER\n").unwrap();
    let _ = std::os::unix::fs::chown(&tmp, Some(c.uid), Some(c.gid));
    let _ = std::os::unix::fs::chown(tmp.join("marker"), Some(c.uid), Some(c.gid));
    c.write("../run/marker", "HOST-RUNTIME-MARKER\n");
    c.chown_all();
    let runtime = c.runtime.display().to_string();
    let cases = [
        ("npm_config_cache", "/tmp", tmp.join("marker")),
        ("PIP_CACHE_DIR", "/tmp", tmp.join("marker")),
        (
            "npm_config_cache",
            runtime.as_str(),
            c.runtime.join("marker"),
        ),
    ];
    for (var, val, file) in &cases {
        let before = fs::read_to_string(file).unwrap();
        let f = file.display();
        let o = sh_with(
            c,
            &[(var, val)],
            &format!("cat {f}; echo poison >> {f}; echo END"),
        );
        let t = text(&o);
        assert!(t.contains("END"), "[{}] {var}={val}: {t}", c.label());
        if !c.fallback {
            assert!(
                !t.contains("-MARKER"),
                "[{}] {var}={val}: the host's {f} is readable in the sandbox:\n{t}",
                c.label()
            );
        }
        assert_eq!(
            fs::read_to_string(file).unwrap(),
            before,
            "[{}] {var}={val}",
            c.label()
        );
    }
}

variants!(caches_never_show_private_places);

/// overlayfs keeps its own marks in `user.overlay.*` xattrs of the upper layer (`userxattr`):
/// opaque directories, whiteouts, redirects, origins, metacopy. Set through the merged view,
/// they are stored escaped (`user.overlay.overlay.*`, Linux 6.7+; refused before), so the next
/// mount of the layer does not obey them: a later run still sees the host's files, and neither
/// the upper layer nor the host's cache holds a mark overlayfs would interpret. 0/0 character
/// devices (whiteouts) cannot be made. In the fallback the caches are plain directories: the
/// host's file must stay as it was.
fn overlay_marks_are_not_obeyed(c: &Case) {
    c.write(".npm/d/f", "host\n");
    c.chown_all();
    let set = |p: &str, n: &str| {
        format!("python3 -c 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], b\"y\")' \"$HOME/.npm/{p}\" {n} 2>/dev/null;")
    };
    let mut script = String::new();
    for n in ["opaque", "whiteouts", "redirect", "origin", "metacopy"] {
        script.push_str(&set("d", &format!("user.overlay.{n}")));
    }
    script.push_str("echo x > \"$HOME/.npm/d/g\" 2>/dev/null;");
    script.push_str(&set("d/g", "user.overlay.whiteout"));
    script.push_str("mknod \"$HOME/.npm/d/wh\" c 0 0 2>/dev/null; echo END");
    if which("python3").is_none() {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let o = c.sh(&script);
    assert!(text(&o).contains("END"), "[{}] {}", c.label(), text(&o));
    let o = c.sh("ls \"$HOME/.npm/d\"");
    let t = text(&o);
    assert!(
        t.contains('f'),
        "[{}] the host's file is hidden now:\n{t}",
        c.label()
    );
    assert_eq!(
        fs::read_to_string(c.home.join(".npm/d/f")).unwrap(),
        "host\n",
        "[{}]",
        c.label()
    );
    // Outside: no upper layer holds an unescaped mark, nor a whiteout device.
    fn walk(p: &Path, bad: &mut Vec<String>) {
        let Ok(m) = fs::symlink_metadata(p) else {
            return;
        };
        if m.file_type().is_char_device() {
            bad.push(format!("{}: a character device", p.display()));
        }
        if let Ok(names) = xattrs(p) {
            for n in names {
                // overlayfs sets `origin`, `impure`, `uuid` itself (copy-up); these are the
                // marks planted above, which it sets only for what it did itself.
                let planted = ["opaque", "whiteouts", "whiteout", "redirect", "metacopy"];
                if planted.iter().any(|m| n == format!("user.overlay.{m}")) {
                    bad.push(format!("{}: {n}", p.display()));
                }
            }
        }
        if m.is_dir() {
            for e in fs::read_dir(p).into_iter().flatten().flatten() {
                walk(&e.path(), bad);
            }
        }
    }
    let mut bad = Vec::new();
    for e in fs::read_dir(caches_dir(c)).into_iter().flatten().flatten() {
        walk(&e.path().join("upper"), &mut bad);
    }
    if !c.fallback {
        // (In the fallback, Landlock has no right for metadata: the xattrs of the user's own
        // files can be changed; README, known limits.)
        walk(&c.home.join(".npm"), &mut bad);
    }
    assert!(
        bad.is_empty(),
        "[{}] overlay marks planted: {bad:?}",
        c.label()
    );
}

/// The xattr names of `p` (not following a link).
fn xattrs(p: &Path) -> std::io::Result<Vec<String>> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: llistxattr into a buffer of the size passed, with a NUL-terminated path.
    let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(buf[..n as usize]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(tool))
            .find(|f| f.is_file())
    })
}

variants!(overlay_marks_are_not_obeyed);

/// `cordon cache clean` while a sandbox of the workspace runs is refused (it would empty the
/// caches under the running tool), in both modes: fallback runs, which took no lock, now hold
/// the workspace's lock too (shared). Once the run has ended, clean removes the layers.
fn clean_while_running(c: &Case) {
    let child = c
        .command(&[
            "run",
            "--",
            "sh",
            "-c",
            "d=${PIP_CACHE_DIR:-$HOME/.cache/pip}; mkdir -p \"$d\" && echo kept > \"$d/f\" && \
             touch out/started && sleep 3 && cat \"$d/f\"",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run cordon");
    c.wait_for(&c.ws.join("out/started"), "the run");
    let o = c.cordon(&["cache", "clean"]);
    let run = child.wait_with_output().unwrap();
    clean_was_refused(c, &o, &run, "kept", "the running sandbox");
}

/// `clean` (run while a sandbox ran) was refused and said why, the sandbox's output shows
/// `kept` (its cache survived), and a `cache clean` now, with no run left, works.
fn clean_was_refused(c: &Case, clean: &Output, run: &Output, kept: &str, who: &str) {
    let t = text(clean);
    assert!(
        code(clean) != 0 && t.contains("is running"),
        "[{}] cache clean while {who} runs: {t}",
        c.label()
    );
    assert!(
        text(run).contains(kept),
        "[{}] {who} lost its cache: {}",
        c.label(),
        text(run)
    );
    let o = c.cordon(&["cache", "clean"]);
    assert_eq!(code(&o), 0, "[{}] {}", c.label(), text(&o));
}

variants!(clean_while_running);

/// A sandbox makes its cache a tree 5000 levels deep (in the upper layer of ~/.npm with
/// namespaces, in its private directory in the fallback), with 32 MiB at the bottom (more than
/// its 4096 first directories' blocks). `cordon
/// cache list` must count it, and `cordon cache clean` remove it: a walk holding a descriptor
/// per level stopped at the limit of open files, and a depth limit left the tree for good
/// (clean failed on it every time: "too deep").
fn deep_trees_are_measured_and_removed(c: &Case) {
    if which("python3").is_none() {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    if !c.fallback {
        fs::create_dir_all(c.home.join(".npm")).unwrap();
        c.chown_all();
    }
    let o = c.sh("python3 -c 'import os\n\
         d = os.environ.get(\"npm_config_cache\") or os.path.expanduser(\"~/.npm\")\n\
         os.makedirs(d, exist_ok=True); os.chdir(d)\n\
         for i in range(5000):\n    os.mkdir(\"z\"); os.chdir(\"z\")\n\
         open(\"f\", \"wb\").write(b\"x\" * (32 << 20))\n\
         print(\"DEEP\")'");
    assert!(text(&o).contains("DEEP"), "[{}] {}", c.label(), text(&o));
    let o = c.cordon(&["cache", "list", "--json"]);
    assert_eq!(code(&o), 0, "[{}] {}", c.label(), text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let total: u64 = v["stored"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["entries"].as_array().unwrap().iter())
        .map(|e| e["overlay_bytes"].as_u64().unwrap() + e["private_bytes"].as_u64().unwrap())
        .sum();
    assert!(
        total >= 32 << 20,
        "[{}] cache list counts {total} bytes for a tree holding 32 MiB at its bottom",
        c.label()
    );
    let o = c.cordon(&["cache", "clean"]);
    assert_eq!(code(&o), 0, "[{}] cache clean: {}", c.label(), text(&o));
    let left: Vec<_> = fs::read_dir(caches_dir(c))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from(".lock")],
        "[{}] cache clean left {left:?}",
        c.label()
    );
}

variants!(deep_trees_are_measured_and_removed);

/// Two sandboxes of one workspace at once. With namespaces, an upper layer cannot be in two
/// live mounts: the second run gets a throwaway layer (a tmpfs): it works, sees the host's
/// cache, its writes are not kept, and the first run's layer is intact for the next run. In the
/// fallback both share the private directory (as two tools share one cache directory). The
/// host's cache is unchanged either way.
fn two_sandboxes_at_once(c: &Case) {
    c.write(".npm/f", "host\n");
    c.chown_all();
    let before = fs::read_to_string(c.home.join(".npm/f")).unwrap();
    let cache = "d=${npm_config_cache:-$HOME/.npm}; mkdir -p \"$d\"";
    let first = c
        .command(&[
            "run",
            "--",
            "sh",
            "-c",
            &format!(
                "{cache}; echo a >> \"$d/log\" && touch out/a-started && \
                 i=0; while [ ! -e out/b-done ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \
                 echo a2 >> \"$d/log\"; echo A-END"
            ),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run cordon");
    c.wait_for(&c.ws.join("out/a-started"), "the first run");
    let o = c.sh(&format!(
        "{cache}; cat \"$HOME/.npm/f\" 2>/dev/null; echo b >> \"$d/log\" && cat \"$d/log\"; \
         touch out/b-done; echo B-END"
    ));
    let t = text(&o);
    let a = first.wait_with_output().unwrap();
    assert!(t.contains("B-END"), "[{}] second run: {t}", c.label());
    assert!(
        text(&a).contains("A-END"),
        "[{}] first run: {}",
        c.label(),
        text(&a)
    );
    let o = c.sh(&format!("{cache}; cat \"$d/log\""));
    let log = String::from_utf8_lossy(&o.stdout).into_owned();
    if c.fallback {
        assert_eq!(log, "a\nb\na2\n", "[{}] {}", c.label(), text(&o));
    } else {
        // The second run saw the host's cache (not the first run's layer), wrote in its own.
        assert!(
            t.contains("host\nb\nB-END"),
            "[{}] second run: {t}",
            c.label()
        );
        assert_eq!(
            log,
            "a\na2\n",
            "[{}] the first run's layer after both: {}",
            c.label(),
            text(&o)
        );
    }
    assert_eq!(
        fs::read_to_string(c.home.join(".npm/f")).unwrap(),
        before,
        "[{}]",
        c.label()
    );
    assert!(
        !c.home.join(".npm/log").exists(),
        "[{}] a run wrote in the host's cache",
        c.label()
    );
}

variants!(two_sandboxes_at_once);

/// A run killed mid-way (SIGKILL to cordon, the supervisor): its sandbox goes with it, and the
/// next run of the workspace gets its caches as usual (the locks died with their holders; the
/// volatile overlay's mark, which the killed init could not move, is moved aside), warm with
/// what the killed run wrote; every host cache is unchanged, and once the next run's init is
/// done no work directory or trash entry is left.
fn killed_run_then_next(c: &Case) {
    seed(c);
    c.write(".npm/f", "host\n");
    c.chown_all();
    let before = host_caches(c);
    let cache = "d=${npm_config_cache:-$HOME/.npm}; mkdir -p \"$d\"";
    // A command line no other test's process has: `sleep 6N.PIDN`.
    let n = rand_suffix();
    let marker = format!("{}.{}{n}", 60 + n, std::process::id());
    let mut first = c
        .command(&[
            "run",
            "--",
            "sh",
            "-c",
            &format!("{cache}; echo killed >> \"$d/log\" && touch out/k-started && sleep {marker}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run cordon");
    c.wait_for(&c.ws.join("out/k-started"), "the run");
    first.kill().unwrap();
    first.wait().unwrap();
    // Its sandbox is gone (a moment for the kernel to deliver the parent-death signals).
    // The processes running this run's `sleep` (found by their exact command line).
    let sleeping = || -> Vec<i32> {
        fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let pid: i32 = e.file_name().to_str()?.parse().ok()?;
                let cl = fs::read(e.path().join("cmdline")).ok()?;
                (cl == format!("sleep\0{marker}\0").as_bytes()).then_some(pid)
            })
            .collect()
    };
    for _ in 0..50 {
        if sleeping().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if c.fallback {
        // No PID namespace: what the command started outlives a SIGKILLed cordon (still under
        // Landlock and seccomp; README, known limits). Taken down here, by pid.
        for pid in sleeping() {
            // SAFETY: kill takes integers only.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    } else {
        let left = sleeping();
        assert!(
            left.is_empty(),
            "[{}] the killed run's command survived: {left:?}",
            c.label()
        );
    }
    let o = c.sh(&format!(
        "{cache}; echo next >> \"$d/log\" && cat \"$d/log\""
    ));
    let t = text(&o);
    assert_eq!(code(&o), 0, "[{}] {t}", c.label());
    assert!(t.contains("killed\nnext\n"), "[{}] {t}", c.label());
    for bad in ["thrown away", "read-only in this run", "cordon: cache"] {
        assert!(!t.contains(bad), "[{}] {t}", c.label());
    }
    assert_eq!(
        fs::read_to_string(c.home.join(".npm/f")).unwrap(),
        "host\n",
        "[{}]",
        c.label()
    );
    assert!(!c.home.join(".npm/log").exists(), "[{}]", c.label());
    assert_unchanged(c, &before, "after the killed run and the next");
    if !c.fallback {
        leaves_nothing(c);
    }
}

variants!(killed_run_then_next);

/// The workspace's layers (upper and work directories, in cordon's state directory) are out of
/// the sandbox's reach by every way to a path: directly, by the paths /proc/self/mountinfo gives
/// (`upperdir=`), through /proc/PID/root and /proc/PID/fd of every process it can see (init
/// holds the overlays' roots), and by a relative walk from a cache upwards. A marker in the
/// layers' directory (checked outside) is never read.
fn layers_unreachable(c: &Case) {
    c.write(".npm/f", "host\n");
    c.chown_all();
    // A first run makes the layers.
    let o = c.sh("echo x >> ~/.npm/f; true");
    assert_eq!(code(&o), 0, "[{}] {}", c.label(), text(&o));
    let layers = caches_dir(c);
    fs::create_dir_all(layers.join("zz/upper")).unwrap();
    fs::write(layers.join("zz/upper/MARK"), "UPPER-MARKER\n").unwrap();
    c.chown_all();
    let l = layers.display();
    let script = format!(
        "cat {l}/zz/upper/MARK; ls {l}; \
         for u in $(grep -o 'upperdir=[^,]*' /proc/self/mountinfo | cut -d= -f2); do ls \"$u\" \"$u/..\"; cat \"$u/../../zz/upper/MARK\"; done; \
         for p in /proc/[0-9]*; do cat \"$p/root{l}/zz/upper/MARK\"; for f in \"$p\"/fd/*; do cat \"$f/MARK\" \"$f/../zz/upper/MARK\"; done; done; \
         cd ~/.npm && cat ../.local/state/cordon/workspaces/*/caches/zz/upper/MARK; echo END"
    );
    let o = c.sh(&script);
    let t = text(&o);
    assert!(t.contains("END"), "[{}] {t}", c.label());
    assert!(
        !t.contains("UPPER-MARKER"),
        "[{}] the layers were reached from the sandbox:\n{t}",
        c.label()
    );
    assert_eq!(
        fs::read_to_string(c.home.join(".npm/f")).unwrap(),
        "host\n",
        "[{}]",
        c.label()
    );
}

variants!(layers_unreachable);

/// `cordon cache clean` after the first of two concurrent sandboxes has ended, while the second
/// still runs: with namespaces the second holds no lock (its overlays are on a throwaway layer),
/// but it uses the workspace's private directories; clean must see it running (the live runs'
/// records) and leave them alone.
fn clean_while_a_second_run_runs(c: &Case) {
    let spawn = |script: &str| {
        c.command(&["run", "--", "sh", "-c", script])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run cordon")
    };
    let wait = "i=0; while [ ! -e out/$1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done";
    let a = spawn(&format!(
        "w() {{ {wait}; }}; touch out/a-started; w a-go; echo A-END"
    ));
    c.wait_for(&c.ws.join("out/a-started"), "the first run");
    let b = spawn(&format!(
        "w() {{ {wait}; }}; mkdir -p \"$PIP_CACHE_DIR\" && echo kept > \"$PIP_CACHE_DIR/f\" && \
         touch out/b-started; w b-go; cat \"$PIP_CACHE_DIR/f\"; echo B-END"
    ));
    c.wait_for(&c.ws.join("out/b-started"), "the second run");
    fs::write(c.ws.join("out/a-go"), "").unwrap();
    let a = a.wait_with_output().unwrap();
    assert!(text(&a).contains("A-END"), "[{}] {}", c.label(), text(&a));
    let o = c.cordon(&["cache", "clean"]);
    fs::write(c.ws.join("out/b-go"), "").unwrap();
    let b = b.wait_with_output().unwrap();
    clean_was_refused(c, &o, &b, "kept\nB-END", "the second run");
}

variants!(clean_while_a_second_run_runs);

/// Credentials that a variable moves away from their place in the home directory stay
/// secrets there: pip's config under XDG_CONFIG_HOME, uv's credential store under
/// XDG_DATA_HOME, npm's user config (NPM_CONFIG_USERCONFIG), Docker's (DOCKER_CONFIG), each file
/// of KUBECONFIG, the netrc (NETRC). Read from the sandbox with those variables in cordon's
/// environment: no marker comes out.
fn moved_credentials_stay_secret(c: &Case) {
    for f in [
        "cfg/pip/pip.conf",
        "data/uv/credentials/credentials.toml",
        "elsewhere/npmrc",
        "dk/config.json",
        "kube/a",
        "kube/b",
        "elsewhere/netrc",
    ] {
        c.write(f, &format!("{SECRET}\n"));
    }
    c.chown_all();
    let h = |p: &str| c.home.join(p).display().to_string();
    let kube = format!("{}:{}", h("kube/a"), h("kube/b"));
    let env = [
        ("XDG_CONFIG_HOME", h("cfg")),
        ("XDG_DATA_HOME", h("data")),
        ("NPM_CONFIG_USERCONFIG", h("elsewhere/npmrc")),
        ("DOCKER_CONFIG", h("dk")),
        ("KUBECONFIG", kube),
        ("NETRC", h("elsewhere/netrc")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let o = sh_with(
        c,
        &env,
        "cat \"$XDG_CONFIG_HOME/pip/pip.conf\" \"$XDG_DATA_HOME/uv/credentials/credentials.toml\" \
         \"$NPM_CONFIG_USERCONFIG\" \"$DOCKER_CONFIG/config.json\" ~/kube/a ~/kube/b \"$NETRC\" 2>&1; \
         echo END",
    );
    let t = text(&o);
    assert!(t.contains("END"), "[{}] {t}", c.label());
    assert!(
        !t.contains(SECRET),
        "[{}] a moved credential was read:\n{t}",
        c.label()
    );
}

variants!(moved_credentials_stay_secret);

/// A missing cache whose path leaves its tool's directory: by a variable with `..`
/// (`YARN_GLOBAL_FOLDER=~/.yarn/../.ssh/planted`, `~/.yarn` present), or through a link in the
/// tool's directory (`~/.bun/install -> ~/.ssh`): cordon made `~/.ssh/planted` or `~/.ssh/cache`
/// on the host, inside a secret directory, to mount the cache there (the checks saw the path as
/// spelled, below the tool's directory). Now the tool gets its private directory: nothing
/// appears in `~/.ssh` (checked outside), and the secret stays unread.
fn dotdot_cannot_leave_the_tool_dir(c: &Case) {
    c.write(".ssh/id_ed25519", &format!("{SECRET}\n"));
    c.write(".yarn/.keep", "");
    c.write(".pnpmh/.keep", "");
    c.write(".bun/.keep", "");
    // A link in a tool's directory that leads into the secret directory (bun's cache,
    // `~/.bun/install/cache`, is missing).
    std::os::unix::fs::symlink(c.home.join(".ssh"), c.home.join(".bun/install")).unwrap();
    c.chown_all();
    let h = |p: &str| c.home.join(p).display().to_string();
    let (yarn, pnpm, store) = (
        h(".yarn/../.ssh/planted"),
        h(".pnpmh"),
        h(".pnpmh/../.ssh/store"),
    );
    let env = [
        ("YARN_GLOBAL_FOLDER", yarn.as_str()),
        ("PNPM_HOME", pnpm.as_str()),
        ("npm_config_store_dir", store.as_str()),
    ];
    let names = || {
        let mut v: Vec<_> = fs::read_dir(c.home.join(".ssh"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        v.sort();
        v
    };
    let before = names();
    let o = sh_with(
        c,
        &env,
        "cat ~/.ssh/id_ed25519 2>&1; mkdir -p \"$YARN_GLOBAL_FOLDER\" && echo x > \"$YARN_GLOBAL_FOLDER/f\"; \
         ls -a ~/.ssh 2>&1; echo END",
    );
    let t = text(&o);
    assert!(t.contains("END"), "[{}] {t}", c.label());
    assert!(
        !t.contains(SECRET),
        "[{}] the secret was read:\n{t}",
        c.label()
    );
    assert_eq!(names(), before, "[{}] made in ~/.ssh:\n{t}", c.label());
}

variants!(dotdot_cannot_leave_the_tool_dir);

/// A directory between the home and a cache that is not the user's: `~/.cache` made by
/// `sudo pip` (root's, or another account's), `~/.cache/pip` the user's. Writing in the cache
/// copies its directories up into the upper layer with their owners, which the sandbox's user
/// namespace must map (else EOVERFLOW): cordon overlays from the foreign directory down, never
/// above it. The write works, and the host's cache is unchanged (checked outside).
fn foreign_directory_above_a_cache(c: &Case) {
    if c.fallback {
        return; // no overlays (the tools use their private directories)
    }
    c.write(".cache/pip/http/f", "host\n");
    c.chown_all();
    // 4000000000: an account mapped in no namespace (for the invoking root, too, it is not root).
    std::os::unix::fs::chown(
        c.home.join(".cache"),
        Some(4_000_000_000),
        Some(4_000_000_000),
    )
    .unwrap();
    let o = sh_with(
        c,
        &[],
        "echo sandbox >> ~/.cache/pip/http/f && mkdir -p ~/.cache/pip/new && echo ok > ~/.cache/pip/new/g && cat ~/.cache/pip/http/f ~/.cache/pip/new/g; echo END",
    );
    let t = text(&o);
    assert!(
        t.contains("host\nsandbox\nok\nEND"),
        "[{}] the cache below a foreign directory is not writable:\n{t}",
        c.label()
    );
    assert_eq!(
        fs::read_to_string(c.home.join(".cache/pip/http/f")).unwrap(),
        "host\n",
        "[{}] the host's cache was written",
        c.label()
    );
    assert!(!c.home.join(".cache/pip/new").exists(), "[{}]", c.label());
}

variants!(foreign_directory_above_a_cache);

/// cordon's state directory reached through a link (`XDG_STATE_HOME=~/st`, `~/st -> ~/real`;
/// or `/home -> /var/home`): the caches work as usual (the supervisor opens their directories
/// with no link on the way: it found one and left every cache read-only), warm from run to run,
/// and the host's cache is unchanged.
fn state_dir_through_a_link(c: &Case) {
    c.write(".npm/f", "host\n");
    fs::create_dir_all(c.home.join("real")).unwrap();
    std::os::unix::fs::symlink(c.home.join("real"), c.home.join("st")).unwrap();
    c.chown_all();
    let st = c.home.join("st").display().to_string();
    for i in 0..2 {
        let o = sh_with(
            c,
            &[("XDG_STATE_HOME", st.as_str())],
            "d=${npm_config_cache:-$HOME/.npm}; mkdir -p \"$d\" && echo run >> \"$d/log\" && cat \"$d/log\"",
        );
        let t = text(&o);
        assert_eq!(code(&o), 0, "[{}] {t}", c.label());
        assert_eq!(
            t.matches("run\n").count(),
            i + 1,
            "[{}] run {i}: {t}",
            c.label()
        );
        for bad in ["thrown away", "read-only in this run", "cordon: cache"] {
            assert!(!t.contains(bad), "[{}] run {i}: {t}", c.label());
        }
    }
    assert_eq!(
        fs::read_to_string(c.home.join(".npm/f")).unwrap(),
        "host\n",
        "[{}]",
        c.label()
    );
    assert!(!c.home.join(".npm/log").exists(), "[{}]", c.label());
}

variants!(state_dir_through_a_link);

// ---- real package managers against the real registries ----

/// CA bundles of this machine (behind a TLS-intercepting mirror the tools need them), passed
/// into the sandbox when the tests' environment has them.
fn ca_env() -> Vec<String> {
    [
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "NODE_EXTRA_CA_CERTS",
        "PIP_CERT",
        "REQUESTS_CA_BUNDLE",
        "CARGO_HTTP_CAINFO",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| format!("--env={k}={v}")))
    .collect()
}

/// `--allow-domain` for each host, plus `--allow-local` when one of them resolves to a private
/// or reserved address here: behind a registry mirror (this machine's resolve to TEST-NET-3),
/// the proxy would otherwise refuse them as local destinations.
fn allow(hosts: &[&str]) -> Vec<String> {
    use std::net::ToSocketAddrs;
    let mut v: Vec<String> = hosts
        .iter()
        .map(|h| format!("--allow-domain={h}"))
        .collect();
    let local = hosts.iter().any(|h| {
        (*h, 443)
            .to_socket_addrs()
            .map(|mut a| a.any(|a| cordon_net::is_local(a.ip())))
            .unwrap_or(false)
    });
    if local {
        v.push("--allow-local".into());
    }
    v
}

fn net_log_lines(p: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Runs `script` in the sandbox with the registries reachable: through the proxy (namespaces;
/// the connections are returned from --net-log), or with `--network full` in the fallback.
fn install(
    c: &Case,
    hosts: &[&str],
    extra: &[String],
    script: &str,
) -> (Output, Vec<serde_json::Value>) {
    let log = c.base.join(format!("net-{}.log", rand_suffix()));
    let mut args: Vec<String> = vec!["run".into()];
    if c.fallback {
        args.push("--network=full".into());
    } else {
        args.extend(allow(hosts));
        args.push(format!("--net-log={}", log.display()));
    }
    args.extend(ca_env());
    args.extend(extra.iter().cloned());
    // In a directory below the workspace's top level: in the fallback, new entries cannot be
    // created at the top level (README: the fallback).
    let app = c.ws.join("app");
    if !app.exists() {
        fs::create_dir_all(&app).unwrap();
        c.chown_all();
    }
    args.push(format!("--cwd={}", app.display()));
    args.extend(["--".into(), "sh".into(), "-c".into(), script.into()]);
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let o = c.cordon(&a);
    (o, net_log_lines(&log))
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// The run's output must not complain about a read-only or unwritable cache.
fn no_cache_complaint(c: &Case, what: &str, o: &Output) {
    let t = text(o).to_lowercase();
    for bad in [
        "read-only file system",
        "erofs",
        "eacces",
        "permission denied",
        "not writable",
        "failed to write cache",
        "cache entry deserialization failed",
    ] {
        assert!(
            !t.contains(bad),
            "[{}] {what}: `{bad}` in the output:\n{}",
            c.label(),
            text(o)
        );
    }
}

fn ok(c: &Case, what: &str, o: &Output) {
    assert_eq!(code(o), 0, "[{}] {what} failed:\n{}", c.label(), text(o));
    no_cache_complaint(c, what, o);
}

/// A proxy that goes nowhere: with it, any network access of the second run fails, so its
/// success shows that the cache served it (fallback: no proxy log to count connections in).
fn no_network() -> Vec<String> {
    [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .map(|k| format!("--env={k}=http://127.0.0.1:9"))
    .collect()
}

fn second_run_offline(c: &Case, conns: &[serde_json::Value], what: &str) {
    if !c.fallback {
        assert!(
            conns.is_empty(),
            "[{}] {what}: the second run went to the network: {conns:?}",
            c.label()
        );
    }
}

fn require(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/opt/cordon-ci/bin")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is not installed: .ci/run installs it"
        );
        eprintln!("skipping: {tool} is not installed here");
    }
    found
}

fn npm_install(c: &Case) {
    if !require("npm") {
        return;
    }
    fs::create_dir_all(c.ws.join("app")).unwrap();
    fs::write(
        c.ws.join("app/package.json"),
        "{\"name\":\"t\",\"version\":\"1.0.0\",\"private\":true}\n",
    )
    .unwrap();
    c.chown_all();
    let hosts = ["registry.npmjs.org"];
    let (o, conns) = install(c, &hosts, &[], "npm install --no-audit --no-fund is-number@7.0.0 && test -f node_modules/is-number/index.js && echo INSTALLED");
    ok(c, "npm install", &o);
    assert!(text(&o).contains("INSTALLED"));
    assert!(
        c.fallback || !conns.is_empty(),
        "[{}] the first npm install made no connection",
        c.label()
    );
    // Again, from scratch, served from the workspace's cache: no connection at all.
    let extra = if c.fallback { no_network() } else { Vec::new() };
    let (o, conns) = install(c, &hosts, &extra, "rm -rf node_modules package-lock.json && npm install --no-audit --no-fund --prefer-offline is-number@7.0.0 && test -f node_modules/is-number/index.js && echo INSTALLED");
    ok(c, "npm install (second)", &o);
    assert!(text(&o).contains("INSTALLED"));
    second_run_offline(c, &conns, "npm install");
}

fn pip_install(c: &Case) {
    if !require("python3") {
        return;
    }
    let hosts = ["pypi.org", "files.pythonhosted.org"];
    // A venv without its own pip (ensurepip alone takes ~10 s here): the system's pip installs
    // into it with --python.
    let script = "rm -rf .venv && /usr/bin/python3 -m venv --without-pip .venv && /usr/bin/python3 -m pip --python .venv/bin/python install -q --disable-pip-version-check idna==3.7 && .venv/bin/python -c 'import idna; print(\"INSTALLED\", idna.__version__)' && echo \"CACHED $(find \"$(/usr/bin/python3 -m pip cache dir)\" -type f | wc -l)\"";
    let (o, conns) = install(c, &hosts, &[], script);
    ok(c, "pip install", &o);
    let t = text(&o);
    assert!(t.contains("INSTALLED 3.7"), "{t}");
    assert!(
        c.fallback || conns.iter().any(|e| e["host"] == "files.pythonhosted.org"),
        "[{}] {conns:?}",
        c.label()
    );
    // pip keeps only responses that HTTP allows it to cache: behind a mirror that strips
    // Cache-Control (this machine's), nothing is cached, inside cordon or out.
    let cached = t
        .split("CACHED ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    let (o, conns) = install(c, &hosts, &[], script);
    ok(c, "pip install (second)", &o);
    assert!(text(&o).contains("INSTALLED 3.7"), "{}", text(&o));
    if cached == 0 {
        eprintln!("note: the registry's responses are not cacheable here (no Cache-Control): pip's HTTP cache cannot serve the second install");
        return;
    }
    // The wheel comes from the workspace's cache (the index page may be revalidated).
    assert!(
        !conns.iter().any(|e| e["host"] == "files.pythonhosted.org"),
        "[{}] the second pip install downloaded the wheel again: {conns:?}",
        c.label()
    );
}

fn uv_path() -> Option<String> {
    ["/opt/cordon-ci/bin/uv", "/usr/local/bin/uv", "/usr/bin/uv"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| p.to_string())
}

fn uv_install(c: &Case) {
    let Some(uv) = uv_path() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "uv is not installed: .ci/run installs it"
        );
        eprintln!("skipping: uv is not installed here");
        return;
    };
    let hosts = ["pypi.org", "files.pythonhosted.org"];
    let script = |offline: &str| {
        format!(
            "rm -rf .venv && {uv} venv -q --python /usr/bin/python3 .venv && {uv} pip install -q {offline} --python .venv/bin/python idna==3.7 && .venv/bin/python -c 'import idna; print(\"INSTALLED\", idna.__version__)'"
        )
    };
    let env = [
        "--env=UV_PYTHON_DOWNLOADS=never".to_string(),
        "--env=UV_NATIVE_TLS=1".to_string(),
    ];
    let (o, conns) = install(c, &hosts, &env, &script(""));
    ok(c, "uv pip install", &o);
    assert!(text(&o).contains("INSTALLED 3.7"), "{}", text(&o));
    assert!(c.fallback || !conns.is_empty());
    let mut extra = env.to_vec();
    if c.fallback {
        extra.extend(no_network());
    }
    let (o, conns) = install(c, &hosts, &extra, &script("--offline"));
    ok(c, "uv pip install --offline (second)", &o);
    assert!(text(&o).contains("INSTALLED 3.7"), "{}", text(&o));
    second_run_offline(c, &conns, "uv pip install --offline");
}

/// cargo as the invoking user (the toolchain lives in its home), with this case's fake home as
/// CARGO_HOME: the overlaid registry is the fake home's.
fn cargo_fetch_build(c: &Case) {
    let real_home = std::env::var("HOME").unwrap_or_default();
    let cargo = format!(
        "{}/bin/cargo",
        std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{real_home}/.cargo"))
    );
    if !Path::new(&cargo).exists() {
        eprintln!("skipping: no cargo at {cargo}");
        return;
    }
    let rustup = std::env::var("RUSTUP_HOME").unwrap_or_else(|_| format!("{real_home}/.rustup"));
    fs::create_dir_all(c.ws.join("app/src")).unwrap();
    fs::write(
        c.ws.join("app/Cargo.toml"),
        "[package]\nname = \"t\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ncfg-if = \"=1.0.0\"\n",
    )
    .unwrap();
    fs::write(c.ws.join("app/src/main.rs"), "cfg_if::cfg_if! { if #[cfg(unix)] { fn main() { println!(\"BUILT\"); } } else { fn main() {} } }\n").unwrap();
    c.write(".cargo/registry/.keep", "");
    c.chown_all();
    let hosts = ["index.crates.io", "static.crates.io"];
    let env = vec![
        format!("--env=RUSTUP_HOME={rustup}"),
        format!("--env=CARGO_HOME={}", c.home.join(".cargo").display()),
        format!(
            "--env=PATH={}:/usr/bin:/bin",
            Path::new(&cargo).parent().unwrap().display()
        ),
    ];
    let (o, conns) = install(c, &hosts, &env, "cargo fetch -q && echo FETCHED");
    ok(c, "cargo fetch", &o);
    assert!(c.fallback || !conns.is_empty());
    let mut extra = env.clone();
    if c.fallback {
        extra.extend(no_network());
    }
    let (o, conns) = install(
        c,
        &hosts,
        &extra,
        "rm -rf target && cargo build -q --offline && ./target/debug/t",
    );
    ok(c, "cargo build --offline (second)", &o);
    assert!(text(&o).contains("BUILT"), "{}", text(&o));
    second_run_offline(c, &conns, "cargo build --offline");
    // The host's registry got nothing.
    assert!(fs::read_dir(c.home.join(".cargo/registry"))
        .unwrap()
        .flatten()
        .all(|e| e.file_name() == ".keep"));
}

mod real {
    use super::harness::{each, Who};
    #[test]
    fn npm_install() {
        each(super::npm_install, Who::Unprivileged, false)
    }
    #[test]
    fn npm_install_fallback() {
        each(super::npm_install, Who::Unprivileged, true)
    }
    #[test]
    fn pip_install() {
        each(super::pip_install, Who::Unprivileged, false)
    }
    #[test]
    fn pip_install_fallback() {
        each(super::pip_install, Who::Unprivileged, true)
    }
    #[test]
    fn uv_install() {
        each(super::uv_install, Who::Unprivileged, false)
    }
    #[test]
    fn uv_install_fallback() {
        each(super::uv_install, Who::Unprivileged, true)
    }
    #[test]
    fn cargo_fetch_build() {
        each(super::cargo_fetch_build, Who::Invoker, false)
    }
    #[test]
    fn cargo_fetch_build_fallback() {
        each(super::cargo_fetch_build, Who::Invoker, true)
    }
}
