//! The tool caches cordon knows: where each tool keeps its cache (honouring the tool's own
//! variables that move it), the tool's own directory (where an empty cache directory may be
//! created so that it can be overlaid), and the variable that points the tool elsewhere (used
//! when there is nothing to overlay: no user namespaces, or no host cache and no tool directory).
//!
//! Sources: each tool's documentation of its cache location and variables.

use std::path::{Path, PathBuf};

/// Variables looked up for the caches' locations (from the environment cordon was started with,
/// and `go env -w`'s file for the Go ones).
pub struct Env<'a> {
    pub home: &'a Path,
    pub var: &'a dyn Fn(&str) -> Option<String>,
    /// `go env -w`'s file, read once (several Go settings are looked up in it).
    go_file: std::cell::OnceCell<Option<String>>,
}

impl<'a> Env<'a> {
    pub fn new(home: &'a Path, var: &'a dyn Fn(&str) -> Option<String>) -> Env<'a> {
        Env {
            home,
            var,
            go_file: std::cell::OnceCell::new(),
        }
    }

    /// An absolute path from a variable (relative or empty values are ignored, as the tools do).
    fn path(&self, name: &str) -> Option<PathBuf> {
        (self.var)(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    }
    /// `$XDG_CACHE_HOME`, else `~/.cache`.
    fn cache_home(&self) -> PathBuf {
        self.path("XDG_CACHE_HOME")
            .unwrap_or_else(|| self.home.join(".cache"))
    }
    fn data_home(&self) -> PathBuf {
        self.path("XDG_DATA_HOME")
            .unwrap_or_else(|| self.home.join(".local/share"))
    }
    fn cargo_home(&self) -> PathBuf {
        self.path("CARGO_HOME")
            .unwrap_or_else(|| self.home.join(".cargo"))
    }
    fn gradle_home(&self) -> PathBuf {
        self.path("GRADLE_USER_HOME")
            .unwrap_or_else(|| self.home.join(".gradle"))
    }
    fn bun_home(&self) -> PathBuf {
        self.path("BUN_INSTALL")
            .unwrap_or_else(|| self.home.join(".bun"))
    }
    fn pnpm_home(&self) -> PathBuf {
        self.path("PNPM_HOME")
            .unwrap_or_else(|| self.data_home().join("pnpm"))
    }
    /// A Go setting: the environment, else the file `go env -w` writes (`$GOENV`, else
    /// `$XDG_CONFIG_HOME/go/env`, else `~/.config/go/env`).
    fn go(&self, key: &str) -> Option<PathBuf> {
        if let Some(p) = self.path(key) {
            return Some(p);
        }
        let text = self.go_file.get_or_init(|| {
            let file = self.path("GOENV").unwrap_or_else(|| {
                self.path("XDG_CONFIG_HOME")
                    .unwrap_or_else(|| self.home.join(".config"))
                    .join("go/env")
            });
            read_small_file(&file)
        });
        text.as_deref()?
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| PathBuf::from(v.trim()))
            .filter(|p| p.is_absolute())
    }
    /// The first entry of GOPATH (where `go` puts `pkg/mod`), else `~/go`.
    fn gopath(&self) -> PathBuf {
        self.go("GOPATH")
            .and_then(|p| std::env::split_paths(&p).next())
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| self.home.join("go"))
    }
}

/// The text of a small regular file, read at every start: a FIFO there (`GOENV` pointing into a
/// writable root, say) would block cordon on its open, a huge file would be read whole. Opened
/// without blocking, and read only if it is a regular file, 1 MiB at most.
fn read_small_file(p: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(p)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut s = String::new();
    f.take(1 << 20).read_to_string(&mut s).ok()?;
    Some(s)
}

/// How the tool is pointed at a private directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirect {
    /// `VAR=DIR`.
    Var(&'static str),
    /// `MAVEN_OPTS=-Dmaven.repo.local=DIR` (before what MAVEN_OPTS already holds).
    MavenOpts,
    /// No variable moves only this cache (yarn classic: `YARN_CACHE_FOLDER` would also move a
    /// yarn 2+ project's own cache; yarn 1 picks a writable temporary cache by itself).
    None,
}

/// One known cache.
pub struct Known {
    /// The entry's name (`[caches] remove` takes it, or its family: the part before `-`).
    pub name: &'static str,
    /// Where the tool keeps it.
    pub path: fn(&Env) -> Option<PathBuf>,
    /// The tool's own directory: when it exists but the cache does not, cordon creates the empty
    /// cache directory there (as the tool would) so that it can be overlaid.
    pub anchor: Option<fn(&Env) -> PathBuf>,
    pub redirect: Redirect,
    /// Entries sharing a redirect share one private directory, named after the group.
    pub group: &'static str,
}

pub const KNOWN: &[Known] = &[
    Known {
        name: "npm",
        path: |e| {
            e.path("npm_config_cache")
                .or_else(|| e.path("NPM_CONFIG_CACHE"))
                .or_else(|| Some(e.home.join(".npm")))
        },
        anchor: None,
        redirect: Redirect::Var("npm_config_cache"),
        group: "npm",
    },
    Known {
        name: "pnpm-store",
        path: |e| {
            e.path("npm_config_store_dir")
                .or_else(|| Some(e.pnpm_home().join("store")))
        },
        anchor: Some(|e| e.pnpm_home()),
        // PNPM_HOME moves the store with it ($PNPM_HOME/store). (npm_config_store_dir would
        // make npm warn about an unknown setting.)
        redirect: Redirect::Var("PNPM_HOME"),
        group: "pnpm",
    },
    Known {
        name: "pnpm-cache",
        path: |e| {
            e.path("npm_config_cache_dir")
                .or_else(|| Some(e.cache_home().join("pnpm")))
        },
        anchor: None,
        // pnpm's metadata cache has no variable of its own (npm_config_cache_dir would make
        // npm warn about an unknown setting).
        redirect: Redirect::None,
        group: "pnpm-cache",
    },
    Known {
        name: "yarn",
        path: |e| {
            e.path("YARN_CACHE_FOLDER")
                .or_else(|| Some(e.cache_home().join("yarn")))
        },
        anchor: None,
        redirect: Redirect::None,
        group: "yarn",
    },
    Known {
        name: "yarn-berry",
        path: |e| {
            e.path("YARN_GLOBAL_FOLDER")
                .or_else(|| Some(e.home.join(".yarn/berry")))
        },
        anchor: Some(|e| e.home.join(".yarn")),
        redirect: Redirect::Var("YARN_GLOBAL_FOLDER"),
        group: "yarn-berry",
    },
    Known {
        name: "bun",
        path: |e| {
            e.path("BUN_INSTALL_CACHE_DIR")
                .or_else(|| Some(e.bun_home().join("install/cache")))
        },
        anchor: Some(|e| e.bun_home()),
        redirect: Redirect::Var("BUN_INSTALL_CACHE_DIR"),
        group: "bun",
    },
    Known {
        name: "pip",
        path: |e| {
            e.path("PIP_CACHE_DIR")
                .or_else(|| Some(e.cache_home().join("pip")))
        },
        anchor: None,
        redirect: Redirect::Var("PIP_CACHE_DIR"),
        group: "pip",
    },
    Known {
        name: "uv",
        path: |e| {
            e.path("UV_CACHE_DIR")
                .or_else(|| Some(e.cache_home().join("uv")))
        },
        anchor: None,
        redirect: Redirect::Var("UV_CACHE_DIR"),
        group: "uv",
    },
    Known {
        name: "poetry",
        path: |e| {
            e.path("POETRY_CACHE_DIR")
                .or_else(|| Some(e.cache_home().join("pypoetry")))
        },
        anchor: None,
        redirect: Redirect::Var("POETRY_CACHE_DIR"),
        group: "poetry",
    },
    Known {
        name: "cargo-registry",
        path: |e| Some(e.cargo_home().join("registry")),
        anchor: Some(|e| e.cargo_home()),
        redirect: Redirect::Var("CARGO_HOME"),
        group: "cargo",
    },
    Known {
        name: "cargo-git",
        path: |e| Some(e.cargo_home().join("git")),
        anchor: Some(|e| e.cargo_home()),
        redirect: Redirect::Var("CARGO_HOME"),
        group: "cargo",
    },
    Known {
        name: "go-mod",
        path: |e| {
            e.go("GOMODCACHE")
                .or_else(|| Some(e.gopath().join("pkg/mod")))
        },
        anchor: Some(|e| e.gopath()),
        redirect: Redirect::Var("GOMODCACHE"),
        group: "go-mod",
    },
    Known {
        name: "go-build",
        path: |e| {
            e.go("GOCACHE")
                .or_else(|| Some(e.cache_home().join("go-build")))
        },
        anchor: None,
        redirect: Redirect::Var("GOCACHE"),
        group: "go-build",
    },
    Known {
        name: "gradle",
        path: |e| Some(e.gradle_home().join("caches")),
        anchor: Some(|e| e.gradle_home()),
        redirect: Redirect::Var("GRADLE_USER_HOME"),
        group: "gradle",
    },
    Known {
        name: "gradle-wrapper",
        path: |e| Some(e.gradle_home().join("wrapper/dists")),
        anchor: Some(|e| e.gradle_home()),
        redirect: Redirect::Var("GRADLE_USER_HOME"),
        group: "gradle",
    },
    Known {
        name: "maven",
        path: |e| Some(e.home.join(".m2/repository")),
        anchor: Some(|e| e.home.join(".m2")),
        redirect: Redirect::MavenOpts,
        group: "maven",
    },
    Known {
        name: "ccache",
        path: |e| {
            e.path("CCACHE_DIR").or_else(|| {
                // ccache 4 keeps using the legacy ~/.ccache when it exists.
                let legacy = e.home.join(".ccache");
                Some(if legacy.is_dir() {
                    legacy
                } else {
                    e.cache_home().join("ccache")
                })
            })
        },
        anchor: None,
        redirect: Redirect::Var("CCACHE_DIR"),
        group: "ccache",
    },
    Known {
        name: "sccache",
        path: |e| {
            e.path("SCCACHE_DIR")
                .or_else(|| Some(e.cache_home().join("sccache")))
        },
        anchor: None,
        redirect: Redirect::Var("SCCACHE_DIR"),
        group: "sccache",
    },
    Known {
        name: "pre-commit",
        path: |e| {
            e.path("PRE_COMMIT_HOME")
                .or_else(|| Some(e.cache_home().join("pre-commit")))
        },
        anchor: None,
        redirect: Redirect::Var("PRE_COMMIT_HOME"),
        group: "pre-commit",
    },
];

/// The variables that move a cache (or the tool home it lives in). When cordon's environment
/// sets one, the command gets it too, so that the tool inside uses the directory that was
/// overlaid.
pub const LOCATION_VARS: &[&str] = &[
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "npm_config_cache",
    "NPM_CONFIG_CACHE",
    "PNPM_HOME",
    "YARN_CACHE_FOLDER",
    "YARN_GLOBAL_FOLDER",
    "BUN_INSTALL",
    "BUN_INSTALL_CACHE_DIR",
    "PIP_CACHE_DIR",
    "UV_CACHE_DIR",
    "POETRY_CACHE_DIR",
    "CARGO_HOME",
    "GOPATH",
    "GOMODCACHE",
    "GOCACHE",
    "GOENV",
    "GRADLE_USER_HOME",
    "CCACHE_DIR",
    "SCCACHE_DIR",
    "PRE_COMMIT_HOME",
];

/// Credential files that a variable moved away from their place in the home directory (the
/// default locations are in `spec::HOME_SECRETS`).
pub fn moved_secrets(e: &Env) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if e.path("CARGO_HOME").is_some() {
        let h = e.cargo_home();
        out.push(h.join("credentials.toml"));
        out.push(h.join("credentials"));
    }
    if e.path("GRADLE_USER_HOME").is_some() {
        out.push(e.gradle_home().join("gradle.properties"));
    }
    // The other built-in secrets that a variable moves, each as its tool documents it: npm's user
    // config, pip's, poetry's auth file, uv's credential store (under XDG_DATA_HOME), Docker's
    // config, the cloud CLIs' files, GnuPG's home, the netrc that curl, uv and pip honour.
    for (var, rel) in MOVED_BY {
        if let Some(p) = e.path(var) {
            out.push(if rel.is_empty() { p } else { p.join(rel) });
        }
    }
    if let Some(x) = e.path("XDG_CONFIG_HOME") {
        for rel in [
            "pip/pip.conf",
            "pypoetry/auth.toml",
            "git/credentials",
            "gh/hosts.yml",
            "glab-cli/config.yml",
            "hub",
            "containers/auth.json",
            "rclone/rclone.conf",
            "composer/auth.json",
        ] {
            out.push(x.join(rel));
        }
    }
    if let Some(x) = e.path("XDG_DATA_HOME") {
        out.push(x.join("uv/credentials"));
    }
    if let Some(x) = e.path("XDG_CACHE_HOME") {
        out.push(x.join("huggingface/token"));
        out.push(x.join("huggingface/stored_tokens"));
    }
    if let Some(k) = (e.var)("KUBECONFIG") {
        out.extend(std::env::split_paths(&k).filter(|p| p.is_absolute()));
    }
    // A variable set to the home directory or above it would make all of it a secret.
    out.retain(|p| !e.home.starts_with(p));
    out
}

/// (variable, path below it; "" for the variable's own path) of credentials a variable moves.
const MOVED_BY: &[(&str, &str)] = &[
    ("NPM_CONFIG_USERCONFIG", ""),
    ("npm_config_userconfig", ""),
    ("PIP_CONFIG_FILE", ""),
    ("POETRY_CONFIG_DIR", "auth.toml"),
    ("DOCKER_CONFIG", "config.json"),
    ("AWS_SHARED_CREDENTIALS_FILE", ""),
    ("AWS_CONFIG_FILE", ""),
    ("CLOUDSDK_CONFIG", ""),
    ("AZURE_CONFIG_DIR", ""),
    ("GNUPGHOME", ""),
    ("NETRC", ""),
    ("GH_CONFIG_DIR", "hosts.yml"),
    ("GLAB_CONFIG_DIR", "config.yml"),
    ("HF_HOME", "token"),
    ("HF_HOME", "stored_tokens"),
    ("HF_TOKEN_PATH", ""),
    ("REGISTRY_AUTH_FILE", ""),
    ("TF_CLI_CONFIG_FILE", ""),
    ("PGPASSFILE", ""),
    ("MYSQL_TEST_LOGIN_FILE", ""),
    ("RCLONE_CONFIG", ""),
    ("COMPOSER_HOME", "auth.json"),
];

/// Is `name` a known entry, or a family of them (`cargo`, `go`, `gradle`, `pnpm`, `yarn`)?
pub fn is_known_name(name: &str) -> bool {
    KNOWN.iter().any(|k| matches_name(k.name, name))
}

/// `remove = ["cargo"]` removes `cargo-registry` and `cargo-git`.
pub fn matches_name(entry: &str, name: &str) -> bool {
    entry == name || entry.split('-').next() == Some(name)
}

/// Every name `[caches] remove` accepts, for "did you mean".
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = KNOWN.iter().map(|k| k.name).collect();
    for k in KNOWN {
        let fam = k.name.split('-').next().unwrap_or(k.name);
        if !v.contains(&fam) {
            v.push(fam);
        }
    }
    v
}
