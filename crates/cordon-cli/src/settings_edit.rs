//! Editing another program's settings file (an agent's `settings.json`, `hooks.json`,
//! `config.toml`) the way a careful person would: parse it, change only what cordon owns, write it
//! back with everything else as it was (key order, formatting, comments), keep a backup, and show
//! the diff first when asked.
//!
//! Used by `cordon install`/`uninstall` (hooks) and `cordon mcp install` (MCP servers).
//!
//! - JSON goes through `jsonc-parser`'s CST, which keeps every byte it is not told to change
//!   (whitespace, comments where the format allows them, key order). A file in the strict
//!   flavour is also checked by `serde_json` first, so cordon refuses what the agent would refuse.
//! - TOML goes through `toml_edit`, which keeps comments and layout.
//! - A file that does not parse is refused with its path, line and column, and never written.
//! - Nothing is written until [`Change::apply`]: a [`Change`] is the whole file before and after,
//!   so `--dry-run` prints exactly what `apply` would write. `apply` refuses if the file changed
//!   on disk since it was read, copies the old file to `FILE.cordon-bak`, and replaces the file
//!   atomically (a temporary file in the same directory, fsync, rename), keeping its mode. A
//!   symlinked settings file (dotfile managers) is edited where it points, not replaced by a file.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use jsonc_parser::cst::{CstArray, CstInputValue, CstObject, CstRootNode};
use jsonc_parser::ParseOptions;

/// Suffix of the backup kept next to an edited file: the file as it was before cordon's last
/// change to it.
pub const BACKUP_SUFFIX: &str = ".cordon-bak";

/// Why a settings file could not be read or edited. Every message names the file.
#[derive(Debug)]
pub enum EditError {
    /// The file exists but is not valid JSON/TOML: nothing is written.
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A key cordon must edit holds something of another type (`"hooks": 3`).
    Shape { path: PathBuf, message: String },
    Io {
        path: PathBuf,
        what: &'static str,
        err: std::io::Error,
    },
    /// The file changed between reading it and writing it.
    Changed { path: PathBuf },
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Parse {
                path,
                line,
                column,
                message,
            } => write!(
                f,
                "{}:{line}:{column}: {message}; the file was left untouched: fix it (or move it \
                 away) and run the command again",
                path.display()
            ),
            EditError::Shape { path, message } => write!(
                f,
                "{}: {message}; the file was left untouched: fix it and run the command again",
                path.display()
            ),
            EditError::Io { path, what, err } => {
                write!(f, "cannot {what} {}: {err}", path.display())
            }
            EditError::Changed { path } => write!(
                f,
                "{} changed while cordon was editing it; nothing was written: run the command again",
                path.display()
            ),
        }
    }
}

impl std::error::Error for EditError {}

/// Which JSON the program that reads the file accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonFlavor {
    /// Plain JSON (Claude Code, Codex, Cursor, Copilot): comments and trailing commas refused.
    Strict,
    /// JSON with comments and trailing commas (Gemini CLI strips comments before parsing).
    Comments,
}

/// Reads a settings file: `None` when it does not exist (an empty file counts as absent too).
/// Follows a symlink to the file it names, so the edit lands there.
pub fn read(path: &Path) -> Result<(PathBuf, Option<String>), EditError> {
    let real = match fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling symlink is refused rather than replaced by a file.
            if fs::symlink_metadata(path).is_ok() {
                return Err(EditError::Io {
                    path: path.to_path_buf(),
                    what: "follow the symlink",
                    err: e,
                });
            }
            return Ok((path.to_path_buf(), None));
        }
        Err(e) => {
            return Err(EditError::Io {
                path: path.to_path_buf(),
                what: "resolve",
                err: e,
            })
        }
    };
    match fs::read(&real) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) if s.trim().is_empty() => Ok((real, Some(s))),
            Ok(s) => Ok((real, Some(s))),
            Err(e) => {
                let (line, column) = line_col(
                    &String::from_utf8_lossy(e.as_bytes()),
                    e.utf8_error().valid_up_to(),
                );
                Err(EditError::Parse {
                    path: real,
                    line,
                    column,
                    message: "not valid UTF-8".into(),
                })
            }
        },
        Err(e) => Err(EditError::Io {
            path: real,
            what: "read",
            err: e,
        }),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut off = offset.min(text.len());
    while !text.is_char_boundary(off) {
        off -= 1;
    }
    let before = &text[..off];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A JSON settings file being edited.
pub struct JsonDoc {
    path: PathBuf,
    before: Option<String>,
    root: CstRootNode,
}

impl JsonDoc {
    /// Reads and parses `path` (absent or empty: an empty object).
    pub fn load(path: &Path, flavor: JsonFlavor) -> Result<JsonDoc, EditError> {
        let (path, before) = read(path)?;
        let text = before.as_deref().unwrap_or("");
        let root = Self::parse(&path, text, flavor)?;
        Ok(JsonDoc { path, before, root })
    }

    fn parse(path: &Path, text: &str, flavor: JsonFlavor) -> Result<CstRootNode, EditError> {
        if text.trim().is_empty() {
            return CstRootNode::parse("{}\n", &ParseOptions::default()).map_err(|e| {
                EditError::Parse {
                    path: path.to_path_buf(),
                    line: 1,
                    column: 1,
                    message: e.to_string(),
                }
            });
        }
        if flavor == JsonFlavor::Strict {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
                return Err(EditError::Parse {
                    path: path.to_path_buf(),
                    line: e.line(),
                    column: e.column(),
                    message: format!("invalid JSON: {e}")
                        .replace(&format!(" at line {} column {}", e.line(), e.column()), ""),
                });
            }
        }
        let opts = ParseOptions {
            allow_comments: true,
            allow_trailing_commas: true,
            allow_loose_object_property_names: false,
            allow_missing_commas: false,
            allow_single_quoted_strings: false,
            allow_hexadecimal_numbers: false,
            allow_unary_plus_numbers: false,
            ..ParseOptions::default()
        };
        let root = CstRootNode::parse(text, &opts).map_err(|e| {
            let (line, column) = line_col(text, e.range().start);
            EditError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: format!("invalid JSON: {}", e.kind()),
            }
        })?;
        if root.value().is_some() && root.object_value().is_none() {
            return Err(EditError::Shape {
                path: path.to_path_buf(),
                message: "the top level is not a JSON object".into(),
            });
        }
        Ok(root)
    }

    /// The file actually edited (a symlink resolved).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file existed (and was not empty).
    pub fn existed(&self) -> bool {
        self.before.as_deref().is_some_and(|s| !s.trim().is_empty())
    }

    /// The top-level object.
    pub fn root(&self) -> CstObject {
        self.root.object_value_or_set()
    }

    /// The whole document as a value (for comparisons).
    pub fn value(&self) -> serde_json::Value {
        self.root
            .to_serde_value()
            .unwrap_or(serde_json::Value::Object(Default::default()))
    }

    /// `obj[key]` as an object, created (empty) when absent; an error naming the key when it
    /// holds something else.
    pub fn object_in(&self, obj: &CstObject, key: &str) -> Result<CstObject, EditError> {
        match obj.get(key) {
            None => Ok(obj
                .append(key, CstInputValue::Object(vec![]))
                .object_value_or_set()),
            Some(p) => p.object_value().ok_or_else(|| EditError::Shape {
                path: self.path.clone(),
                message: format!("\"{key}\" is not a JSON object"),
            }),
        }
    }

    /// `obj[key]` as an array, created (empty) when absent.
    pub fn array_in(&self, obj: &CstObject, key: &str) -> Result<CstArray, EditError> {
        match obj.get(key) {
            None => Ok(obj
                .append(key, CstInputValue::Array(vec![]))
                .array_value_or_set()),
            Some(p) => p.array_value().ok_or_else(|| EditError::Shape {
                path: self.path.clone(),
                message: format!("\"{key}\" is not a JSON array"),
            }),
        }
    }

    /// The edit so far, as a [`Change`]. `delete_if_empty`: when the document is now `{}` and
    /// cordon had created the file, remove it instead.
    pub fn change(&self) -> Change {
        let mut after = self.root.to_string();
        if !after.ends_with('\n') {
            after.push('\n');
        }
        Change {
            path: self.path.clone(),
            before: self.before.clone(),
            after: Some(after),
        }
    }
}

/// Converts a `serde_json::Value` into the CST's input value (object keys in their order).
pub fn input(v: &serde_json::Value) -> CstInputValue {
    match v {
        serde_json::Value::Null => CstInputValue::Null,
        serde_json::Value::Bool(b) => CstInputValue::Bool(*b),
        serde_json::Value::Number(n) => CstInputValue::Number(n.to_string()),
        serde_json::Value::String(s) => CstInputValue::String(s.clone()),
        serde_json::Value::Array(a) => CstInputValue::Array(a.iter().map(input).collect()),
        serde_json::Value::Object(o) => {
            CstInputValue::Object(o.iter().map(|(k, v)| (k.clone(), input(v))).collect())
        }
    }
}

/// A TOML settings file being edited (`toml_edit`: comments and layout kept).
pub struct TomlDoc {
    path: PathBuf,
    before: Option<String>,
    /// The document: edit it directly.
    pub doc: toml_edit::DocumentMut,
}

impl TomlDoc {
    pub fn load(path: &Path) -> Result<TomlDoc, EditError> {
        let (path, before) = read(path)?;
        let text = before.as_deref().unwrap_or("");
        let doc = text.parse::<toml_edit::DocumentMut>().map_err(|e| {
            let (line, column) = line_col(text, e.span().map_or(0, |s| s.start));
            EditError::Parse {
                path: path.clone(),
                line,
                column,
                message: format!("invalid TOML: {}", e.message()),
            }
        })?;
        Ok(TomlDoc { path, before, doc })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The table at `keys` (`["mcp_servers", "cordon"]` is `[mcp_servers.cordon]`), created as
    /// a `[section]` (its parents implicit, so no empty `[mcp_servers]` header is written) when
    /// absent; an error naming the key when something else is there. (For `cordon mcp install`'s
    /// `[mcp_servers.NAME]`.)
    #[allow(dead_code)]
    pub fn table_at(&mut self, keys: &[&str]) -> Result<&mut toml_edit::Table, EditError> {
        let path = self.path.clone();
        let mut t = self.doc.as_table_mut();
        for (i, k) in keys.iter().enumerate() {
            let last = i + 1 == keys.len();
            let item = t.entry(k).or_insert_with(|| {
                let mut n = toml_edit::Table::new();
                n.set_implicit(!last);
                toml_edit::Item::Table(n)
            });
            t = item.as_table_mut().ok_or_else(|| EditError::Shape {
                path: path.clone(),
                message: format!("`{}` is not a table", keys[..=i].join(".")),
            })?;
        }
        Ok(t)
    }

    pub fn change(&self) -> Change {
        Change {
            path: self.path.clone(),
            before: self.before.clone(),
            after: Some(self.doc.to_string()),
        }
    }
}

/// One file's contents before and after an edit. `after: None` removes the file.
#[derive(Clone, Debug)]
pub struct Change {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What [`Change::apply`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Unchanged,
    Created,
    /// Written; the previous contents are in the backup.
    Updated {
        backup: PathBuf,
    },
    /// Removed; the previous contents are in the backup.
    Removed {
        backup: PathBuf,
    },
}

impl Change {
    /// Nothing to do (`before` and `after` equal, or both absent).
    pub fn is_noop(&self) -> bool {
        self.before.as_deref().unwrap_or("") == self.after.as_deref().unwrap_or("")
            && self.before.is_some() == self.after.is_some()
            || (self.before.is_none() && self.after.is_none())
    }

    /// A unified diff (`--- FILE`, `+++ FILE`); empty when nothing changes.
    pub fn diff(&self) -> String {
        if self.is_noop() {
            return String::new();
        }
        let old = self.before.as_deref().unwrap_or("");
        let new = self.after.as_deref().unwrap_or("");
        let name = self.path.display().to_string();
        let old_name = if self.before.is_some() {
            name.clone()
        } else {
            "/dev/null".into()
        };
        let new_name = if self.after.is_some() {
            name
        } else {
            "/dev/null".into()
        };
        similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(3)
            .header(&old_name, &new_name)
            .missing_newline_hint(true)
            .to_string()
    }

    /// Writes the change: refuses if the file changed since it was read; keeps the old contents
    /// in `FILE.cordon-bak`; replaces the file atomically with the same mode.
    pub fn apply(&self) -> Result<Applied, EditError> {
        if self.is_noop() {
            return Ok(Applied::Unchanged);
        }
        let io = |what: &'static str| {
            let path = self.path.clone();
            move |err| EditError::Io { path, what, err }
        };
        let now = match fs::read(&self.path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("read")(e)),
        };
        if now.as_deref() != self.before.as_deref().map(str::as_bytes) {
            return Err(EditError::Changed {
                path: self.path.clone(),
            });
        }
        let backup = backup_path(&self.path);
        let mode = fs::metadata(&self.path)
            .ok()
            .map(|m| m.permissions().mode());
        if let Some(old) = &now {
            write_atomic(&backup, old, mode).map_err(|err| EditError::Io {
                path: backup.clone(),
                what: "write the backup",
                err,
            })?;
        }
        match &self.after {
            None => {
                if now.is_some() {
                    fs::remove_file(&self.path).map_err(io("remove"))?;
                    return Ok(Applied::Removed { backup });
                }
                Ok(Applied::Unchanged)
            }
            Some(text) => {
                if let Some(dir) = self.path.parent() {
                    fs::create_dir_all(dir).map_err(|err| EditError::Io {
                        path: dir.to_path_buf(),
                        what: "create the directory",
                        err,
                    })?;
                }
                write_atomic(&self.path, text.as_bytes(), mode).map_err(io("write"))?;
                Ok(if now.is_some() {
                    Applied::Updated { backup }
                } else {
                    Applied::Created
                })
            }
        }
    }
}

/// `FILE.cordon-bak` next to `FILE`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(BACKUP_SUFFIX);
    PathBuf::from(s)
}

/// Writes `bytes` to a temporary file next to `path`, fsyncs it and renames it over `path`.
/// `mode`: the permissions to keep (default 0644 less the umask for a new file).
fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{}.cordon-tmp.{}",
        name.as_deref().unwrap_or("settings"),
        std::process::id()
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        if let Some(m) = mode {
            f.set_permissions(fs::Permissions::from_mode(m & 0o7777))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn json_edit_keeps_order_formatting_and_comments() {
        let d = tmp();
        let p = d.path().join("settings.json");
        let text = "{\n    \"zeta\": 1,\n    // a comment\n    \"alpha\": [1,2],\n    \"hooks\": {\"Other\": []}\n}\n";
        fs::write(&p, text).unwrap();
        let doc = JsonDoc::load(&p, JsonFlavor::Comments).unwrap();
        let hooks = doc.object_in(&doc.root(), "hooks").unwrap();
        let arr = doc.array_in(&hooks, "PreToolUse").unwrap();
        arr.append(input(&serde_json::json!({"matcher": "*"})));
        let c = doc.change();
        let after = c.after.clone().unwrap();
        assert!(after.starts_with("{\n    \"zeta\": 1,\n    // a comment\n    \"alpha\": [1,2],\n"));
        let v: serde_json::Value =
            serde_json::from_str(&after.replace("    // a comment\n", "")).unwrap();
        assert_eq!(v["hooks"]["PreToolUse"][0]["matcher"], "*");
        assert_eq!(v["hooks"]["Other"], serde_json::json!([]));
        let diff = c.diff();
        assert!(
            diff.contains("+++ ") && diff.contains("PreToolUse"),
            "{diff}"
        );
        assert!(matches!(c.apply().unwrap(), Applied::Updated { .. }));
        assert_eq!(fs::read_to_string(backup_path(&p)).unwrap(), text);
        assert_eq!(fs::read_to_string(&p).unwrap(), after);
    }

    #[test]
    fn broken_json_is_refused_with_line_and_column() {
        let d = tmp();
        let p = d.path().join("settings.json");
        fs::write(&p, "{\n  \"a\": 1,\n  \"b\": ,\n}\n").unwrap();
        let e = JsonDoc::load(&p, JsonFlavor::Strict).err().unwrap();
        let m = e.to_string();
        assert!(m.contains("settings.json:3:"), "{m}");
        // Comments are not JSON for a strict reader.
        fs::write(&p, "{\n  // no\n  \"a\": 1\n}\n").unwrap();
        let m = JsonDoc::load(&p, JsonFlavor::Strict)
            .err()
            .unwrap()
            .to_string();
        assert!(m.contains(":2:"), "{m}");
        assert!(JsonDoc::load(&p, JsonFlavor::Comments).is_ok());
        fs::write(&p, "[1]").unwrap();
        assert!(JsonDoc::load(&p, JsonFlavor::Strict)
            .err()
            .unwrap()
            .to_string()
            .contains("not a JSON object"));
    }

    #[test]
    fn toml_edit_keeps_comments_and_refuses_broken_files() {
        let d = tmp();
        let p = d.path().join("config.toml");
        let text = "# my config\nmodel = \"o3\" # inline\n\n[profiles.x]\nmodel = \"y\"\n";
        fs::write(&p, text).unwrap();
        let mut doc = TomlDoc::load(&p).unwrap();
        doc.table_at(&["mcp_servers", "cordon"]).unwrap()["command"] =
            toml_edit::value("/bin/cordon");
        let after = doc.change().after.unwrap();
        assert!(after.starts_with(text), "{after}");
        assert!(
            after.ends_with("\n[mcp_servers.cordon]\ncommand = \"/bin/cordon\"\n"),
            "{after}"
        );
        // A key of another type is refused, naming it.
        let mut doc = TomlDoc::load(&p).unwrap();
        doc.doc["hooks"] = toml_edit::value(3);
        assert!(doc
            .table_at(&["hooks", "x"])
            .err()
            .unwrap()
            .to_string()
            .contains("`hooks`"));
        fs::write(&p, "a = 1\nb = = 2\n").unwrap();
        let m = TomlDoc::load(&p).err().unwrap().to_string();
        assert!(m.contains("config.toml:2:"), "{m}");
    }

    #[test]
    fn apply_refuses_a_file_changed_underneath_and_follows_symlinks() {
        let d = tmp();
        let real = d.path().join("real.json");
        let link = d.path().join("link.json");
        fs::write(&real, "{}").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let doc = JsonDoc::load(&link, JsonFlavor::Strict).unwrap();
        doc.root().append("k", CstInputValue::Bool(true));
        let c = doc.change();
        fs::write(&real, "{\"other\": 1}").unwrap();
        assert!(matches!(c.apply(), Err(EditError::Changed { .. })));
        fs::write(&real, "{}").unwrap();
        c.apply().unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::read_to_string(&real).unwrap().contains("\"k\": true"));
        // A new file in a new directory.
        let newp = d.path().join("sub/dir/hooks.json");
        let doc = JsonDoc::load(&newp, JsonFlavor::Strict).unwrap();
        assert!(!doc.existed());
        doc.root()
            .append("version", CstInputValue::Number("1".into()));
        assert_eq!(doc.change().apply().unwrap(), Applied::Created);
        // Removal keeps a backup.
        let c = Change {
            path: newp.clone(),
            before: Some(fs::read_to_string(&newp).unwrap()),
            after: None,
        };
        assert!(c.diff().contains("+++ /dev/null"));
        assert!(matches!(c.apply().unwrap(), Applied::Removed { .. }));
        assert!(!newp.exists() && backup_path(&newp).exists());
    }
}
