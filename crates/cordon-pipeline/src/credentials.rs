//! Credentials injected on egress (README "Credentials injected on egress"): what the plan and
//! the launch do with `[[network.credentials]]`.
//!
//! - The plan (`run_ca`, `sandbox_side`): the run's CA for exactly the credentials' hosts; the
//!   sandbox's environment gets the CA variables and, for each credential's variable, the
//!   placeholder `cordon-credential:<NAME>` instead of its value; the CA files go into the
//!   spec (`Trust`), written read-only by the sandbox's init.
//! - The launch (`intercept`): the secrets are read from cordon's own environment, and every
//!   one must be there: a missing or empty variable refuses the run before anything starts
//!   (a user who configured a credential expects the run not to go silently without it).
//!
//! Only when the run has the proxy network: a run without network stays without it.

use std::sync::Arc;

use cordon_config::{Config, CredentialConf, Val};
use cordon_net::tls::RunCa;
use cordon_sandbox::spec::{Injected, Trust};

use crate::{Error, Result};

/// The placeholder the sandbox sees in place of a credential's variable.
pub fn placeholder(var: &str) -> String {
    format!("cordon-credential:{var}")
}

/// The run's CA, for exactly the configured credentials' hosts; None without credentials or
/// with `--network full` (nothing is intercepted then).
pub fn run_ca(cfg: &Config) -> Result<Option<Arc<RunCa>>> {
    if cfg.credentials.is_empty() || cfg.network.value == cordon_config::NetMode::Full {
        return Ok(None);
    }
    let hosts: Vec<String> = cfg
        .credentials
        .iter()
        .map(|c| c.value.host.clone())
        .collect();
    RunCa::new(&hosts)
        .map(|ca| Some(Arc::new(ca)))
        .map_err(|e| Error::failed(format!("credentials: cannot make the run's CA: {e}")))
}

/// The system's CA bundle, as PEM (`tls::system_bundle_path`: the one the proxy's roots come
/// from too).
fn system_bundle() -> Result<Vec<u8>> {
    let path = cordon_net::tls::system_bundle_path().map_err(|e| {
        Error::failed(format!(
            "credentials: {e}; the sandbox's bundle is the system's plus the run's CA"
        ))
    })?;
    std::fs::read(path).map_err(|err| Error::Read {
        path: path.into(),
        err,
    })
}

/// With the proxy and a run CA: the CA files for the sandbox, and `env` extended with the CA
/// variables and the credentials' placeholders.
pub(crate) fn sandbox_side(
    cfg: &Config,
    ca: Option<&RunCa>,
    env: &mut Vec<(String, String)>,
) -> Result<Option<Trust>> {
    let Some(ca) = ca else {
        return Ok(None);
    };
    let mut trust = Trust::new(&system_bundle()?, ca.cert_pem().as_bytes());
    trust.credentials = cfg
        .credentials
        .iter()
        .map(|c| Injected {
            host: c.value.host.clone(),
            port: c.value.port,
            header: c.value.header.clone(),
            env: c.value.env.clone(),
        })
        .collect();
    env.extend(trust.env());
    for c in &cfg.credentials {
        if !env.iter().any(|(k, _)| *k == c.value.env) {
            env.push((c.value.env.clone(), placeholder(&c.value.env)));
        }
    }
    Ok(Some(trust))
}

/// Where a credential was configured, for messages: `file:line`.
fn origin(c: &Val<CredentialConf>) -> String {
    c.origin.to_string()
}

/// The credentials with their secrets, read through `var` (cordon's own environment). Fails
/// closed: a missing or empty variable, or a value `Credential::new` refuses, is an error
/// naming the variable and the config line, never the value.
pub fn credentials(
    cfg: &Config,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<cordon_net::Credential>> {
    let mut out = Vec::new();
    for c in &cfg.credentials {
        let name = &c.value.env;
        let secret = match var(name) {
            Some(v) if !v.trim().is_empty() => v,
            _ => {
                return Err(Error::failed(format!(
                    "credentials: the variable {name} (for {}, {}) is not set or empty in cordon's environment; \
                     refusing to run without it: set it, or remove that [[network.credentials]] entry",
                    c.value.host,
                    origin(c)
                )))
            }
        };
        let cred = c.value.credential(&secret).map_err(|e| {
            Error::failed(format!(
                "credentials: the value of {name} (for {}, {}) cannot be sent: {e}; refusing to run",
                c.value.host,
                origin(c)
            ))
        })?;
        out.push(cred);
    }
    Ok(out)
}

/// `policy` with the credentials, the run's CA and the upstream roots (the system's, plus the
/// certificates of `network.upstream_ca_file`): what the proxy needs to intercept the
/// credentials' hosts. Reads the secrets (see [`credentials`]).
pub fn intercept(
    cfg: &Config,
    ca: &Arc<RunCa>,
    policy: &mut cordon_net::NetPolicy,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<()> {
    policy.credentials = credentials(cfg, var)?;
    let mut roots =
        cordon_net::tls::system_roots().map_err(|e| Error::failed(format!("credentials: {e}")))?;
    if let Some(f) = &cfg.upstream_ca_file {
        let extra = cordon_net::tls::roots_from_pem_file(&f.value).map_err(|e| {
            Error::failed(format!(
                "credentials: network.upstream_ca_file ({}): {e}",
                f.origin
            ))
        })?;
        roots.roots.extend(extra.roots);
    }
    policy.upstream_roots = Some(Arc::new(roots));
    policy.intercept_ca = Some(ca.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholder_names_the_variable() {
        assert_eq!(
            placeholder("GITHUB_TOKEN"),
            "cordon-credential:GITHUB_TOKEN"
        );
    }
}
