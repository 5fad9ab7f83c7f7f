//! Profiles: `cordon run --profile NAME` applies a named set of config (mode, filesystem, env,
//! network, limits) as one more layer, after the project's and before the environment and the
//! flags (so a flag still wins, and the managed file still caps everything).
//!
//! Built-in profiles (`profiles.toml`, compiled in) run a whole coding agent inside the sandbox;
//! a `[profile.NAME]` table in the system or user config (or a trusted project's) defines a new
//! profile or replaces a built-in one of the same name as a whole.

use std::path::PathBuf;

use crate::schema::{Doc, FileToml, ProfileToml, S};
use crate::{Config, ConfigError, Layer, Origin, Paths, Val};

/// The built-in profiles, as TOML: `cordon config show --profile NAME --origin` names their lines.
pub const BUILTIN: &str = include_str!("profiles.toml");
/// What origins of built-in profile values show as their file.
pub const BUILTIN_PATH: &str = "<built-in profiles.toml>";

/// A `[profile.NAME]` table found in a config file.
#[derive(Debug, Clone)]
pub(crate) struct ProfileDef {
    pub name: String,
    pub path: PathBuf,
    pub text: String,
    pub line: usize,
}

/// A profile that `--profile` can name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProfileInfo {
    pub name: String,
    pub description: Option<String>,
    /// `FILE:LINE` of its definition (`<built-in profiles.toml>:N` for a built-in).
    pub defined_at: String,
    /// Whether it replaces a built-in profile of the same name.
    pub overrides_builtin: bool,
}

pub(crate) fn check_name(doc: &Doc, name: &str, t: &S<ProfileToml>) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(doc.err_at(
            t,
            format!("profile name {name:?} is not a plain name"),
            "use lower-case letters, digits, - and _ (e.g. [profile.my-agent])",
        ))
    }
}

fn builtin_doc() -> (PathBuf, FileToml) {
    let path = PathBuf::from(BUILTIN_PATH);
    // A unit test parses the built-in file, so this cannot fail in a released binary.
    let f = Doc {
        path: &path,
        text: BUILTIN,
    }
    .parse()
    .unwrap_or_default();
    (path, f)
}

impl Config {
    /// Applies profile `name`: the last `[profile.NAME]` of the config files, else the built-in.
    pub(crate) fn apply_profile(&mut self, name: &str, paths: &Paths) -> Result<(), ConfigError> {
        let def = self
            .profile_defs
            .iter()
            .rev()
            .find(|d| d.name == name)
            .cloned();
        let (path, text) = match &def {
            Some(d) => (d.path.clone(), d.text.clone()),
            None => (PathBuf::from(BUILTIN_PATH), BUILTIN.to_string()),
        };
        let doc = Doc {
            path: &path,
            text: &text,
        };
        let mut f = doc.parse()?;
        let Some(t) = f.profile.remove(name) else {
            let known: Vec<String> = self.profiles().into_iter().map(|p| p.name).collect();
            return Err(ConfigError::UnknownProfile {
                name: name.to_string(),
                known: known.join(", "),
            });
        };
        let line = doc.line_col(t.span().start).0;
        let t = t.into_inner();
        let ft = FileToml {
            mode: t.mode,
            filesystem: t.filesystem,
            env: t.env,
            network: t.network,
            limits: t.limits,
            ..Default::default()
        };
        self.profile = Some(Val::new(
            name.to_string(),
            Origin {
                layer: Layer::Profile,
                file: Some(path.clone()),
                line,
                what: None,
            },
        ));
        // A profile is the user's (or the administrator's) own choice, named on the command
        // line: it applies in full, like the user's config.
        self.apply_doc(&doc, ft, Layer::Profile, paths)
    }

    /// Every profile `--profile` can name: the built-ins, and those of the config files (a later
    /// definition of a name replaces an earlier one).
    pub fn profiles(&self) -> Vec<ProfileInfo> {
        let (_, b) = builtin_doc();
        let bdoc = Doc {
            path: std::path::Path::new(BUILTIN_PATH),
            text: BUILTIN,
        };
        let mut out: Vec<ProfileInfo> = b
            .profile
            .iter()
            .map(|(name, t)| ProfileInfo {
                name: name.clone(),
                description: t
                    .get_ref()
                    .description
                    .as_ref()
                    .map(|d| d.get_ref().clone()),
                defined_at: format!("{BUILTIN_PATH}:{}", bdoc.line_col(t.span().start).0),
                overrides_builtin: false,
            })
            .collect();
        for d in &self.profile_defs {
            let description = Doc {
                path: &d.path,
                text: &d.text,
            }
            .parse()
            .ok()
            .and_then(|mut f| f.profile.remove(&d.name))
            .and_then(|t| t.into_inner().description.map(|s| s.into_inner()));
            let info = ProfileInfo {
                name: d.name.clone(),
                description,
                defined_at: format!("{}:{}", d.path.display(), d.line),
                overrides_builtin: b.profile.contains_key(&d.name),
            };
            match out.iter_mut().find(|p| p.name == d.name) {
                Some(p) => *p = info,
                None => out.push(info),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse_and_name_the_agents() {
        let path = PathBuf::from(BUILTIN_PATH);
        let f = Doc {
            path: &path,
            text: BUILTIN,
        }
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
        for name in ["claude-code", "codex", "gemini", "copilot"] {
            let p = f.profile.get(name).unwrap_or_else(|| panic!("no {name}"));
            let p = p.get_ref();
            assert!(p.description.is_some(), "{name}");
            assert!(!p.network.allow.is_empty(), "{name}: no API domains");
            assert!(
                !p.filesystem.writable.is_empty(),
                "{name}: no state directory"
            );
            assert!(
                !p.filesystem.protected.is_empty(),
                "{name}: its own config must stay read-only"
            );
        }
    }
}
