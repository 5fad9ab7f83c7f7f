//! `cordon setup`: the AppArmor profile granting cordon's binary user namespaces. This kernel has
//! no AppArmor, so the profile is checked with AppArmor 4's parser in parse-only mode (`-Q -K
//! --skip-kernel-load`), which .ci/run unpacks to /opt/cordon-ci/apparmor4 (bookworm's 3.0.8
//! knows neither `abi <abi/4.0>` nor `userns`), and setup/undo run with that parser in place of
//! the loader, writing into a test directory (debug builds only honour the overrides).

mod harness;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::{code, is_root, text, Case, Who};

/// AppArmor 4's parser: $CORDON_TEST_APPARMOR_PARSER, .ci/run's, or the system's when it is 4.x.
fn parser() -> Option<String> {
    if let Ok(p) = std::env::var("CORDON_TEST_APPARMOR_PARSER") {
        return Some(p);
    }
    let ci = "/opt/cordon-ci/apparmor4/apparmor_parser";
    if Path::new(ci).exists() {
        return Some(ci.into());
    }
    let v = Command::new("apparmor_parser")
        .arg("--version")
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&v.stdout).to_string();
    let major = v
        .split("version ")
        .nth(1)?
        .split('.')
        .next()?
        .trim()
        .parse::<u32>()
        .ok()?;
    (major >= 4).then(|| "apparmor_parser".into())
}

fn need_parser() -> Option<String> {
    let p = parser();
    if p.is_none() {
        // CI installs it (.ci/run); elsewhere say loudly what was not tested.
        assert!(
            std::env::var_os("CI").is_none(),
            "no AppArmor 4 parser: .ci/run unpacks one to /opt/cordon-ci/apparmor4"
        );
        eprintln!("SKIPPED: no AppArmor 4 apparmor_parser (run .ci/run as root to get one)");
    }
    p
}

/// Parse-only check of a profile file: (ok, stderr).
fn parse(parser: &str, file: &Path) -> (bool, String) {
    let o = Command::new(parser)
        .args(["-Q", "-K", "--skip-kernel-load"])
        .arg(file)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn setup(c: &Case, dir: &Path, parser: &str, enabled: bool, args: &[&str]) -> Output {
    let mut a = vec!["setup"];
    a.extend_from_slice(args);
    c.command(&a)
        .env("CORDON_APPARMOR_DIR", dir)
        .env(
            "CORDON_APPARMOR_PARSER",
            format!("{parser} -Q -K --skip-kernel-load"),
        )
        .env("CORDON_APPARMOR_ENABLED", if enabled { "1" } else { "0" })
        .output()
        .unwrap()
}

#[test]
fn the_profile_parses_and_the_parser_is_not_blind() {
    let Some(p) = need_parser() else { return };
    let c = Case::new(Who::Invoker, false);
    for name in ["bin/cordon", "my tools/it\"s/cordon"] {
        let bin = c.base.join(name);
        fs::create_dir_all(bin.parent().unwrap()).unwrap();
        fs::copy("/bin/true", &bin).unwrap();
        let o = c.cordon(&["setup", "--dry-run", "--binary", bin.to_str().unwrap()]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let profile: String = out.lines().skip(1).map(|l| format!("{l}\n")).collect();
        let bin = bin.display();
        assert!(profile.contains("userns,"), "{profile}");
        assert!(profile.contains("flags=(unconfined)"), "{profile}");
        let f = c.base.join("profile");
        fs::write(&f, &profile).unwrap();
        let (ok, err) = parse(&p, &f);
        assert!(ok, "{bin}: {err}\n{profile}");
    }
    // The same parser refuses a broken rule: the check above is not vacuous.
    let f = c.base.join("broken");
    fs::write(
        &f,
        "abi <abi/4.0>,\ninclude <tunables/global>\nprofile cordon /usr/local/bin/cordon flags=(unconfined) {\n  userns,\n  frobnicate,\n}\n",
    )
    .unwrap();
    let (ok, err) = parse(&p, &f);
    assert!(!ok && err.contains("line 5"), "{err}");
}

#[test]
fn setup_installs_and_undo_removes_the_profile() {
    let Some(p) = need_parser() else { return };
    if !is_root() {
        return; // the binary must be root-owned to be granted: only a root run can arrange that
    }
    let c = Case::new(Who::Invoker, false);
    let dir = c.base.join("apparmor.d");
    let o = setup(&c, &dir, &p, true, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let file = dir.join("cordon");
    let written = fs::read_to_string(&file).unwrap();
    let bin = fs::canonicalize(harness::cordon_bin()).unwrap();
    assert!(
        written.contains(&format!(
            "profile cordon {} flags=(unconfined)",
            bin.display()
        )),
        "{written}"
    );
    let (ok, err) = parse(&p, &file);
    assert!(ok, "{err}");
    // Idempotent.
    assert_eq!(code(&setup(&c, &dir, &p, true, &[])), 0);
    assert_eq!(fs::read_to_string(&file).unwrap(), written);
    // Nothing else in the directory (a backup would be loaded as a second profile).
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("cordon")]);
    let o = setup(&c, &dir, &p, true, &["--undo"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(!file.exists());
    let o = setup(&c, &dir, &p, true, &["--undo"]);
    assert!(text(&o).contains("nothing to undo"), "{}", text(&o));
}

#[test]
fn setup_refuses_what_it_must_not_do() {
    let Some(p) = need_parser() else { return };
    let c = Case::new(Who::Invoker, false);
    let dir = c.base.join("apparmor.d");
    // No AppArmor: nothing to do, nothing written.
    let o = setup(&c, &dir, &p, false, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("not active"), "{}", text(&o));
    assert!(!dir.join("cordon").exists());
    if !is_root() {
        return;
    }
    // A loader that fails: exit 125, the file not left behind.
    let o = c
        .command(&["setup"])
        .env("CORDON_APPARMOR_DIR", &dir)
        .env("CORDON_APPARMOR_PARSER", "/bin/false")
        .env("CORDON_APPARMOR_ENABLED", "1")
        .output()
        .unwrap();
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(!dir.join("cordon").exists());
    // A binary another user can replace is not granted.
    let d: PathBuf = c.base.join("userbin");
    fs::create_dir_all(&d).unwrap();
    fs::copy(harness::cordon_bin(), d.join("cordon")).unwrap();
    let (uid, gid) = {
        let u = Case::new(Who::Unprivileged, false);
        (u.uid, u.gid)
    };
    std::os::unix::fs::chown(&d, Some(uid), Some(gid)).unwrap();
    let o = setup(
        &c,
        &dir,
        &p,
        true,
        &["--binary", d.join("cordon").to_str().unwrap()],
    );
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(text(&o).contains("other than root"), "{}", text(&o));
    assert!(!dir.join("cordon").exists());
    // Without the tests' override an unprivileged user is told to use root.
    let u = Case::new(Who::Unprivileged, false);
    let o = u.cordon(&["setup"]);
    assert_eq!(code(&o), 125, "{}", text(&o));
    assert!(text(&o).contains("as root"), "{}", text(&o));
}
