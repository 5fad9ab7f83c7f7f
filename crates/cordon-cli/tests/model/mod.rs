//! Shared by the tests that drive real agents offline (agents_e2e.rs, agent_in_cordon.rs): the
//! agent's binary on PATH, and the scripted model server (tests/agents/model_server.py).
//! Each test file uses its own part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The agent's binary on PATH; `None` (after a loud message naming `test`) when absent outside
/// CI, where the agents must be installed.
pub fn agent_bin(test: &str, name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        let msg = format!(
            "\n\n!!!! {test}: `{name}` is not installed: this test is SKIPPED. Install it with \
             the npm line of .ci/run. !!!!\n"
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg} (CI=true: the agents must be installed)");
        }
        eprintln!("{msg}");
    }
    found
}

/// The scripted model server, on an ephemeral port; killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Server {
    pub fn start(dir: &Path, steps: &Value) -> Server {
        Server::start_with(dir, steps, &[])
    }

    /// The same server over HTTPS, with `cert` and `key` (PEM files: see
    /// tests/certs, whose leaf is for api.example.test).
    pub fn start_tls(dir: &Path, steps: &Value, cert: &Path, key: &Path) -> Server {
        Server::start_with(dir, steps, &[cert, key])
    }

    fn start_with(dir: &Path, steps: &Value, tls: &[&Path]) -> Server {
        let scen = dir.join("scenario.json");
        let log = dir.join("requests.jsonl");
        let portfile = dir.join("port");
        std::fs::write(&scen, steps.to_string()).unwrap();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/agents/model_server.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(&scen)
            .arg(&log)
            .arg(&portfile)
            .args(tls)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 (the scripted model server)");
        let t = Instant::now();
        while !portfile.exists() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "the model server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let port = std::fs::read_to_string(&portfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        Server { child, port, log }
    }

    /// Every request the agent sent, as recorded by the server.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Every value of the header `name` (lower case) of each request, in order.
    pub fn header_values(&self, name: &str) -> Vec<Vec<String>> {
        self.requests()
            .iter()
            .map(|r| {
                r["headers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|kv| kv[0] == name)
                    .map(|kv| kv[1].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .collect()
    }

    /// The server's whole log, as text.
    pub fn everything(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
