//! Protected paths: read-only even inside a writable root (the spec lists them; placeholders
//! make the missing ones exist for the run).

use std::path::PathBuf;

use serde::Serialize;

// The built-in lists are defined once, in cordon-defaults.
pub use cordon_defaults::{
    agent_config_name, is_secret_file_name, Kind, AGENT_CONFIGS, AGENT_CONFIGS_IN, HOME_SECRETS,
    HOOK_MANAGER_CONFIGS, LOADED_ENV_FILE, PROTECTED,
};

/// A path that stays read-only even inside a writable root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Protected {
    pub path: PathBuf,
    pub kind: Kind,
    /// false: cordon creates an empty placeholder for the run (and removes it after) so that the
    /// path can be mounted read-only and cannot be created by the command.
    pub exists: bool,
}
