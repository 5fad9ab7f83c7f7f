//! cordon's built-in path lists, defined once. The sandbox applies them (cordon-sandbox), the
//! config checks names against them (`remove_secret`, `remove_protected`), the agent hooks and
//! the policy read them: none of those keeps a copy.
//!
//! - [`HOME_SECRETS`]: secret paths under the home directory (no read, no write);
//! - [`is_secret_file_name`]: secret file names in the workspace, at any depth (`.env`, keys);
//! - [`PROTECTED`]: paths under each writable root that stay read-only;
//! - [`AGENT_CONFIGS`], [`AGENT_CONFIGS_IN`], [`HOOK_MANAGER_CONFIGS`]: configs that make a tool
//!   run code, kept read-only at any depth and neutralised when a run creates or changes them;
//!   [`LOADED_ENV_FILE`]: a `.env` an agent loads, neutralised when a run creates it.

#![forbid(unsafe_code)]
// cordon's output goes through `out!`/`outln!`/`errln!` (cordon_pipeline::out): `print!`,
// `println!` and `eprintln!` panic when the pipe's reader is gone (`cordon ... | head`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use serde::Serialize;

/// What a protected path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Dir,
    File,
}

/// Secret paths relative to the home directory (no read, no write).
pub const HOME_SECRETS: &[&str] = &[
    ".ssh",
    ".aws",
    ".gnupg",
    ".config/gcloud",
    ".azure",
    ".kube",
    ".docker/config.json",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".codex/auth.json",
    ".claude/.credentials.json",
    // Registry tokens and passwords of package managers and build tools, next to the caches
    // that are overlaid (caches/): cargo, maven, gradle, yarn 2+, poetry, gem.
    ".cargo/credentials.toml",
    ".cargo/credentials",
    ".m2/settings.xml",
    ".m2/settings-security.xml",
    ".gradle/gradle.properties",
    ".yarnrc.yml",
    ".config/pypoetry/auth.toml",
    ".gem/credentials",
    // pip's user configuration (index URLs with a token in them, like `.npmrc`'s), and uv's
    // credential store (`uv auth login`; uv's docs: `~/.local/share/uv/credentials/`).
    ".config/pip/pip.conf",
    ".pip/pip.conf",
    ".local/share/uv/credentials",
    // Tokens that tools keep in plain files of their own directories, each where the tool's
    // documentation puts it (these directories are readable, and several are socket-proof
    // views: ~/.config, ~/.cache): git's credential store at its XDG place
    // (git-credential-store(1) FILES), the GitHub CLI's token when no keyring is found
    // (gh auth login: "fallback to writing the token to a plain text file"), GitLab's glab and
    // hub, Gemini CLI's OAuth credentials (like Codex's auth.json and Claude Code's
    // .credentials.json above), Hugging Face's token (huggingface_hub's HF_TOKEN_PATH, and
    // `stored_tokens` of `hf auth login`), Podman's and skopeo's registry logins
    // (containers-auth.json(5)), Vault's token helper file, `terraform login` (and the CLI
    // config's `credentials` blocks), libpq's and MySQL's password files, rclone's remotes,
    // s3cmd's and boto's keys, Composer's auth.json.
    ".config/git/credentials",
    ".config/gh/hosts.yml",
    ".config/glab-cli/config.yml",
    ".config/hub",
    ".gemini/oauth_creds.json",
    ".cache/huggingface/token",
    ".cache/huggingface/stored_tokens",
    ".huggingface/token",
    ".config/containers/auth.json",
    ".vault-token",
    ".terraform.d/credentials.tfrc.json",
    ".terraformrc",
    ".pgpass",
    ".my.cnf",
    ".mylogin.cnf",
    ".config/rclone/rclone.conf",
    ".s3cfg",
    ".boto",
    ".composer/auth.json",
    ".config/composer/auth.json",
];

/// Protected paths relative to each writable root (read, never write).
pub const PROTECTED: &[(&str, Kind)] = &[
    (".git/config", Kind::File),
    (".git/hooks", Kind::Dir),
    (".git/info", Kind::Dir),
    (".gitmodules", Kind::File),
    (".cordon", Kind::Dir),
    (".claude", Kind::Dir),
    (".codex", Kind::Dir),
    (".agents", Kind::Dir),
    (".vscode", Kind::Dir),
    (".idea", Kind::Dir),
    (".mcp.json", Kind::File),
    (".envrc", Kind::File),
];

/// Is `name` a workspace secret file: `.env`, `.env.*` (not `.env.example`/`.sample`/`.template`),
/// `*.pem`, `*.key`, `id_*` private keys (not `*.pub`).
pub fn is_secret_file_name(name: &str) -> bool {
    if name == ".env" {
        return true;
    }
    if let Some(rest) = name.strip_prefix(".env.") {
        return !matches!(
            rest,
            "example" | "sample" | "template" | "dist" | "defaults"
        );
    }
    if name.ends_with(".pem") || name.ends_with(".key") {
        return true;
    }
    if let Some(rest) = name.strip_prefix("id_") {
        return !rest.is_empty() && !name.ends_with(".pub");
    }
    false
}

/// Configs that make a tool run code when a person, an editor or an agent opens or enters the
/// directory that holds them (name, what runs). Existing ones are read-only during a run, at any
/// depth outside regenerated trees; new ones are neutralised after it.
pub const AGENT_CONFIGS: &[(&str, &str)] = &[
    (
        ".claude",
        "Claude Code: settings.json hooks, MCP servers, commands, agents",
    ),
    (
        ".mcp.json",
        "Claude Code and others: MCP servers (commands to start)",
    ),
    (".codex", "Codex: config.toml (MCP servers, hooks)"),
    (".agents", "agent skills and commands"),
    (".cursor", "Cursor: hooks.json, mcp.json"),
    (
        ".gemini",
        "Gemini CLI: settings.json (MCP servers, tool discovery commands)",
    ),
    (".windsurf", "Windsurf: hooks, workflows"),
    (
        ".zed",
        "Zed: tasks, language servers and context servers with commands",
    ),
    (".continue", "Continue: MCP servers"),
    (".kiro", "Kiro: agent hooks"),
    (".amazonq", "Amazon Q: MCP servers"),
    (".clinerules", "Cline: hooks, workflows"),
    (".roo", "Roo Code: MCP servers"),
    (".opencode", "OpenCode: plugins (JavaScript it loads)"),
    ("opencode.json", "OpenCode: plugins, MCP servers"),
    ("opencode.jsonc", "OpenCode: plugins, MCP servers"),
    (
        ".qwen",
        "Qwen Code: settings.json MCP servers, .qwen/.env loaded into its environment",
    ),
    (
        ".crush.json",
        "Crush: MCP servers and language servers (commands)",
    ),
    (
        "crush.json",
        "Crush: MCP servers and language servers (commands)",
    ),
    (".kilocode", "Kilo Code: mcp.json MCP servers"),
    (".kilo", "Kilo: kilo.json(c) MCP servers"),
    ("kilo.json", "Kilo: MCP servers"),
    ("kilo.jsonc", "Kilo: MCP servers"),
    (".aider.conf.yml", "Aider: lint-cmd, test-cmd"),
    (
        ".vscode",
        "VS Code: tasks (runOn folderOpen), settings naming executables",
    ),
    (
        ".idea",
        "JetBrains IDEs: run configurations, external tools, startup tasks",
    ),
    (
        ".devcontainer",
        "Dev Containers: initializeCommand runs on the host",
    ),
    (
        ".devcontainer.json",
        "Dev Containers: initializeCommand runs on the host",
    ),
    (".husky", "husky: the git hooks (core.hooksPath = .husky/_)"),
    (".envrc", "direnv: a shell script run on cd"),
    (
        ".mise.toml",
        "mise: [hooks] enter/cd, templates that exec, env._.source",
    ),
    ("mise.toml", "mise: as .mise.toml"),
    (".mise.local.toml", "mise: as .mise.toml"),
    ("mise.local.toml", "mise: as .mise.toml"),
    (".mise", "mise: config directory"),
    (".autoenv.zsh", "zsh-autoenv: sourced on cd"),
    (".autoenv_leave.zsh", "zsh-autoenv: sourced on leaving"),
    (".env.leave", "autoenv: sourced on leaving"),
    (".dir-locals.el", "Emacs: directory variables (eval)"),
    (".dir-locals-2.el", "Emacs: directory variables (eval)"),
    (".nvim.lua", "Neovim exrc"),
    (".nvimrc", "Neovim/Vim exrc"),
    (".exrc", "Vim exrc"),
];

/// Configs recognised by how their name ends (suffix, what runs), at any depth like
/// [`AGENT_CONFIGS`].
pub const AGENT_CONFIG_SUFFIXES: &[(&str, &str)] = &[(
    ".code-workspace",
    "VS Code: a workspace file (its tasks run on folder open, its settings name executables); VS Code offers to open one it finds in the folder",
)];

/// Whether an entry named `name` is an agent or editor config by its name alone (exact, or by
/// suffix), and what runs from it.
pub fn agent_config_name(name: &str) -> Option<&'static str> {
    if let Some((_, why)) = AGENT_CONFIGS.iter().find(|(n, _)| *n == name) {
        return Some(why);
    }
    AGENT_CONFIG_SUFFIXES
        .iter()
        .find(|(suffix, _)| name.len() > suffix.len() && name.ends_with(suffix))
        .map(|(_, why)| *why)
}

/// Configs that count only inside a directory of a given name (directory, name, what runs).
pub const AGENT_CONFIGS_IN: &[(&str, &str, &str)] = &[
    (".config", "mise", "mise: config in .config/"),
    (".config", "mise.toml", "mise: config in .config/"),
    (".config", "mise.local.toml", "mise: config in .config/"),
    (
        ".github",
        "hooks",
        "Copilot CLI: .github/hooks/*.json name commands it runs at its events (cordon install copilot --scope project puts cordon's own hook there)",
    ),
    (
        ".github",
        "mcp.json",
        "Copilot CLI: MCP servers (commands to start)",
    ),
];

/// A `.env` file that an agent loads into its own environment, whence it reaches every command
/// the agent runs (`BASH_ENV`, `NODE_OPTIONS`, `LD_PRELOAD`... run code): Gemini CLI (and its
/// forks) read the nearest `.env` from the directory they start in upwards, in a trusted folder
/// with every variable. An existing one is a secret (covered in the sandbox: it cannot be
/// changed); a new one is neutralised after the run like an agent config.
pub const LOADED_ENV_FILE: (&str, &str) = (
    ".env",
    "a .env file: Gemini CLI loads the nearest one into its environment (BASH_ENV, NODE_OPTIONS... run code at its next command)",
);

/// Configs that an installed git hook manager reads from the work tree's top at each commit
/// (name, manager). Protected when that manager's hook is installed in the repository.
pub const HOOK_MANAGER_CONFIGS: &[(&str, &str)] = &[
    (".pre-commit-config.yaml", "pre-commit"),
    (".pre-commit-config.yml", "pre-commit"),
    ("lefthook.yml", "lefthook"),
    (".lefthook.yml", "lefthook"),
    ("lefthook.yaml", "lefthook"),
    (".lefthook.yaml", "lefthook"),
    ("lefthook.toml", "lefthook"),
    (".lefthook.toml", "lefthook"),
    ("lefthook.json", "lefthook"),
    (".lefthook.json", "lefthook"),
    ("lefthook-local.yml", "lefthook"),
    (".lefthook-local.yml", "lefthook"),
    ("lefthook-local.yaml", "lefthook"),
    (".lefthook-local.yaml", "lefthook"),
    ("lefthook-local.toml", "lefthook"),
    (".lefthook-local.toml", "lefthook"),
    ("lefthook-local.json", "lefthook"),
    (".lefthook-local.json", "lefthook"),
    (".lefthook", "lefthook"),
    (".lefthook-local", "lefthook"),
    (".overcommit.yml", "overcommit"),
    (".lintstagedrc", "lint-staged"),
    (".lintstagedrc.json", "lint-staged"),
    (".lintstagedrc.yaml", "lint-staged"),
    (".lintstagedrc.yml", "lint-staged"),
    (".lintstagedrc.mjs", "lint-staged"),
    (".lintstagedrc.cjs", "lint-staged"),
    (".lintstagedrc.js", "lint-staged"),
    ("lint-staged.config.js", "lint-staged"),
    ("lint-staged.config.mjs", "lint-staged"),
    ("lint-staged.config.cjs", "lint-staged"),
];
