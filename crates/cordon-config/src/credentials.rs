//! `[[network.credentials]]` and `network.upstream_ca_file`: credentials the proxy adds on
//! egress (README "Credentials injected on egress"). Personal keys: a project's file, trusted
//! or not, cannot set them (a repository must not be able to send your token somewhere).
//!
//! The config holds no secret: only the name of the variable of cordon's own environment that
//! holds it, read at launch (`cordon-pipeline`).

use serde::Serialize;

use crate::apply::Applier;
use crate::schema::{expand_home, CredentialToml, FileToml, S};
use crate::{ConfigError, Val};

/// One configured credential (validated; the value is not here: `env` names it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialConf {
    /// The host name, canonical.
    pub host: String,
    pub port: u16,
    pub header: String,
    /// The variable of cordon's environment that holds the secret.
    pub env: String,
    /// The header's value, with exactly one `{}` where the secret goes.
    pub format: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

impl CredentialConf {
    /// The credential with `secret` in place of `{}`, validated by `Credential::new` (the last
    /// word: a secret with a line break or a control character is refused here, at launch).
    pub fn credential(
        &self,
        secret: &str,
    ) -> Result<cordon_net::Credential, cordon_net::CredentialError> {
        cordon_net::Credential::new(
            &self.host,
            self.port,
            &self.header,
            cordon_net::Secret::new(self.format.replacen("{}", secret, 1)),
            self.methods.clone(),
            self.paths.clone(),
        )
    }
}

/// A variable name: what the shell accepts (`[A-Za-z_][A-Za-z0-9_]*`).
fn is_var_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Applier<'_, '_> {
    /// `[[network.credentials]]` and `network.upstream_ca_file`: validated in every layer (an
    /// error names the line), applied only from personal layers (a project's is ignored and
    /// said).
    pub(crate) fn credentials(&mut self, f: &FileToml) -> Result<(), ConfigError> {
        for c in &f.network.credentials {
            let conf = self.credential(c)?;
            if self.personal(c, "network.credentials")? {
                let origin = self.origin(c);
                self.cfg.credentials.push(Val::new(conf, origin));
            }
        }
        if let Some(p) = &f.network.upstream_ca_file {
            let path = expand_home(p.get_ref(), &self.paths.home);
            if !path.is_absolute() {
                return Err(self.doc.err_at(
                    p,
                    format!(
                        "`network.upstream_ca_file` {:?} is not absolute",
                        p.get_ref()
                    ),
                    "write the full path of a PEM file (or start it with ~/)",
                ));
            }
            if self.personal(p, "network.upstream_ca_file")? {
                let origin = self.origin(p);
                self.cfg.upstream_ca_file = Some(Val::new(path, origin));
            }
        }
        Ok(())
    }

    fn credential(&self, c: &S<CredentialToml>) -> Result<CredentialConf, ConfigError> {
        let t = c.get_ref();
        if !is_var_name(&t.env) {
            return Err(self.doc.err_at(
                c,
                format!("credential `env` {:?} is not a variable name", t.env),
                "name the variable of cordon's environment that holds the secret, e.g. env = \"GITHUB_TOKEN\"",
            ));
        }
        // Inside, the variable becomes a placeholder: not one the sandbox needs or cordon sets.
        let upper = t.env.to_ascii_uppercase();
        let reserved = ["PATH", "HOME", "TMPDIR"].contains(&upper.as_str())
            || upper.ends_with("_PROXY")
            || cordon_sandbox::spec::BUNDLE_VARS.contains(&upper.as_str())
            || cordon_sandbox::spec::EXTRA_CA_VARS.contains(&upper.as_str());
        if reserved {
            return Err(self.doc.err_at(
                c,
                format!(
                    "credential `env` {:?} is a variable the sandbox needs or cordon sets",
                    t.env
                ),
                "keep the secret in a variable of its own, e.g. env = \"GITHUB_TOKEN\"",
            ));
        }
        let format = t.format.clone().unwrap_or_else(|| "{}".into());
        if format.matches("{}").count() != 1 {
            return Err(self.doc.err_at(
                c,
                format!("credential `format` {format:?} must hold exactly one {{}}"),
                "{} is where the secret goes, e.g. format = \"Bearer {}\"",
            ));
        }
        let conf = CredentialConf {
            host: t.host.clone(),
            port: t.port.unwrap_or(443),
            header: t.header.clone().unwrap_or_else(|| "Authorization".into()),
            env: t.env.clone(),
            format,
            methods: t.methods.clone(),
            paths: t.paths.clone(),
        };
        // Everything but the secret is checked now, with a stand-in value.
        match conf.credential("x") {
            Ok(cred) => Ok(CredentialConf {
                host: cred.host().to_string(),
                ..conf
            }),
            Err(e) => Err(self.doc.err_at(
                c,
                format!("credential: {e}"),
                "host: a host name (no IP, no wildcard); header: a header name (not Host, Proxy-*, hop-by-hop or framing); format: visible characters; methods: e.g. \"GET\"; paths: prefixes starting with /",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{load, Flags, Layer, LoadInput, Paths};

    fn load_with(user: &str, project: &str) -> Result<crate::Config, crate::ConfigError> {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("home");
        let ws = d.path().join("ws");
        std::fs::create_dir_all(home.join(".config/cordon")).unwrap();
        std::fs::create_dir_all(ws.join(".cordon")).unwrap();
        std::fs::write(home.join(".config/cordon/config.toml"), user).unwrap();
        std::fs::write(ws.join(".cordon/config.toml"), project).unwrap();
        let etc = d.path().join("etc");
        let vars = |k: &str| match k {
            "HOME" => Some(home.display().to_string()),
            "CORDON_ETC_DIR" => Some(etc.display().to_string()),
            _ => None,
        };
        let paths = Paths::from_env(vars);
        load(&LoadInput {
            paths: &paths,
            workspace: &ws,
            var: &|_: &str| None,
            flags: &Flags::default(),
        })
    }

    const GOOD: &str = r#"
[network]
upstream_ca_file = "~/corp.pem"

[[network.credentials]]
host = "API.GitHub.com"
env = "GITHUB_TOKEN"
format = "Bearer {}"
methods = ["GET"]
paths = ["/repos/acme/"]
"#;

    #[test]
    fn a_user_credential_is_applied_with_defaults_and_its_line() {
        let c = load_with(GOOD, "").unwrap();
        assert_eq!(c.credentials.len(), 1);
        let v = &c.credentials[0];
        assert_eq!(v.value.host, "api.github.com");
        assert_eq!(v.value.port, 443);
        assert_eq!(v.value.header, "Authorization");
        assert_eq!(v.value.env, "GITHUB_TOKEN");
        assert_eq!(v.origin.layer, Layer::User);
        assert_eq!(v.origin.line, 5);
        let ca = c.upstream_ca_file.as_ref().unwrap();
        assert!(ca.value.ends_with("home/corp.pem"), "{:?}", ca.value);
        let cred = v.value.credential("t0k").unwrap();
        assert_eq!(cred.value().expose(), "Bearer t0k");
        // Shown without any value (there is none in the config).
        let shown = crate::render_text(&c, true);
        assert!(shown.contains("GITHUB_TOKEN"), "{shown}");
    }

    #[test]
    fn a_project_credential_is_ignored_and_said() {
        let c = load_with("", GOOD).unwrap();
        assert!(c.credentials.is_empty());
        assert!(c.upstream_ca_file.is_none());
        assert!(
            c.ignored.iter().any(|i| i.contains("network.credentials")),
            "{:?}",
            c.ignored
        );
    }

    #[test]
    fn bad_credentials_name_the_file_line_and_fix() {
        for (bad, says) in [
            ("host = \"10.0.0.1\"\nenv = \"T\"", "credential host"),
            ("host = \"*.example.test\"\nenv = \"T\"", "credential host"),
            ("host = \"a.test\"\nenv = \"1T\"", "not a variable name"),
            ("host = \"a.test\"\nenv = \"PATH\"", "cordon sets"),
            ("host = \"a.test\"\nenv = \"https_proxy\"", "cordon sets"),
            ("host = \"a.test\"\nenv = \"SSL_CERT_FILE\"", "cordon sets"),
            (
                "host = \"a.test\"\nenv = \"T\"\nformat = \"x\"",
                "exactly one {}",
            ),
            (
                "host = \"a.test\"\nenv = \"T\"\nformat = \"{} {}\"",
                "exactly one {}",
            ),
            (
                "host = \"a.test\"\nenv = \"T\"\nheader = \"Host\"",
                "credential header",
            ),
            (
                "host = \"a.test\"\nenv = \"T\"\npaths = [\"x\"]",
                "path prefix",
            ),
            (
                "host = \"a.test\"\nenv = \"T\"\nformat = \"a\\r\\n{}\"",
                "control character",
            ),
            ("host = \"a.test\"\nenv = \"T\"\nport = 0", "port 0"),
            ("host = \"a.test\"", "missing field `env`"),
        ] {
            let text = format!("\n[[network.credentials]]\n{bad}\n");
            // Wrong in a project's file too: an error, not just ignored.
            for (user, project) in [(text.as_str(), ""), ("", text.as_str())] {
                let e = load_with(user, project).unwrap_err().to_string();
                assert!(e.contains(says), "{bad}: {e}");
                assert!(e.contains("config.toml:"), "{bad}: {e}");
            }
        }
        let e = load_with("[network]\nupstream_ca_file = \"corp.pem\"\n", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not absolute"), "{e}");
    }
}
