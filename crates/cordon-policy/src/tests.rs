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
fn debug_dump() {
    let e = Policy::builtin().check_shell("ls -la", &ctx());
    eprintln!("{e:#?}");
}
