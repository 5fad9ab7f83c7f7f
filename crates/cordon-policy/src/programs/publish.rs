//! Publishing a package (`npm publish`, `cargo publish`, `twine upload`, ...), also after
//! options and in the abbreviations npm accepts: deny.

use super::{Call, Program};
use crate::eval::Ev;
use crate::{hit, Decision, Hit, Word};

pub(crate) static PUBLISH: Program = Program {
    names: &[
        "npm", "yarn", "pnpm", "cargo", "poetry", "gem", "twine", "flit", "hatch", "uv", "dotnet",
        "mvn", "gradle",
    ],
    check: Some(check),
    ..Program::NONE
};

fn check(_: &mut Ev, c: &Call, hits: &mut Vec<Hit>) {
    hits.extend(publish_check(c.program, c.args));
}

/// Package managers and the subcommands that publish (as the `package-publish` rule), found
/// also after options (`npm --registry R publish`, `cargo +nightly publish`) and, for npm,
/// in the spellings npm accepts: any prefix of `publish` from `pu` (npm 11's `cmd-list.js`
/// resolves unique abbreviations).
fn publish_check(program: &str, args: &[Word]) -> Option<Hit> {
    const VERBS: &[&str] = &["publish", "upload", "push", "deploy", "nuget"];
    const PROGRAMS: &[&str] = &[
        "npm", "yarn", "pnpm", "cargo", "poetry", "gem", "twine", "flit", "hatch", "uv", "dotnet",
        "mvn", "gradle",
    ];
    if !PROGRAMS.contains(&program) {
        return None;
    }
    // The subcommand: the first word that is not an option; an option without `=` may have
    // taken the next word as its value, so the word after that is a candidate too.
    let mut candidates = Vec::new();
    let mut i = 0;
    while i < args.len() && candidates.len() < 2 {
        let t = args[i].text.as_str();
        if t == "--" {
            break;
        }
        if t.starts_with('-') || (program == "cargo" && t.starts_with('+')) {
            i += 1;
            continue;
        }
        candidates.push(t);
        let prev = i.checked_sub(1).map(|k| args[k].text.as_str());
        if !prev.is_some_and(|p| {
            p.starts_with("--") && !p.contains('=') || p.len() == 2 && p.starts_with('-')
        }) {
            break; // nothing before it could have taken it as a value
        }
        i += 1;
    }
    let publishes = |c: &str| {
        VERBS.contains(&c) || (program == "npm" && c.len() >= 2 && "publish".starts_with(c))
    };
    candidates.into_iter().any(publishes).then(|| {
        hit(
            Decision::Deny,
            "package-publish",
            "publishing a package is irreversible and public",
        )
    })
}
