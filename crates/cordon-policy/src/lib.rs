//! cordon-policy: decide a shell command (or an argv) against a policy: allow / ask / deny,
//! with the rule and the reason for every simple command found.
//!
//! Pure: no I/O except reading policy files in [`Policy::load`]. The shell is parsed with
//! tree-sitter-bash (one parser per thread, reused); every simple command in lists, pipelines,
//! subshells, substitutions, here-docs and wrappers (`bash -c`, `env`, `sudo`, `xargs`,
//! `find -exec`, `eval`, …) is evaluated. Options of the programs cordon knows are read as the
//! program reads them (see `options`). What cannot be known statically asks; limits and
//! parse errors ask; deny wins over ask, ask over allow.
//!
//! Map of the crate, in the order a decision flows:
//!
//! - `load`: the built-in rules, rule files and config tables → a [`Policy`];
//! - `eval`: the evaluator: `eval::walk` walks the tree-sitter-bash tree (lists, pipelines,
//!   compound commands, redirections, what each command reads on stdin), `eval::command`
//!   decides one simple command;
//! - `words`: a word's static value (quotes, `$'..'`, `~`, `$HOME`), `paths`: paths, writes and
//!   what `rm -r` must not delete, `vars`: variables that change what runs;
//! - `unwrap`: what a wrapper, shell or interpreter runs; `programs`: the table of programs
//!   cordon knows, one file each (what they run, checks rules cannot express);
//! - `options`: options read as each program reads them, before rules see them;
//! - `rules` (the TOML rule schema and matching), `tool_rules` (MCP tool calls), `glob`,
//!   `unicode`; `decision`: what a check returns; `error`: why a policy does not load.

#![forbid(unsafe_code)]
#![warn(clippy::too_many_lines)]
// cordon's output goes through `out!`/`outln!`/`errln!` (cordon_pipeline::out): `print!`,
// `println!` and `eprintln!` panic when the pipe's reader is gone (`cordon ... | head`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod decision;
mod error;
mod eval;
mod glob;
mod load;
mod options;
mod paths;
mod programs;
// Generated from builtin.toml (see tests.rs); kept as the generator writes it.
#[rustfmt::skip]
mod builtin_rules;
mod rules;
pub mod tool_rules;
pub mod unicode;
mod unwrap;
mod vars;
mod words;

pub use decision::{
    CommandEval, Context, Decision, Evaluation, Hit, CHECKS, MAX_COMMANDS, MAX_INPUT_BYTES,
    MAX_TREE_DEPTH, MAX_WRAP_DEPTH,
};
pub use error::PolicyError;
pub use load::{check_builtin_examples, test_file, Loosening, Policy, Source};
pub use rules::Rule;
pub use tool_rules::{ToolCall, ToolHit, ToolRule};

pub(crate) use decision::{hit, truncate};
pub(crate) use words::Word;

#[cfg(test)]
use {load::BUILTIN_TOML, std::path::PathBuf};

#[cfg(test)]
mod tests;
