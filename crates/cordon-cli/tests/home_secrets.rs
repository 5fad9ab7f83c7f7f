//! Secrets that tools keep in their own directories of the home (~/.config, ~/.cache, tool
//! dot-directories), and the socket-proof views of those directories when they hold one. Each
//! test checks the effect outside the sandbox (the secret's bytes absent from everything the
//! command could write or print, the listener outside never reached) and runs four ways.

mod harness;

use std::process::Stdio;

use harness::{assert_nothing_received, text, Case};

/// Tokens in plain files, each where its tool's documentation puts it (cordon_defaults'
/// HOME_SECRETS), with a marker of its own.
const TOOL_TOKENS: &[(&str, &str)] = &[
    (".config/git/credentials", "SECRET-GIT-XDG-CREDENTIALS"),
    (".config/gh/hosts.yml", "SECRET-GH-HOSTS"),
    (".config/glab-cli/config.yml", "SECRET-GLAB"),
    (".config/hub", "SECRET-HUB"),
    (".gemini/oauth_creds.json", "SECRET-GEMINI-OAUTH"),
    (".cache/huggingface/token", "SECRET-HF-TOKEN"),
    (".cache/huggingface/stored_tokens", "SECRET-HF-STORED"),
    (".huggingface/token", "SECRET-HF-OLD"),
    (".config/containers/auth.json", "SECRET-CONTAINERS-AUTH"),
    (".vault-token", "SECRET-VAULT"),
    (".terraform.d/credentials.tfrc.json", "SECRET-TERRAFORM"),
    (".terraformrc", "SECRET-TERRAFORMRC"),
    (".pgpass", "SECRET-PGPASS"),
    (".my.cnf", "SECRET-MYCNF"),
    (".mylogin.cnf", "SECRET-MYLOGIN"),
    (".config/rclone/rclone.conf", "SECRET-RCLONE"),
    (".s3cfg", "SECRET-S3CFG"),
    (".boto", "SECRET-BOTO"),
    (".composer/auth.json", "SECRET-COMPOSER"),
    (".config/composer/auth.json", "SECRET-COMPOSER-XDG"),
];

fn tool_tokens_stay_hidden(c: &Case) {
    for (rel, marker) in TOOL_TOKENS {
        c.write(rel, &format!("token: {marker}\n"));
    }
    // Beside them, files of the same directories that are no secret stay readable.
    c.write(".config/gh/config.yml", "git_protocol: https\n");
    c.write(".cache/huggingface/hub/readme", "model card\n");
    c.chown_all();
    let files: Vec<String> = TOOL_TOKENS
        .iter()
        .map(|(rel, _)| format!("~/{rel}"))
        .collect();
    let files = files.join(" ");
    let o = c.sh(&format!(
        "cat {files} > out/stolen.txt 2>/dev/null; cat {files}; \
         tar cf out/t.tar ~/.config ~/.cache ~/.gemini 2>/dev/null; \
         cat ~/.config/gh/config.yml ~/.cache/huggingface/hub/readme"
    ));
    let out = text(&o);
    let stolen = std::fs::read_to_string(c.ws.join("out/stolen.txt")).unwrap_or_default();
    let tar = String::from_utf8_lossy(&std::fs::read(c.ws.join("out/t.tar")).unwrap_or_default())
        .to_string();
    for (rel, marker) in TOOL_TOKENS {
        assert!(!out.contains(marker), "[{}] ~/{rel} read: {out}", c.label());
        assert!(
            !stolen.contains(marker),
            "[{}] ~/{rel} copied into the workspace",
            c.label()
        );
        assert!(!tar.contains(marker), "[{}] ~/{rel} archived", c.label());
    }
    assert!(
        out.contains("git_protocol: https") && out.contains("model card"),
        "[{}] the files beside the secrets must stay readable: {out}",
        c.label()
    );
}

/// ~/.config, ~/.cache, ~/.local/share and ~/.local/state each hold a secret (gcloud's
/// directory, a Hugging Face token, uv's credentials, cordon's own state directory): their
/// socket-proof views must stay, so that a daemon that starts during the run and binds a socket
/// there is out of reach, while the secrets stay covered and the rest reads as before. (Views
/// were once dropped for a directory holding a secret: with ~/.config/gcloud present, a socket
/// created in ~/.config during the run could be connected to.)
fn views_holding_secrets_stay_socket_proof(c: &Case) {
    c.write(".config/gcloud/credentials.db", "SECRET-GCLOUD-MARKER\n");
    c.write(".cache/huggingface/token", "SECRET-HF-MARKER\n");
    c.write(
        ".local/share/uv/credentials/credentials.toml",
        "SECRET-UV-MARKER\n",
    );
    c.write(".cache/readme", "cached\n");
    c.write(".config/app/settings", "plain settings\n");
    c.write(".local/state/app/history", "plain history\n");
    c.chown_all();
    let later = [
        ".config/newapp/s.sock",
        ".config/app/s.sock",
        ".cache/later.sock",
        ".local/share/newapp/sock",
        ".local/state/newapp/sock",
    ];
    let run = c.connect_later(
        "cat ~/.config/gcloud/credentials.db ~/.cache/huggingface/token \
             ~/.local/share/uv/credentials/credentials.toml ~/.config/app/settings \
             ~/.local/state/app/history;",
        &later,
        &[],
    );
    let (out, ls) = run.bind_and_go(c, &later);
    assert_nothing_received(c, &ls, &out);
    for m in [
        "SECRET-GCLOUD-MARKER",
        "SECRET-HF-MARKER",
        "SECRET-UV-MARKER",
    ] {
        assert!(!out.contains(m), "[{}] {m} read: {out}", c.label());
    }
    assert!(
        out.contains("plain settings") && out.contains("plain history"),
        "[{}] the views must still read as before: {out}",
        c.label()
    );
}

/// git's credential cache (`credential.helper = cache`) keeps the passwords git used in a daemon
/// it starts on demand, which hands them to whoever connects to its socket. Its directory
/// exists before the run with no socket in it (the daemon exits after its timeout); a `git push`
/// outside during the run starts it again there. The sandbox must not get the password.
fn credential_cache_started_during_the_run(c: &Case) {
    let dir = c.home.join(".git-credential-cache");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    c.chown_all();
    let sock = dir.join("socket");
    let script = format!(
        "printf 'protocol=https\nhost=example.com\n\n' | git credential-cache --socket {} get; echo tried",
        sock.display()
    );
    let run = c.paused(&script, &[], &[]);
    // Outside, as the case's user: git stores a password in its cache (starting the daemon).
    let mut store = std::process::Command::new("git");
    store
        .args(["credential-cache", "--timeout", "30", "--socket"])
        .arg(&sock)
        .arg("store")
        .env_clear()
        .env("HOME", &c.home)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(Stdio::piped());
    let mut p = c.as_user(&mut store).spawn().unwrap();
    std::io::Write::write_all(
        p.stdin.as_mut().unwrap(),
        b"protocol=https\nhost=example.com\nusername=u\npassword=SECRET-CACHED-PASSWORD\n\n",
    )
    .unwrap();
    drop(p.stdin.take());
    assert!(p.wait().unwrap().success());
    let o = run.go();
    let out = text(&o);
    // The daemon lives on after the test (its timeout): stop it.
    let _ = std::process::Command::new("git")
        .args(["credential-cache", "--socket"])
        .arg(&sock)
        .arg("exit")
        .env("HOME", &c.home)
        .output();
    assert!(
        out.contains("tried"),
        "[{}] the command did not try: {out}",
        c.label()
    );
    assert!(
        !out.contains("SECRET-CACHED-PASSWORD"),
        "[{}] git's credential cache outside handed its password to the sandbox: {out}",
        c.label()
    );
}

/// Daemons whose socket lies in a directory of their own below the home, started while a run
/// goes on (Docker Desktop opened, `colima start`): their directory exists at the start, with
/// no socket yet. A Docker socket is the host's root: nothing bound there may be reached.
fn daemon_started_during_the_run(c: &Case) {
    c.write(".docker/config.json", "{\"auths\":{}}\n");
    c.write(".docker/desktop/.keep", "");
    c.write(".colima/default/colima.yaml", "cpu: 2\n");
    c.write(".rd/bin/.keep", "");
    // A socket a variable names, and one a docker context names: neither there at the start.
    c.write(".mydocker/run/.keep", "");
    c.write(".ctxdocker/run/.keep", "");
    c.write(
        ".docker/contexts/meta/0123abcd/meta.json",
        &format!(
            "{{\"Name\":\"ctx\",\"Endpoints\":{{\"docker\":{{\"Host\":\"unix://{}\"}}}}}}",
            c.home.join(".ctxdocker/run/d.sock").display()
        ),
    );
    c.chown_all();
    let later = [
        ".docker/desktop/docker.sock",
        ".docker/run/docker.sock",
        ".colima/default/docker.sock",
        ".rd/docker.sock",
        ".mydocker/run/docker.sock",
        ".ctxdocker/run/d.sock",
    ];
    let docker_host = format!(
        "unix://{}",
        c.home.join(".mydocker/run/docker.sock").display()
    );
    let run = c.connect_later(
        "cat ~/.colima/default/colima.yaml;",
        &later,
        &[("DOCKER_HOST", &docker_host)],
    );
    let (out, ls) = run.bind_and_go(c, &later);
    assert_nothing_received(c, &ls, &out);
    assert!(
        out.contains("cpu: 2"),
        "[{}] the daemons' directories must still read as before: {out}",
        c.label()
    );
}

variants!(
    tool_tokens_stay_hidden,
    views_holding_secrets_stay_socket_proof,
    credential_cache_started_during_the_run,
    daemon_started_during_the_run
);
