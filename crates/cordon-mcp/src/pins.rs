//! The pin store: one JSON file per wrapped server in `<state>/mcp/servers/NAME.json`
//! (`$XDG_STATE_HOME/cordon/mcp`, out of the sandbox's reach), changed under an exclusive lock
//! on `<state>/mcp/lock` and replaced atomically (write a temporary file, rename).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canon;
use crate::error::Error;
use crate::hashcache::HashCache;
use crate::poison::{Finding, TOOL_FIELDS};

/// What a server is: the command line it was started with and the SHA-256 of the files it
/// runs (the resolved program, and for an interpreter the script it is given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub argv: Vec<String>,
    /// (canonical path, SHA-256) of each file.
    pub files: Vec<(String, String)>,
}

impl Identity {
    pub fn sha256(&self) -> String {
        canon::sha256(&serde_json::to_value(self).unwrap_or(Value::Null))
    }
}

/// A pinned tool: the digest of its definition and the definition itself (for diffs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PinnedTool {
    pub sha256: String,
    pub def: Value,
    pub pinned_at: String,
    /// `first-use` or `approved`.
    pub how: String,
    /// Poisoning findings a person accepted when approving (the tool is then shown as is).
    #[serde(default)]
    pub accepted: Vec<Finding>,
}

/// A tool withheld until approved: new, changed or flagged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingTool {
    pub sha256: String,
    pub def: Value,
    /// `new`, `changed` or `flagged`.
    pub kind: String,
    #[serde(default)]
    pub findings: Vec<Finding>,
    pub seen_at: String,
}

/// Text pinned by digest (the server's instructions).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PinnedText {
    pub sha256: String,
    pub text: String,
    #[serde(default)]
    pub findings: Vec<Finding>,
}

/// Everything pinned for one server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerPins {
    pub name: String,
    pub identity: Option<Identity>,
    #[serde(default)]
    pub pending_identity: Option<Identity>,
    #[serde(default)]
    pub instructions: Option<PinnedText>,
    #[serde(default)]
    pub pending_instructions: Option<PinnedText>,
    #[serde(default)]
    pub tools: BTreeMap<String, PinnedTool>,
    #[serde(default)]
    pub pending: BTreeMap<String, PendingTool>,
    /// Set once a first complete `tools/list` has been pinned: from then on new tools are
    /// withheld.
    #[serde(default)]
    pub listed: bool,
}

/// The part of a tool definition that is pinned: name, title, description, inputSchema,
/// outputSchema, annotations (icons, `_meta` and `execution` are not shown to the model).
pub fn tool_def(tool: &Value) -> Value {
    let mut m = serde_json::Map::new();
    for f in TOOL_FIELDS {
        if let Some(v) = tool.get(f) {
            m.insert(f.to_string(), v.clone());
        }
    }
    Value::Object(m)
}

/// SHA-256 of the canonical JSON of [`tool_def`].
pub fn tool_sha256(tool: &Value) -> String {
    canon::sha256(&tool_def(tool))
}

/// A server name as given to `--name`: 1–64 of `A-Z a-z 0-9 . _ -`, not starting with `.`.
pub fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty()
        || name.len() > 64
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(Error::BadName(
            cordon_policy::unicode::escape(name).to_string(),
        ));
    }
    Ok(())
}

/// The pin store of one state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// `dir` is `<state>/mcp`.
    pub fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join("servers").join(format!("{name}.json"))
    }

    fn lock(&self) -> Result<std::fs::File, Error> {
        std::fs::create_dir_all(self.dir.join("servers")).map_err(|source| Error::Store {
            dir: self.dir.clone(),
            source,
        })?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))
            .map_err(|source| Error::Lock {
                path: self.dir.join("lock"),
                source,
            })?;
        f.lock().map_err(|source| Error::Lock {
            path: self.dir.clone(),
            source,
        })?;
        Ok(f)
    }

    /// The pins of `name` (empty when the server was never seen).
    pub fn load(&self, name: &str) -> Result<ServerPins, Error> {
        let p = self.path(name);
        let mut s = String::new();
        match std::fs::File::open(&p) {
            Ok(mut f) => {
                f.read_to_string(&mut s).map_err(|source| Error::File {
                    path: p.clone(),
                    source,
                })?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ServerPins {
                    name: name.to_string(),
                    ..Default::default()
                })
            }
            Err(source) => return Err(Error::File { path: p, source }),
        }
        serde_json::from_str(&s).map_err(|source| Error::Damaged { path: p, source })
    }

    /// Loads, changes and saves the pins of `name` under the store's lock.
    pub fn update<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut ServerPins) -> T,
    ) -> Result<(T, ServerPins), Error> {
        let _lock = self.lock()?;
        let mut pins = self.load(name)?;
        let out = f(&mut pins);
        self.save(&pins)?;
        Ok((out, pins))
    }

    fn save(&self, pins: &ServerPins) -> Result<(), Error> {
        let p = self.path(&pins.name);
        let tmp = p.with_extension(format!("json.tmp{}", std::process::id()));
        let body = serde_json::to_vec_pretty(pins).map_err(Error::Encode)?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&tmp)
            .map_err(|source| Error::File {
                path: tmp.clone(),
                source,
            })?;
        f.write_all(&body)
            .and_then(|_| f.write_all(b"\n"))
            .and_then(|_| f.sync_all())
            .map_err(|source| Error::File {
                path: tmp.clone(),
                source,
            })?;
        std::fs::rename(&tmp, &p).map_err(|source| Error::File { path: p, source })
    }

    /// Every server's pins, by name.
    pub fn all(&self) -> Result<Vec<ServerPins>, Error> {
        let dir = self.dir.join("servers");
        let rd = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(Error::Store { dir, source }),
        };
        let mut names: Vec<String> = rd
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .map(str::to_string)
            })
            .filter(|n| check_name(n).is_ok())
            .collect();
        names.sort();
        names.iter().map(|n| self.load(n)).collect()
    }

    /// The tool names of every server but `except`: (server, tool).
    pub fn other_tools(&self, except: &str) -> Vec<(String, String)> {
        self.all()
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.name != except)
            .flat_map(|s| {
                let n = s.name.clone();
                s.tools
                    .into_keys()
                    .chain(s.pending.into_keys())
                    .map(move |t| (n.clone(), t))
            })
            .collect()
    }
}

/// Tool names offered by more than one server: (tool, servers).
pub fn collisions(all: &[ServerPins]) -> Vec<(String, Vec<String>)> {
    let mut by: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in all {
        for t in s.tools.keys().chain(s.pending.keys()) {
            let v = by.entry(t).or_default();
            if !v.contains(&s.name) {
                v.push(s.name.clone());
            }
        }
    }
    by.into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(t, v)| (t.to_string(), v))
        .collect()
}

/// The server's identity: its argv, and the SHA-256 of the program `argv[0]` resolves to in
/// `path` (symlinks followed), plus, when that program is an interpreter (node, python, sh,
/// ...), of the first argument that names an existing file (the script). Files are read
/// through one open handle each.
pub fn identity(argv: &[String], path: Option<&str>, cwd: &Path) -> Identity {
    identity_with(argv, path, cwd, None)
}

/// [`identity`], the files' hashes taken from (and stored in) `cache` when it may be trusted
/// with them (see [`crate::hashcache`]): the same identity, without reading the files again.
pub fn identity_with(
    argv: &[String],
    path: Option<&str>,
    cwd: &Path,
    cache: Option<&HashCache>,
) -> Identity {
    let mut session = cache.map(HashCache::session);
    let mut files = Vec::new();
    let mut add = |p: &Path| {
        if let Ok(c) = std::fs::canonicalize(p) {
            let h = match session.as_mut() {
                Some(s) => s.sha256(&c),
                None => hash_file(&c),
            };
            if let Some(h) = h {
                files.push((c.display().to_string(), h));
            }
        }
    };
    if let Some(prog) = argv.first() {
        if let Some(p) = resolve(prog, path, cwd) {
            add(&p);
            let base = p.file_name().and_then(|b| b.to_str()).unwrap_or("");
            let interp = [
                "node", "nodejs", "deno", "bun", "sh", "bash", "dash", "zsh", "ruby", "perl", "php",
            ]
            .contains(&base)
                || base.starts_with("python");
            if interp {
                if let Some(script) = argv[1..].iter().find(|a| !a.starts_with('-')) {
                    let sp = cwd.join(script);
                    if sp.is_file() {
                        add(&sp);
                    }
                }
            }
        }
    }
    if let Some(s) = session {
        s.finish();
    }
    Identity {
        argv: argv.to_vec(),
        files,
    }
}

/// `prog` as `execvp` would find it: with a `/`, relative to `cwd`; else the first executable
/// file of that name in `path`.
pub fn resolve(prog: &str, path: Option<&str>, cwd: &Path) -> Option<PathBuf> {
    if prog.contains('/') {
        let p = cwd.join(prog);
        return p.is_file().then_some(p);
    }
    use std::os::unix::fs::PermissionsExt;
    path.unwrap_or("/usr/local/bin:/usr/bin:/bin")
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| cwd.join(d).join(prog))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn hash_file(p: &Path) -> Option<String> {
    let mut f = std::fs::File::open(p).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    sha256_of(&mut f)
}

/// SHA-256 (hex) of what `f` reads from its current offset to the end.
pub(crate) fn sha256_of(f: &mut std::fs::File) -> Option<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(h.finalize().iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_round_trip_and_collisions() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path().join("mcp"));
        assert!(s.load("a").unwrap().tools.is_empty());
        for (srv, tool) in [("a", "search"), ("b", "search"), ("b", "other")] {
            s.update(srv, |p| {
                p.tools.insert(
                    tool.into(),
                    PinnedTool {
                        sha256: "x".into(),
                        def: Value::Null,
                        pinned_at: String::new(),
                        how: "first-use".into(),
                        accepted: vec![],
                    },
                );
            })
            .unwrap();
        }
        let all = s.all().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            collisions(&all),
            vec![("search".to_string(), vec!["a".to_string(), "b".to_string()])]
        );
        assert_eq!(s.other_tools("a").len(), 2);
        assert!(check_name("fs").is_ok());
        assert!(check_name("../x").is_err());
        assert!(check_name("").is_err());
    }

    #[test]
    fn tool_digest_covers_the_pinned_fields_only() {
        let a = serde_json::json!({"name":"t","description":"d","inputSchema":{"type":"object"},"icons":[1]});
        let b = serde_json::json!({"inputSchema":{"type":"object"},"description":"d","name":"t","_meta":{"x":1}});
        assert_eq!(tool_sha256(&a), tool_sha256(&b));
        let c = serde_json::json!({"name":"t","description":"d ","inputSchema":{"type":"object"}});
        assert_ne!(tool_sha256(&a), tool_sha256(&c));
    }
}
