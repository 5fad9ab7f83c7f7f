use super::*;

struct T {
    _dir: tempfile::TempDir,
    home: PathBuf,
    ws: PathBuf,
    state: PathBuf,
}

fn setup() -> T {
    let d = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(d.path()).unwrap();
    let home = root.join("home");
    let ws = home.join("proj");
    let state = home.join(".local/state/cordon");
    fs::create_dir_all(&ws).unwrap();
    fs::create_dir_all(&state).unwrap();
    T {
        _dir: d,
        home,
        ws,
        state,
    }
}

fn req(t: &T) -> CacheRequest {
    CacheRequest {
        enabled: true,
        dir: Some(t.state.join("workspaces/x/caches")),
        state_dir: Some(t.state.clone()),
        ..Default::default()
    }
}

fn run(
    t: &T,
    r: &CacheRequest,
    env: &[(&str, &str)],
    namespaces: bool,
) -> (Caches, Vec<(String, String)>) {
    let mut parent: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parent.push(("HOME".into(), t.home.display().to_string()));
    let mut out = Vec::new();
    let c = for_spec(
        r,
        &Context {
            home: &t.home,
            workspace: &t.ws,
            writable: std::slice::from_ref(&t.ws),
            secrets: &[],
            parent_env: &parent,
        },
        true,
        namespaces,
        &mut out,
    );
    (c, out)
}

/// The cache `name` and the overlay it is mounted from.
fn overlay<'a>(c: &'a Caches, name: &str) -> Option<(&'a Overlay, &'a Cache)> {
    c.overlays
        .iter()
        .find_map(|o| o.caches.iter().find(|m| m.name == name).map(|m| (o, m)))
}

fn private<'a>(c: &'a Caches, name: &str) -> Option<&'a Private> {
    c.private.iter().find(|o| o.name == name)
}

fn env_of<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
    env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[test]
fn existing_caches_are_overlaid_missing_ones_redirected() {
    let t = setup();
    fs::create_dir_all(t.home.join(".npm")).unwrap();
    fs::create_dir_all(t.home.join(".cache/pip")).unwrap();
    fs::create_dir_all(t.home.join(".cargo/registry")).unwrap();
    let (c, env) = run(&t, &req(&t), &[], true);
    let (o, npm) = overlay(&c, "npm").expect("npm overlaid");
    assert_eq!(npm.path, t.home.join(".npm"));
    // One overlay, of the home directory, serves every cache on its mount.
    assert_eq!(o.lower, t.home);
    assert!(o.upper.starts_with(t.state.join("workspaces/x/caches")));
    assert!(o.name.starts_with("home-") && o.upper.ends_with(format!("{}/upper", o.name)));
    assert!(!npm.create);
    // ~/.cargo exists: the missing ~/.cargo/git is created there and overlaid too, from the same
    // overlay as the registry and npm.
    let (og, git) = overlay(&c, "cargo-git").expect("cargo-git overlaid");
    let (or, _) = overlay(&c, "cargo-registry").expect("cargo-registry overlaid");
    assert!(git.create);
    assert_eq!(og, or);
    assert_eq!(og, o);
    assert_eq!(c.overlays.len(), 1);
    // pip: the overlay of ~/.cache.
    fs::create_dir_all(t.home.join(".local/share/pnpm/store")).unwrap();
    let (c, _) = run(&t, &req(&t), &[], true);
    // ~/.local holds the state directory, with the layers: still the one overlay of the home
    // directory (overlayfs refuses only a lookup through it that reaches its own layers).
    assert_eq!(overlay(&c, "pnpm-store").unwrap().0.lower, t.home);
    let (op, pip) = overlay(&c, "pip").unwrap();
    assert_eq!(
        (op.lower.clone(), pip.path.clone()),
        (t.home.clone(), t.home.join(".cache/pip"))
    );
    assert_eq!(c.overlays.len(), 1);
    // No host cache, no tool directory: the tool's variable points at the private directory.
    let uv = private(&c, "uv").expect("uv private");
    assert_eq!(uv.dir, t.state.join("workspaces/x/caches/private/uv"));
    assert_eq!(env_of(&env, "UV_CACHE_DIR"), Some(uv.dir.to_str().unwrap()));
    assert!(env_of(&env, "npm_config_cache").is_none());
    // yarn 1: nothing to overlay, no variable of its own.
    assert!(c.skipped.iter().any(|s| s.name == "yarn"));
    // Maven gets its repository through MAVEN_OPTS.
    let m = env_of(&env, "MAVEN_OPTS").unwrap();
    assert!(
        m.starts_with("-Dmaven.repo.local=") && m.ends_with("private/maven"),
        "{m}"
    );
}

#[test]
fn variables_move_caches_and_reach_the_command() {
    let t = setup();
    let moved = t.home.join("elsewhere/npm-cache");
    fs::create_dir_all(&moved).unwrap();
    let xdg = t.home.join("xdg");
    fs::create_dir_all(xdg.join("pip")).unwrap();
    let (c, env) = run(
        &t,
        &req(&t),
        &[
            ("npm_config_cache", moved.to_str().unwrap()),
            ("XDG_CACHE_HOME", xdg.to_str().unwrap()),
        ],
        true,
    );
    assert_eq!(overlay(&c, "npm").unwrap().1.path, moved);
    assert_eq!(overlay(&c, "pip").unwrap().1.path, xdg.join("pip"));
    // Below the home directory, on its mount: the overlay of the home directory.
    assert_eq!(overlay(&c, "npm").unwrap().0.lower, t.home);
    assert_eq!(
        env_of(&env, "npm_config_cache"),
        Some(moved.to_str().unwrap())
    );
    assert_eq!(env_of(&env, "XDG_CACHE_HOME"), Some(xdg.to_str().unwrap()));
}

/// Caches outside the home directory (a container image's `CARGO_HOME=/usr/local/cargo`) share
/// one overlay too: the highest directory of their mount below their top-level directory, never
/// `/`; only the caches are mounted from it.
#[test]
fn caches_outside_home_share_an_overlay() {
    let t = setup();
    let outside = t.home.parent().unwrap().join("opt/cargo");
    fs::create_dir_all(outside.join("registry")).unwrap();
    fs::create_dir_all(outside.join("git")).unwrap();
    let (c, _) = run(
        &t,
        &req(&t),
        &[("CARGO_HOME", outside.to_str().unwrap())],
        true,
    );
    let (or, reg) = overlay(&c, "cargo-registry").expect("cargo-registry overlaid");
    let (og, _) = overlay(&c, "cargo-git").expect("cargo-git overlaid");
    assert_eq!(or, og);
    assert_eq!(reg.path, outside.join("registry"));
    assert!(outside.starts_with(&or.lower), "{:?}", or.lower);
    assert!(
        or.lower.components().count() >= 2,
        "never /: {:?}",
        or.lower
    );
}

/// A directory between the home and a cache that is not the user's (`sudo pip` made `~/.cache`
/// root's) cannot be copied up into the upper layer (its owner is not mapped in the sandbox's user
/// namespace: EOVERFLOW on the first write): it can be an overlay's root (never copied up), but
/// nothing above it.
#[test]
fn foreign_directories_stay_out_of_the_overlay() {
    let t = setup();
    fs::create_dir_all(t.home.join(".cache/pip")).unwrap();
    fs::create_dir_all(t.home.join(".npm")).unwrap();
    let foreign = 4_000_000_000u32;
    if std::os::unix::fs::chown(t.home.join(".cache"), Some(foreign), Some(foreign)).is_err() {
        return; // chown needs root (CI runs as root; caches.rs checks the same end to end)
    }
    let (c, _) = run(&t, &req(&t), &[], true);
    assert_eq!(overlay(&c, "pip").unwrap().0.lower, t.home.join(".cache"));
    assert_eq!(overlay(&c, "npm").unwrap().0.lower, t.home);
}

#[test]
fn go_env_file_is_read() {
    let t = setup();
    let modc = t.home.join("gomods");
    fs::create_dir_all(&modc).unwrap();
    fs::create_dir_all(t.home.join(".config/go")).unwrap();
    fs::write(
        t.home.join(".config/go/env"),
        format!("GOMODCACHE={}\nGOPROXY=off\n", modc.display()),
    )
    .unwrap();
    let (c, _) = run(&t, &req(&t), &[], true);
    assert_eq!(overlay(&c, "go-mod").unwrap().1.path, modc);
    // A FIFO where the file is expected (GOENV pointing into a writable root a sandbox wrote):
    // never waited for, and the default places are used.
    let fifo = t.ws.join("goenv");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (c, _) = run(&t, &req(&t), &[("GOENV", fifo.to_str().unwrap())], true);
    assert!(
        overlay(&c, "go-mod").is_none_or(|o| o.1.path != modc),
        "{c:?}"
    );
}

#[test]
fn refused_places() {
    let t = setup();
    // A cache inside the workspace is already writable (and per workspace).
    let inside = t.ws.join(".npm-cache");
    fs::create_dir_all(&inside).unwrap();
    // A cache that is the home directory itself would make the whole home copy-on-write.
    let (c, _) = run(
        &t,
        &req(&t),
        &[
            ("npm_config_cache", inside.to_str().unwrap()),
            ("PIP_CACHE_DIR", t.home.to_str().unwrap()),
            ("UV_CACHE_DIR", t.state.join("x").to_str().unwrap()),
        ],
        true,
    );
    assert!(overlay(&c, "npm").is_none());
    assert!(c
        .skipped
        .iter()
        .any(|s| s.name == "npm" && s.why.contains("writable root")));
    assert!(overlay(&c, "pip").is_none());
    assert!(c
        .skipped
        .iter()
        .any(|s| s.name == "pip" && s.why.contains("home")));
    // UV_CACHE_DIR inside the state directory, missing: private (never an overlay there).
    assert!(overlay(&c, "uv").is_none());
}

/// A missing cache is made in its tool's directory only where it really is below it: a variable
/// with `..` (`YARN_GLOBAL_FOLDER=~/.yarn/../.ssh/x`, `~/.gradle/new/../../.ssh/y`), or a link in
/// the tool's directory that leads out of it (`~/.bun/install -> ~/.ssh`), points the tool at
/// its private directory instead; before, it planned `~/.yarn/../.ssh/x` or
/// `~/.bun/install/cache` (made on the host, in `~/.ssh`), which the checks, comparing the path
/// as spelled, did not see inside `~/.ssh`. A link within the tool's directory is followed.
#[test]
fn missing_caches_stay_in_their_tool_dir() {
    let t = setup();
    for d in [".yarn", ".gradle", "go/real", ".ssh", "pn", ".bun"] {
        fs::create_dir_all(t.home.join(d)).unwrap();
    }
    // Links in a tool's directory: one out of it (into a secret directory), one within it.
    std::os::unix::fs::symlink(t.home.join(".ssh"), t.home.join(".bun/install")).unwrap();
    std::os::unix::fs::symlink("real", t.home.join("go/pkg")).unwrap();
    let ssh = t.home.join(".ssh");
    let (c, env) = run(
        &t,
        &req(&t),
        &[
            (
                "YARN_GLOBAL_FOLDER",
                t.home.join(".yarn/../.ssh/x").to_str().unwrap(),
            ),
            (
                "GRADLE_USER_HOME",
                t.home.join(".gradle/new/../../.ssh/y").to_str().unwrap(),
            ),
            ("PNPM_HOME", t.home.join("pn").to_str().unwrap()),
            (
                "npm_config_store_dir",
                t.home.join("pn/./b//c/").to_str().unwrap(),
            ),
        ],
        true,
    );
    for o in &c.overlays {
        for m in &o.caches {
            assert!(
                !m.path.starts_with(&ssh),
                "{} at {}",
                m.name,
                m.path.display()
            );
            assert!(
                m.path.components().all(|x| matches!(
                    x,
                    std::path::Component::RootDir | std::path::Component::Normal(_)
                )),
                "{}",
                m.path.display()
            );
        }
    }
    assert!(overlay(&c, "yarn-berry").is_none());
    assert!(overlay(&c, "bun").is_none());
    assert!(private(&c, "bun").is_some());
    let (_, m) = overlay(&c, "go-mod").expect("go-mod");
    assert!(m.create);
    assert_eq!(m.path, t.home.join("go/real/mod"));
    assert!(private(&c, "yarn-berry").is_some());
    assert!(env_of(&env, "YARN_GLOBAL_FOLDER").is_some_and(|v| !v.contains(".ssh")));
    // Without `..`, a path spelled loosely is still made in its tool's directory, cleanly.
    let (_, m) = overlay(&c, "pnpm-store").expect("pnpm-store");
    assert!(m.create);
    assert_eq!(m.path.as_os_str(), t.home.join("pn/b/c").as_os_str());
}

/// cordon's state directory reached through a link (`XDG_STATE_HOME=~/st`, `~/st -> ~/real`):
/// compared as it is, a cache at its real path was not seen to overlap it (an overlay of the
/// state directory was planned), and the supervisor, which opens the caches directory with no
/// link on the way, could not prepare any cache. Canonical, the cache is refused and the
/// directories are reachable without a link. Places the sandbox sees private are refused too.
#[test]
fn state_through_a_link_and_private_places() {
    let t = setup();
    let real = t.home.join("real");
    fs::create_dir_all(real.join("cordon")).unwrap();
    std::os::unix::fs::symlink(&real, t.home.join("st")).unwrap();
    let r = CacheRequest {
        enabled: true,
        dir: Some(t.home.join("st/cordon/workspaces/x/caches")),
        state_dir: Some(t.home.join("st/cordon")),
        ..Default::default()
    };
    let (c, _) = run(
        &t,
        &r,
        &[
            ("npm_config_cache", real.join("cordon").to_str().unwrap()),
            ("PIP_CACHE_DIR", "/sys"),
            ("UV_CACHE_DIR", "/proc/self"),
        ],
        true,
    );
    assert!(overlay(&c, "npm").is_none(), "{c:?}");
    assert!(c
        .skipped
        .iter()
        .any(|s| s.name == "npm" && s.why.contains("state directory")));
    assert_eq!(c.state_dir.as_deref(), Some(real.join("cordon").as_path()));
    assert_eq!(
        c.dir.as_deref(),
        Some(real.join("cordon/workspaces/x/caches").as_path())
    );
    // `/`, the home through a link, the workspace through a link: refused, as they are.
    std::os::unix::fs::symlink(&t.home, t.home.join("h")).unwrap();
    std::os::unix::fs::symlink(&t.ws, t.home.join("w")).unwrap();
    let (c2, _) = run(
        &t,
        &r,
        &[
            ("npm_config_cache", "/"),
            ("GOCACHE", t.home.join("h").to_str().unwrap()),
            ("CCACHE_DIR", t.home.join("w").to_str().unwrap()),
        ],
        true,
    );
    for (n, why) in [
        ("npm", "home"),
        ("go-build", "home"),
        ("ccache", "workspace"),
    ] {
        assert!(overlay(&c2, n).is_none(), "{n}: {c2:?}");
        assert!(
            c2.skipped
                .iter()
                .any(|s| s.name == n && s.why.contains(why)),
            "{n}: {c2:?}"
        );
    }
    for n in ["pip", "uv"] {
        assert!(overlay(&c, n).is_none(), "{n}: {c:?}");
        assert!(
            c.skipped
                .iter()
                .any(|s| s.name == n && s.why.contains("sandbox sees private")),
            "{n}: {c:?}"
        );
    }
}

#[test]
fn remove_and_add() {
    let t = setup();
    fs::create_dir_all(t.home.join(".cargo/registry")).unwrap();
    fs::create_dir_all(t.home.join(".cargo/git")).unwrap();
    fs::create_dir_all(t.home.join(".deno")).unwrap();
    let mut r = req(&t);
    r.remove = vec!["cargo".into()];
    r.add = vec![Extra {
        name: "deno".into(),
        path: t.home.join(".deno"),
        var: Some("DENO_DIR".into()),
    }];
    let (c, _) = run(&t, &r, &[], true);
    assert!(overlay(&c, "cargo-registry").is_none() && overlay(&c, "cargo-git").is_none());
    assert_eq!(
        c.skipped
            .iter()
            .filter(|s| s.why.contains("removed"))
            .count(),
        2
    );
    assert!(overlay(&c, "deno").is_some());
    // The fallback points DENO_DIR at a private directory.
    let (c, env) = run(&t, &r, &[], false);
    assert!(c.overlays.is_empty());
    assert!(env_of(&env, "DENO_DIR").unwrap().ends_with("private/deno"));
    // Disabled: nothing at all.
    r.enabled = false;
    let (c, env) = run(&t, &r, &[], true);
    assert!(c.is_empty() && env.is_empty());
}

#[test]
fn fallback_redirects_every_cache_with_a_variable() {
    let t = setup();
    fs::create_dir_all(t.home.join(".npm")).unwrap();
    fs::create_dir_all(t.home.join(".cargo/registry")).unwrap();
    fs::write(t.home.join(".cargo/config.toml"), "[net]\n").unwrap();
    let (c, env) = run(&t, &req(&t), &[], false);
    assert!(c.overlays.is_empty());
    assert!(env_of(&env, "npm_config_cache")
        .unwrap()
        .ends_with("private/npm"));
    let cargo = env_of(&env, "CARGO_HOME").unwrap();
    assert!(cargo.ends_with("private/cargo"), "{cargo}");
    // Creating the private directory links the real cargo config into the private CARGO_HOME.
    let dirs = c.fallback_dirs().unwrap();
    assert_eq!(dirs, vec![t.state.join("workspaces/x/caches/private")]);
    let link = Path::new(cargo).join("config.toml");
    assert_eq!(
        fs::read_link(&link).unwrap(),
        t.home.join(".cargo/config.toml")
    );
    // Idempotent: a spec built for the fallback is converted again by the supervisor.
    let mut c2 = c.clone();
    let mut env2 = env.clone();
    c2.to_fallback(&mut env2);
    assert_eq!(c2.private, c.private);
    assert_eq!(env2, env);
}

#[test]
fn moved_credentials_are_secrets() {
    let t = setup();
    let ch = t.home.join("opt-cargo");
    let s = moved_secrets(
        &t.home,
        &[("CARGO_HOME".to_string(), ch.display().to_string())],
    );
    assert!(s.contains(&ch.join("credentials.toml")));
    assert!(moved_secrets(&t.home, &[]).is_empty());
    let v = |k: &str, p: &str| (k.to_string(), t.home.join(p).display().to_string());
    let s = moved_secrets(
        &t.home,
        &[
            v("XDG_CONFIG_HOME", "cfg"),
            v("XDG_DATA_HOME", "data"),
            v("DOCKER_CONFIG", "dk"),
            v("NPM_CONFIG_USERCONFIG", "npmrc"),
            (
                "KUBECONFIG".into(),
                format!(
                    "{}:{}",
                    t.home.join("k1").display(),
                    t.home.join("k2").display()
                ),
            ),
            // The home itself (or above it) is never made a secret by a variable.
            ("GNUPGHOME".into(), t.home.display().to_string()),
            ("NETRC".into(), "/".into()),
        ],
    );
    for p in [
        "cfg/pip/pip.conf",
        "cfg/pypoetry/auth.toml",
        "data/uv/credentials",
        "dk/config.json",
        "npmrc",
        "k1",
        "k2",
    ] {
        assert!(s.contains(&t.home.join(p)), "{p}: {s:?}");
    }
    assert!(!s.iter().any(|p| t.home.starts_with(p)), "{s:?}");
}

#[test]
fn store_removes_without_following_links() {
    let t = setup();
    let dir = t.state.join("workspaces/x/caches");
    let victim = t.home.join("victim");
    fs::create_dir_all(&victim).unwrap();
    fs::write(victim.join("keep"), "keep").unwrap();
    let up = dir.join("npm/upper/sub");
    fs::create_dir_all(&up).unwrap();
    std::os::unix::fs::symlink(&victim, up.join("link")).unwrap();
    fs::write(up.join("f"), "x").unwrap();
    // A read-only directory (Go's module cache) and a mode-000 one (overlayfs' work/work).
    let ro = dir.join("go-mod/upper/m");
    fs::create_dir_all(&ro).unwrap();
    fs::write(ro.join("f"), "y").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let w = dir.join("go-mod/work/work");
    fs::create_dir_all(&w).unwrap();
    fs::set_permissions(&w, fs::Permissions::from_mode(0o000)).unwrap();
    store::create_caches_dir(&dir, &t.ws).unwrap();
    let scanned = store::scan(&t.state).unwrap();
    assert_eq!(scanned.len(), 1);
    assert_eq!(scanned[0].workspace.as_deref(), Some(t.ws.as_path()));
    assert!(scanned[0]
        .entries
        .iter()
        .any(|e| e.name == "npm" && e.overlay_bytes > 0));
    assert!(store::clean(&dir).unwrap());
    let left: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from(store::LOCK)]);
    assert_eq!(fs::read_to_string(victim.join("keep")).unwrap(), "keep");
    // A held lock (a running sandbox) makes clean refuse.
    let _held = store::try_lock(&dir).unwrap().unwrap();
    assert!(!store::clean(&dir).unwrap());
}

/// An earlier cordon made one overlay per tool directory (`caches/npm-<hash>` for `~/.npm`,
/// `cache-<hash>` for `~/.cache`, `local-share-<hash>` for `~/.local/share`): the first run with
/// the one overlay of the home directory moves their upper layers into its own, at the same
/// places, and their work directories to the trash; a run without the locks moves nothing.
#[test]
fn layers_of_tool_directories_are_kept() {
    let t = setup();
    for d in [".npm", ".cache/pip", ".local/share/pnpm/store"] {
        fs::create_dir_all(t.home.join(d)).unwrap();
    }
    let dir = t.state.join("workspaces/x/caches");
    let old = |rel: &str| dir.join(group_name(&t.home.join(rel), &t.home));
    fs::create_dir_all(old(".npm").join("upper/_cacache")).unwrap();
    fs::write(old(".npm").join("upper/_cacache/f"), "npm").unwrap();
    fs::create_dir_all(old(".cache").join("upper/pip")).unwrap();
    fs::write(old(".cache").join("upper/pip/f"), "pip").unwrap();
    fs::create_dir_all(old(".local/share").join("upper/pnpm/store")).unwrap();
    fs::write(old(".local/share").join("upper/pnpm/store/f"), "pnpm").unwrap();
    // A work directory as overlayfs leaves it: mode 000.
    let w = old(".npm").join("work/work");
    fs::create_dir_all(&w).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&w, fs::Permissions::from_mode(0o000)).unwrap();
    store::create_caches_dir(&dir, &t.ws).unwrap();
    let (c, _) = run(&t, &req(&t), &[], true);
    let o = &c.overlays[0];
    let cfd = store::open_dir(&dir).unwrap();
    // Without the locks (a throwaway run): nothing moves.
    store::create_overlay_dirs(&cfd, o, None).unwrap();
    assert!(old(".npm").join("upper/_cacache/f").exists());
    fs::remove_dir(o.upper.as_path()).unwrap();
    store::create_overlay_dirs(&cfd, o, Some(&t.home)).unwrap();
    for (f, want) in [
        (".npm/_cacache/f", "npm"),
        (".cache/pip/f", "pip"),
        (".local/share/pnpm/store/f", "pnpm"),
    ] {
        assert_eq!(fs::read_to_string(o.upper.join(f)).unwrap(), want, "{f}");
    }
    for rel in [".npm", ".cache", ".local/share"] {
        assert!(!old(rel).exists(), "{rel}: {:?}", old(rel));
    }
    // `cordon cache list`: one entry per directory of the home the overlay holds.
    let used = store::scan(&t.state).unwrap();
    for want in ["~/.npm", "~/.cache", "~/.local"] {
        assert!(
            used[0]
                .entries
                .iter()
                .any(|e| e.name == want && e.overlay_bytes > 0),
            "{want}: {:?}",
            used[0].entries
        );
    }
    assert_eq!(store::trash_len(&cfd), 3);
    store::empty_trash(&cfd, None);
    assert_eq!(store::trash_len(&cfd), 0);
    // Once made, the upper layer is never refilled: a later old directory stays where it is.
    fs::create_dir_all(old(".npm").join("upper")).unwrap();
    store::create_overlay_dirs(&cfd, o, Some(&t.home)).unwrap();
    assert!(old(".npm").join("upper").exists());
}

/// The memoized resolver answers as realpath(3) does, links, `..` and loops included.
#[test]
fn canon_is_realpath() {
    use std::os::unix::fs::symlink;
    let d = tempfile::tempdir().unwrap();
    let r = fs::canonicalize(d.path()).unwrap();
    fs::create_dir_all(r.join("a/b/c")).unwrap();
    fs::write(r.join("a/file"), "x").unwrap();
    symlink("a/b", r.join("rel")).unwrap();
    symlink(r.join("a"), r.join("abs")).unwrap();
    symlink("../a/b/../b/c", r.join("a/up")).unwrap();
    symlink("rel", r.join("chain")).unwrap();
    symlink("loop2", r.join("loop1")).unwrap();
    symlink("loop1", r.join("loop2")).unwrap();
    symlink("missing", r.join("dangling")).unwrap();
    let mut c = Canon::default();
    for p in [
        "a",
        "a/b/c",
        "rel",
        "rel/c",
        "abs/b",
        "a/up",
        "a/up/..",
        "chain/c/..",
        "a/./b",
        "a/b/../../a",
        "loop1",
        "loop1/x",
        "dangling",
        "missing/x",
        "a/file",
        "a/file/x",
        "abs/up/../..",
        "..",
    ] {
        let p = r.join(p);
        // Twice: the memoized answer is the same.
        for _ in 0..2 {
            assert_eq!(c.canon(&p), fs::canonicalize(&p).ok(), "{}", p.display());
        }
    }
}

/// `canonical` (a state directory that may not exist yet) makes its longest existing ancestor
/// canonical and keeps the rest, as realpath of that ancestor plus the missing names would.
#[test]
fn canonical_keeps_the_missing_tail() {
    use std::os::unix::fs::symlink;
    let d = tempfile::tempdir().unwrap();
    let r = fs::canonicalize(d.path()).unwrap();
    fs::create_dir_all(r.join("real/state")).unwrap();
    symlink(r.join("real"), r.join("link")).unwrap();
    symlink("missing", r.join("dangling")).unwrap();
    fn reference(p: &Path) -> PathBuf {
        let mut rest = Vec::new();
        let mut q = p;
        loop {
            if let Ok(c) = fs::canonicalize(q) {
                return rest.iter().rev().fold(c, |a: PathBuf, r| a.join(r));
            }
            rest.push(q.file_name().unwrap().to_owned());
            q = q.parent().unwrap();
        }
    }
    let mut c = Canon::default();
    for p in [
        "link/state",
        "link/state/cordon/workspaces/x/caches",
        "link/new/caches",
        "dangling/x",
        "real/../link/state/y",
    ] {
        let p = r.join(p);
        assert_eq!(c.canonical(&p), reference(&p), "{}", p.display());
        assert_eq!(canonical(&p), reference(&p), "{}", p.display());
    }
    assert_eq!(
        canonical(&r.join("link/state/cordon")),
        r.join("real/state/cordon")
    );
}

/// `within` on clean paths answers as `Path::starts_with` (which `refuse` and `group_root` used),
/// for bases spelled loosely too (a secret from the config or a variable: `clean` first).
#[test]
fn within_is_starts_with() {
    let paths = [
        "/", "/a", "/a/b", "/a/bc", "/a/b/c", "/ab", "/a/..", "/a/../b", "/b", "/a/b/..",
    ];
    let bases = [
        "/", "/a", "/a/", "/a//b", "/a/./b", "/a/b/", "/a/b", "/a/bc", "/a/..", "/b/.", "/a/b/c",
    ];
    for p in paths {
        for b in bases {
            let (p, b) = (Path::new(p), Path::new(b));
            assert_eq!(
                within(&clean(p), &clean(b)),
                p.starts_with(b),
                "{} within {}",
                p.display(),
                b.display()
            );
        }
    }
}

/// The trash's cleaner leaves every CPU class a run may have, real-time included (`chrt`): a
/// nice value alone does not lower a real-time thread, which then competed with the next run.
#[test]
fn idle_priority_is_the_idle_class() {
    // On a thread of its own: the class is per thread.
    let class = std::thread::spawn(|| {
        store::idle_priority();
        // SAFETY: sched_getscheduler takes a pid (0: this thread).
        unsafe { libc::sched_getscheduler(0) }
    })
    .join()
    .unwrap();
    assert_eq!(class, libc::SCHED_IDLE);
}

#[test]
fn overlays_are_made_late_unless_a_later_mount_lies_in_or_above_a_cache() {
    let t = setup();
    fs::create_dir_all(t.home.join(".npm")).unwrap();
    fs::create_dir_all(t.home.join(".cargo/registry")).unwrap();
    let (c, _) = run(&t, &req(&t), &[], true);
    let late = |paths: &[&str]| {
        let p: Vec<PathBuf> = paths.iter().map(|p| t.home.join(p)).collect();
        mount::late_for(&c, p.iter().map(PathBuf::as_path))
    };
    // Beside the caches (a name that only begins like one is not in it).
    assert!(late(&[
        ".npmrc",
        ".cargo/credentials.toml",
        ".config/gh/hosts.yml"
    ]));
    assert!(late(&[]));
    // A secret in a cache, a protected path above one: attached last, the cache would cover
    // the one and escape the other.
    assert!(!late(&[".npm/_authToken"]));
    assert!(!late(&[".cargo"]));
    assert!(!late(&[".cargo/registry"]));
    // cordon's state directory in a cache (`for_spec` refuses such a cache; checked anyway).
    let mut c2 = c.clone();
    c2.state_dir = Some(t.home.join(".npm/state"));
    assert!(!mount::late_for(&c2, std::iter::empty()));
    // No overlay: nothing to make.
    let (none, _) = run(&t, &req(&t), &[], false);
    assert!(!mount::late_for(&none, std::iter::empty()));
}
