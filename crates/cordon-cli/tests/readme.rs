//! The README is the user manual: its first lines are the two commands a newcomer runs, CI runs
//! its test command, and its command reference names every option the binary has. These tests
//! keep the README and the binary from drifting apart.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).expect("README.md at the repository root")
}

fn help(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(args)
        .arg("--help")
        .output()
        .expect("run cordon --help");
    assert!(o.status.success(), "cordon {args:?} --help failed");
    String::from_utf8(o.stdout).expect("help is UTF-8")
}

/// The subcommand names listed under "Commands:" in a help text (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

/// The long options of a help text (`--name`), without `--help` and `--version`.
fn long_options(help: &str) -> Vec<String> {
    let mut v: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Options:"))
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l
                .strip_prefix('-')
                .filter(|r| !r.starts_with('-'))
                .map_or(l, |r| {
                    // `-c, --cwd`: skip the short form.
                    r.split_once(", ").map_or("", |(_, rest)| rest)
                });
            let name = l.strip_prefix("--")?;
            let name: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!name.is_empty()).then(|| format!("--{name}"))
        })
        .filter(|o| o != "--help" && o != "--version")
        .collect();
    v.dedup();
    v
}

/// The README's "Command reference" subsection for a top-level command: the `### ` block whose
/// title names `cordon CMD`.
fn reference_for(readme: &str, cmd: &str) -> String {
    let start = readme
        .find("\n## Command reference")
        .expect("README has a `## Command reference` section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    let section = &rest[..end];
    let mut out = String::new();
    for block in section.split("\n### ").skip(1) {
        let title = block.lines().next().unwrap_or("");
        let names = title.split('`').filter(|t| t.starts_with("cordon "));
        if names
            .into_iter()
            .any(|t| t.split_whitespace().nth(1) == Some(cmd))
        {
            out.push_str(block);
        }
    }
    assert!(
        !out.is_empty(),
        "the README's Command reference has no `### `cordon {cmd}`` subsection"
    );
    out
}

/// Does `text` name `opt` as a whole word (`--profile`, not `--profiles`)?
fn names_option(text: &str, opt: &str) -> bool {
    text.match_indices(opt).any(|(i, _)| {
        !text[i + opt.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[test]
fn first_lines_build_and_run_then_test() {
    let r = readme();
    let block = r
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the README starts with a sh code block");
    let lines: Vec<&str> = block.lines().collect();
    assert_eq!(lines.len(), 2, "two commands: build and run, then test");
    assert!(
        lines[0].contains("cargo build --release") && lines[0].contains("cordon run"),
        "the first command builds cordon and runs its main job: {}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("cargo test"),
        "the second runs the tests"
    );
    // The README's first code block comes before any section.
    assert!(r.find("```sh\n").unwrap() < r.find("\n## ").unwrap());
}

#[test]
fn ci_runs_the_readme_test_command() {
    let r = readme();
    let test_cmd = r
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.lines().nth(1))
        .expect("the README's test command");
    let ci = std::fs::read_to_string(repo().join(".ci/run")).expect(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == test_cmd),
        ".ci/run must run the README's test command exactly: {test_cmd}"
    );
}

#[test]
fn command_reference_names_every_command_and_option() {
    let r = readme();
    let mut missing = Vec::new();
    for cmd in subcommands(&help(&[])) {
        let reference = reference_for(&r, &cmd);
        let h = help(&[&cmd]);
        let mut leaves = vec![(vec![cmd.clone()], h.clone())];
        for sub in subcommands(&h) {
            let sh = help(&[&cmd, &sub]);
            if !reference.contains(&format!("cordon {cmd} {sub}"))
                && !reference.contains(&format!("cordon {cmd} [--audit-dir DIR] {sub}"))
                && !reference.contains(&format!("`{sub}`"))
            {
                missing.push(format!("cordon {cmd} {sub}: not in the reference"));
            }
            leaves.push((vec![cmd.clone(), sub], sh));
        }
        for (path, h) in leaves {
            for opt in long_options(&h) {
                if !names_option(&reference, &opt) {
                    missing.push(format!("cordon {} {opt}", path.join(" ")));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the README's Command reference misses (add them there):\n  {}",
        missing.join("\n  ")
    );
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(title: &str) -> String {
    title
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The text of a markdown file outside its fenced code blocks.
fn prose(md: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn links_stay_inside_the_repository_and_resolve() {
    let root = repo().canonicalize().expect("the repository root");
    let mut bad = Vec::new();
    for file in [
        "README.md",
        "docs/design.md",
        "docs/testing.md",
        "docs/benchmarks.md",
    ] {
        let path = root.join(file);
        let Ok(md) = std::fs::read_to_string(&path) else {
            continue;
        };
        let text = prose(&md);
        let mut anchors = std::collections::HashMap::<String, usize>::new();
        let mut known = std::collections::HashSet::new();
        for line in text.lines() {
            let title = line.trim_start_matches('#');
            if line.starts_with('#') && title.starts_with(' ') {
                let a = anchor(title);
                let n = anchors.entry(a.clone()).or_insert(0);
                known.insert(if *n == 0 {
                    a.clone()
                } else {
                    format!("{a}-{n}")
                });
                *n += 1;
            }
        }
        for (i, _) in text.match_indices("](") {
            let target: String = text[i + 2..].chars().take_while(|c| *c != ')').collect();
            let (file_part, frag) = target.split_once('#').unwrap_or((&target, ""));
            if file_part.is_empty() {
                if !known.contains(frag) {
                    bad.push(format!("{file}: no heading for #{frag}"));
                }
                continue;
            }
            if file_part.contains("://") || file_part.starts_with('/') {
                bad.push(format!("{file}: {target} points outside the repository"));
                continue;
            }
            let dir = path.parent().unwrap_or(&root);
            match dir.join(file_part).canonicalize() {
                Ok(t) if t.starts_with(&root) => {}
                Ok(_) => bad.push(format!("{file}: {target} points outside the repository")),
                Err(_) => bad.push(format!("{file}: {target} does not exist")),
            }
        }
    }
    assert!(bad.is_empty(), "broken links:\n  {}", bad.join("\n  "));
}
