//! The paths an `apply_patch` text touches (Codex's patch format: `*** Begin Patch`, then
//! `*** Add File: P`, `*** Update File: P` (optionally `*** Move to: Q`), `*** Delete File: P`,
//! `*** End Patch`). Every header line is accounted for: a `***` line at the start of a line
//! that cordon does not know makes the whole patch unparsable (refused), so a path can never
//! hide in a form the agent's parser accepts and this one skips; indented headers (Codex trims
//! them) count too, so a context line that looks like one is checked as a path as well.

pub fn paths(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if !l.starts_with("***") {
            continue;
        }
        let rest = l.trim_start_matches('*').trim_start();
        let mut found = None;
        for (prefix, _) in [
            ("Add File:", "add"),
            ("Update File:", "update"),
            ("Delete File:", "delete"),
            ("Move to:", "move"),
        ] {
            if let Some(p) = rest.strip_prefix(prefix) {
                let p = p.trim();
                if p.is_empty() {
                    return Err(format!("patch line {l:?} names no path"));
                }
                found = Some(p.to_string());
            }
        }
        match found {
            Some(p) => out.push(p),
            None if matches!(rest, "Begin Patch" | "End Patch" | "End of File") => {}
            // An indented `***` line is a context or content line of a hunk.
            None if !line.starts_with("***") => {}
            None => {
                return Err(format!(
                    "patch line {l:?} is not a patch header cordon knows"
                ))
            }
        }
    }
    if out.is_empty() {
        return Err("the patch names no file (no `*** Add/Update/Delete File:` line)".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::paths;

    #[test]
    fn every_kind_of_header() {
        let p = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** Update File: src/b.rs\n*** Move to: src/c.rs\n@@\n-x\n+y\n*** Delete File: ../d\n*** End Patch\n";
        assert_eq!(
            paths(p).unwrap(),
            vec!["a.txt", "src/b.rs", "src/c.rs", "../d"]
        );
    }

    #[test]
    fn heredoc_wrapped_and_indented() {
        let p = "apply_patch <<'EOF'\n  *** Begin Patch\n  *** Add File: /etc/x\n+y\n  *** End Patch\nEOF";
        assert_eq!(paths(p).unwrap(), vec!["/etc/x"]);
    }

    #[test]
    fn indented_stars_in_a_hunk_are_content() {
        let p =
            "*** Begin Patch\n*** Update File: README.md\n@@\n *** bold ***\n-a\n+b\n*** End Patch";
        assert_eq!(paths(p).unwrap(), vec!["README.md"]);
    }

    #[test]
    fn unknown_or_empty_headers_refuse() {
        assert!(paths("*** Begin Patch\n*** Copy File: x\n*** End Patch").is_err());
        assert!(paths("*** Begin Patch\n*** Add File:   \n*** End Patch").is_err());
        assert!(paths("*** Begin Patch\n*** End Patch").is_err());
        assert!(paths("not a patch").is_err());
    }
}
