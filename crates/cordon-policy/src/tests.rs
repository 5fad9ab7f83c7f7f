use super::*;

fn ctx() -> Context {
    Context {
        cwd: PathBuf::from("/work/project"),
        workspace: PathBuf::from("/work/project"),
        home: PathBuf::from("/home/user"),
    }
}

fn d(s: &str) -> Decision {
    Policy::builtin().check_shell(s, &ctx()).decision
}

#[test]
fn builtin_rules_parse_and_examples_hold() {
    let n = check_builtin_examples().unwrap_or_else(|e| panic!("{e}"));
    assert!(n > 20);
}

#[test]
fn basics() {
    assert_eq!(d("ls -la"), Decision::Allow);
    assert_eq!(
        d("git push --force origin main && rm -rf ~"),
        Decision::Deny
    );
    assert_eq!(d("rm -rf ~"), Decision::Deny);
    assert_eq!(d("make"), Decision::Ask);
}

#[test]
fn argv_is_not_shell_parsed() {
    let p = Policy::builtin();
    // argv[0] with shell syntax is a (strange) program name, not a list.
    let e = p.check_argv(&["ls; sudo id".to_string()], &ctx());
    assert_eq!(e.decision, Decision::Ask);
    assert_eq!(e.commands.len(), 1);
    // but wrappers in argv are unwrapped.
    let e = p.check_argv(
        &["env".into(), "bash".into(), "-c".into(), "sudo id".into()],
        &ctx(),
    );
    assert_eq!(e.decision, Decision::Deny);
}

#[test]
fn limits_fail_closed() {
    let p = Policy::builtin();
    let long = format!("echo {}", "a".repeat(MAX_INPUT_BYTES));
    assert_eq!(p.check_shell(&long, &ctx()).rule, "builtin:limit-length");
    let mut deep = String::from("ls");
    for _ in 0..12 {
        deep = format!("bash -c {}", shell_quote(&deep));
    }
    assert_eq!(p.check_shell(&deep, &ctx()).decision, Decision::Ask);
    let many = vec!["ls"; MAX_COMMANDS + 5].join("; ");
    assert_eq!(p.check_shell(&many, &ctx()).decision, Decision::Ask);
    assert_eq!(p.check_shell("ls $(", &ctx()).rule, "builtin:parse-error");
}

#[test]
fn invisible_characters_are_shown_escaped() {
    let e = Policy::builtin().check_shell("ls\u{200b} -la", &ctx());
    assert_eq!(e.decision, Decision::Ask);
    assert!(e.summary().contains("U+200B"), "{}", e.summary());
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

const WRAPPERS: &[&str] = &[
    "bash -c",
    "sh -c",
    "env",
    "env -i",
    "timeout 5",
    "nice",
    "nohup",
    "time",
    "command",
    "exec",
    "xargs",
    "stdbuf -o0",
    "eval",
];
const DENIED: &[&str] = &[
    "sudo id",
    "rm -rf /",
    "rm -rf ~",
    "git push --force",
    "mkfs.ext4 /dev/sda",
    "curl -s x | sh",
    "echo x > .git/hooks/pre-commit",
    "npm publish",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Any input gives a decision equal to the strictest of its parts (no panic, no hang).
    #[test]
    fn random_input_decides(src in "[a-z $'\"`(){};|&<>\\*?!=#~/\n\u{200b}.-]{0,80}") {
        let e = Policy::builtin().check_shell(&src, &ctx());
        let worst = e.commands.iter().map(|c| c.decision)
            .chain(e.findings.iter().map(|f| f.decision)).max().unwrap_or(Decision::Allow);
        proptest::prop_assert_eq!(e.decision, worst);
    }

    /// Wrapping, chaining or substituting a denied command never makes it less than deny
    /// (pipes into a shell and eval of quoted strings included).
    #[test]
    fn wrapped_deny_stays_deny(
        d in proptest::sample::select(DENIED),
        ws in proptest::collection::vec(proptest::sample::select(WRAPPERS), 0..4),
        shape in 0..5usize,
    ) {
        let mut cmd = d.to_string();
        for w in ws {
            cmd = if w.ends_with("-c") || w == "eval" {
                format!("{w} {}", shell_quote(&cmd))
            } else if cmd.contains(['|', '>']) {
                format!("{w} bash -c {}", shell_quote(&cmd))
            } else {
                format!("{w} {cmd}")
            };
        }
        let cmd = match shape {
            0 => cmd,
            1 => format!("ls && {cmd}"),
            2 => format!("echo \"$({cmd})\""),
            3 => format!("( {cmd} ); true"),
            _ => format!("if true; then {cmd}; fi"),
        };
        let e = Policy::builtin().check_shell(&cmd, &ctx());
        proptest::prop_assert_eq!(e.decision, Decision::Deny, "{}\n{}", cmd, e.summary());
    }
}

#[test]
fn sources_from_memory_keep_drop_or_refuse_what_loosens() {
    let text = "mode = \"read-only\"\n[policy]\nfiles = []\ndisable_builtins = [\"privilege\"]\n\n\
                [[policy.rule]]\ndecision = \"allow\"\ncommand = [\"rm\"]\nreason = \"fine\"\n\n\
                [[policy.rule]]\ndecision = \"deny\"\ncommand = [\"make\", \"deploy\"]\nreason = \"no\"\n";
    let src = |loosening| Source {
        origin: PathBuf::from("/etc/cordon/config.toml"),
        text: text.to_string(),
        embedded: true,
        loosening,
    };
    let decide = |p: &Policy, s: &str| p.check_shell(s, &ctx()).decision;
    let (p, dropped) = Policy::load_sources(&[src(Loosening::Keep)]).unwrap();
    assert!(dropped.is_empty());
    assert_eq!(decide(&p, "rm x"), Decision::Allow);
    assert_eq!(decide(&p, "make deploy"), Decision::Deny);
    // The rule id names the config file and the line of its command.
    let ev = p.check_shell("make deploy", &ctx());
    assert_eq!(ev.rule, "/etc/cordon/config.toml:13");

    let (p, dropped) = Policy::load_sources(&[src(Loosening::Drop)]).unwrap();
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    assert_eq!(decide(&p, "rm x"), Decision::Ask);
    assert_eq!(decide(&p, "sudo ls"), Decision::Deny);
    assert_eq!(decide(&p, "make deploy"), Decision::Deny);

    let e = Policy::load_sources(&[src(Loosening::Refuse("a managed file".into()))])
        .unwrap_err()
        .to_string();
    assert!(e.contains("a managed file can only tighten"), "{e}");
}

/// `builtin_rules.rs` (what `Policy::builtin()` uses, so that no TOML is parsed at start-up) is
/// exactly what builtin.toml gives. `CORDON_REGEN_BUILTIN=1` rewrites it after an edit.
#[test]
fn generated_builtin_rules_match_the_toml() {
    let f = rules::parse_file(&rules::builtin_path(), BUILTIN_TOML, true).unwrap();
    let want = rules::render_rust(&f.rules);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/builtin_rules.rs");
    if std::env::var_os("CORDON_REGEN_BUILTIN").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "src/builtin_rules.rs is out of date with builtin.toml: run \
         CORDON_REGEN_BUILTIN=1 cargo test -p cordon-policy generated_builtin_rules"
    );
    // And the two give the same rules.
    let generated = builtin_rules::rules();
    assert_eq!(format!("{generated:?}"), format!("{:?}", f.rules));
}
