//! Applying one config file to the configuration, following its layer's rules ([`How`]), one
//! method per section.

use std::path::{Path, PathBuf};

use cordon_net::DomainPattern;
use cordon_policy::{Loosening, Source};
use cordon_sandbox::spec::{Mode, HOME_SECRETS, PROTECTED};

use crate::schema::{expand_home, Doc, FileToml, S};
use crate::{
    mode_rank, units, Approval, Config, ConfigError, How, Layer, NetMode, Origin, Paths,
    PolicyEntry, Snapshot, Val,
};

/// Applies one parsed file to the configuration, following its layer's rules.
pub(crate) struct Applier<'a, 'b> {
    pub(crate) cfg: &'a mut Config,
    pub(crate) doc: &'b Doc<'b>,
    pub(crate) layer: Layer,
    pub(crate) how: How,
    pub(crate) paths: &'b Paths,
}

impl Applier<'_, '_> {
    pub(crate) fn origin<T>(&self, v: &S<T>) -> Origin {
        let (line, _) = self.doc.line_col(v.span().start);
        Origin {
            layer: self.layer,
            file: Some(self.doc.path.to_path_buf()),
            line,
            what: None,
        }
    }

    /// May this layer loosen `key`? Untrusted projects: no, noted as ignored. Managed: an error.
    fn loosen<T>(&mut self, v: &S<T>, key: &str) -> Result<bool, ConfigError> {
        match self.how {
            How::Full | How::Trusted => Ok(true),
            How::Untrusted => {
                self.ignore(key);
                Ok(false)
            }
            How::Managed => Err(self.doc.err_at(
                v,
                format!("`{key}` widens access"),
                "a managed file can only tighten (see [managed] for limits on the other layers); remove it",
            )),
        }
    }

    /// Keys only the system, user and managed layers may set, never a project (even trusted).
    pub(crate) fn personal<T>(&mut self, v: &S<T>, key: &str) -> Result<bool, ConfigError> {
        match self.how {
            How::Full => Ok(true),
            How::Managed => self.loosen(v, key),
            How::Trusted | How::Untrusted => {
                self.ignore(key);
                Ok(false)
            }
        }
    }

    fn ignore(&mut self, key: &str) {
        self.cfg.ignored.push(key.to_string());
    }

    fn path(&self, s: &str) -> PathBuf {
        let p = expand_home(s, &self.paths.home);
        if p.is_relative() {
            self.cfg.project.root.join(p)
        } else {
            p
        }
    }

    fn strings(&self, list: &[S<String>], key: &str) -> Result<(), ConfigError> {
        for s in list {
            if s.get_ref().trim().is_empty() {
                return Err(self
                    .doc
                    .err_at(s, format!("empty string in `{key}`"), "remove it"));
            }
        }
        Ok(())
    }

    /// Applies the file, section by section (each its own method below: adding a key touches
    /// its section only).
    pub(crate) fn apply(
        &mut self,
        f: FileToml,
        snap: Option<&Snapshot>,
    ) -> Result<(), ConfigError> {
        self.top(&f)?;
        self.hook(&f)?;
        self.filesystem(&f)?;
        self.env(&f)?;
        self.network(&f)?;
        self.credentials(&f)?;
        self.limits(&f)?;
        self.policy(&f, snap)?;
        self.audit(&f)?;
        self.caches(&f.caches)?;
        self.managed(f)
    }

    /// A domain pattern from this file (the error names its line).
    fn domain(&self, d: &S<String>) -> Result<DomainPattern, ConfigError> {
        d.get_ref().parse().map_err(|e: cordon_net::Error| {
            self.doc.err_at(
                d,
                e,
                "write a name, *.suffix or an address, with an optional :PORT",
            )
        })
    }

    /// The top-level keys: mode, approval, approver, approver_timeout (and a misplaced
    /// [managed] table).
    fn top(&mut self, f: &FileToml) -> Result<(), ConfigError> {
        let tighten_only = matches!(self.how, How::Untrusted | How::Managed);
        if let Some(m) = &f.managed {
            if self.how != How::Managed {
                return Err(self.doc.err_at(
                    m,
                    "a [managed] table outside the managed file",
                    &format!(
                        "it is only read from {}; move it there (as root) or remove it",
                        self.paths.managed_file().display()
                    ),
                ));
            }
        }
        if let Some(m) = &f.mode {
            let mode: Mode = m
                .get_ref()
                .parse()
                .map_err(|e: String| self.doc.err_at(m, e, "use one of the names listed"))?;
            let cur = self.cfg.mode.value;
            if !tighten_only || mode_rank(mode) < mode_rank(cur) {
                self.cfg.mode = Val::new(mode, self.origin(m));
            } else if mode_rank(mode) > mode_rank(cur) && self.how == How::Untrusted {
                self.ignore("mode");
            }
        }
        if let Some(a) = &f.approval {
            let ap: Approval = a
                .get_ref()
                .parse()
                .map_err(|e: String| self.doc.err_at(a, e, "use one of the names listed"))?;
            if self.how == How::Managed {
                return Err(self.doc.err_at(
                    a,
                    "`approval` in the managed file",
                    "set [managed] allowed_approvals = [..] instead",
                ));
            }
            if self.loosen(a, "approval")? {
                self.cfg.approval = Val::new(ap, self.origin(a));
            }
        }
        if let Some(a) = &f.approver {
            if a.get_ref().is_empty() || a.get_ref()[0].trim().is_empty() {
                return Err(self.doc.err_at(
                    a,
                    "`approver` is empty",
                    "give the command and its arguments, e.g. approver = [\"/usr/local/bin/approve\", \"--json\"]",
                ));
            }
            if self.how == How::Managed || self.personal(a, "approver")? {
                self.cfg.approver = Some(Val::new(a.get_ref().clone(), self.origin(a)));
            }
        }
        if let Some(v) = &f.approver_timeout {
            let ms = match v.get_ref() {
                toml::Value::Integer(i) if *i > 0 => (*i as u64).saturating_mul(1000),
                toml::Value::String(s) => units::parse_duration_ms(s).map_err(|e| {
                    self.doc
                        .err_at(v, e, "write e.g. approver_timeout = \"30s\"")
                })?,
                _ => {
                    return Err(self.doc.err_at(
                        v,
                        "`approver_timeout` must be a positive number of seconds or a duration",
                        "write e.g. approver_timeout = \"30s\"",
                    ))
                }
            };
            if self.how == How::Managed || self.personal(v, "approver_timeout")? {
                self.cfg.approver_timeout_ms = Some(Val::new(ms, self.origin(v)));
            }
        }
        Ok(())
    }

    /// [hook]: what agents' hooks say and do for unknown tools.
    fn hook(&mut self, f: &FileToml) -> Result<(), ConfigError> {
        if let Some(c) = &f.hook.context {
            // Not a permission: any layer that applies in full may set it.
            if matches!(self.how, How::Full | How::Trusted) {
                self.cfg.hook_context = Val::new(*c.get_ref(), self.origin(c));
            }
        }
        if let Some(u) = &f.hook.unknown_tool {
            let d = match u.get_ref().as_str() {
                "allow" => cordon_policy::Decision::Allow,
                "ask" => cordon_policy::Decision::Ask,
                "deny" => cordon_policy::Decision::Deny,
                other => {
                    return Err(self.doc.err_at(
                        u,
                        format!("unknown decision '{other}' for `unknown_tool`"),
                        "use allow, ask or deny",
                    ))
                }
            };
            // Stricter is always taken; looser only where a layer may loosen.
            if d >= self.cfg.hook_unknown_tool.value || self.loosen(u, "hook.unknown_tool")? {
                self.cfg.hook_unknown_tool = Val::new(d, self.origin(u));
            }
        }
        Ok(())
    }

    /// [filesystem]: writable roots, secrets and protected paths, and removals from the
    /// built-in lists.
    fn filesystem(&mut self, f: &FileToml) -> Result<(), ConfigError> {
        let fs = &f.filesystem;
        for (list, key) in [
            (&fs.writable, "filesystem.writable"),
            (&fs.read_secret, "filesystem.read_secret"),
            (&fs.secret, "filesystem.secret"),
            (&fs.protected, "filesystem.protected"),
            (&fs.remove_secret, "filesystem.remove_secret"),
            (&fs.remove_protected, "filesystem.remove_protected"),
        ] {
            self.strings(list, key)?;
        }
        for w in &fs.writable {
            if self.loosen(w, "filesystem.writable")? {
                let p = self.path(w.get_ref());
                self.cfg.writable.push(Val::new(p, self.origin(w)));
            }
        }
        for w in &fs.read_secret {
            if self.loosen(w, "filesystem.read_secret")? {
                let p = self.path(w.get_ref());
                self.cfg.read_secret.push(Val::new(p, self.origin(w)));
            }
        }
        for s in &fs.secret {
            // Relative: in every writable root (like `.env`), so not joined here.
            let p = expand_home(s.get_ref(), &self.paths.home);
            self.cfg.secrets.push(Val::new(p, self.origin(s)));
        }
        for s in &fs.protected {
            let p = expand_home(s.get_ref(), &self.paths.home);
            self.cfg.protected.push(Val::new(p, self.origin(s)));
        }
        for r in &fs.remove_secret {
            let name = r.get_ref().trim_end_matches('/');
            let name = name.strip_prefix("~/").unwrap_or(name);
            if !HOME_SECRETS.contains(&name) {
                let hint = match units::did_you_mean(name, HOME_SECRETS) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("expected one of {}", HOME_SECRETS.join(", ")),
                };
                return Err(self.doc.err_at(
                    r,
                    format!("`{name}` is not a built-in secret path"),
                    &hint,
                ));
            }
            if self.personal(r, "filesystem.remove_secret")? {
                self.cfg
                    .remove_secrets
                    .push(Val::new(name.to_string(), self.origin(r)));
            }
        }
        for r in &fs.remove_protected {
            let name = r.get_ref().trim_end_matches('/');
            let names: Vec<&str> = PROTECTED.iter().map(|(n, _)| *n).collect();
            if !names.contains(&name) {
                let hint = match units::did_you_mean(name, &names) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("expected one of {}", names.join(", ")),
                };
                return Err(self.doc.err_at(
                    r,
                    format!("`{name}` is not a built-in protected path"),
                    &hint,
                ));
            }
            if name == ".cordon" {
                return Err(self.doc.err_at(
                    r,
                    "`.cordon` cannot be unprotected",
                    "it holds the project's config, which trust is bound to; remove this entry",
                ));
            }
            if self.personal(r, "filesystem.remove_protected")? {
                self.cfg
                    .remove_protected
                    .push(Val::new(name.to_string(), self.origin(r)));
            }
        }
        if let Some(v) = &fs.scan_limit {
            if *v.get_ref() == 0 {
                return Err(self.doc.err_at(
                    v,
                    "`filesystem.scan_limit` must be at least 1",
                    "give the most files and directories cordon may read, e.g. scan_limit = 5000000",
                ));
            }
            // How much cordon reads is the user's (or the administrator's) business, not a
            // project's: a project could only make runs refuse, or slow.
            match self.how {
                How::Full | How::Managed => {
                    self.cfg.scan_limit = Some(Val::new(*v.get_ref(), self.origin(v)))
                }
                How::Trusted | How::Untrusted => self.ignore("filesystem.scan_limit"),
            }
        }
        Ok(())
    }

    /// [env]: variables passed through.
    fn env(&mut self, f: &FileToml) -> Result<(), ConfigError> {
        self.strings(&f.env.pass, "env.pass")?;
        self.strings(&f.env.secret, "env.secret")?;
        for e in &f.env.pass {
            if self.loosen(e, "env.pass")? {
                self.cfg
                    .env_pass
                    .push(Val::new(e.get_ref().clone(), self.origin(e)));
            }
        }
        for e in &f.env.secret {
            if self.loosen(e, "env.secret")? {
                self.cfg
                    .env_secret
                    .push(Val::new(e.get_ref().clone(), self.origin(e)));
            }
        }
        Ok(())
    }

    /// [network]: the mode, allowed and denied domains, local addresses, pinned names.
    fn network(&mut self, f: &FileToml) -> Result<(), ConfigError> {
        let net = &f.network;
        if let Some(m) = &net.mode {
            let mode = match m.get_ref().as_str() {
                "none" => NetMode::None,
                "full" => NetMode::Full,
                other => {
                    return Err(self.doc.err_at(
                        m,
                        format!("unknown network mode {other:?}"),
                        "expected \"none\" or \"full\"",
                    ))
                }
            };
            if mode == NetMode::None || self.loosen(m, "network.mode")? {
                self.cfg.network = Val::new(mode, self.origin(m));
            }
        }
        let mut allow = Vec::new();
        for d in &net.allow {
            allow.push((self.domain(d)?, d));
        }
        let mut deny = Vec::new();
        for d in &net.deny {
            deny.push(Val::new(self.domain(d)?, self.origin(d)));
        }
        for (p, d) in allow {
            if self.loosen(d, "network.allow")? {
                self.cfg.allow_domains.push(Val::new(p, self.origin(d)));
            }
        }
        self.cfg.deny_domains.extend(deny);
        if let Some(l) = &net.allow_local {
            if !*l.get_ref() || self.loosen(l, "network.allow_local")? {
                self.cfg.allow_local = Val::new(*l.get_ref(), self.origin(l));
            }
        }
        if let Some(l) = &net.allow_ech {
            if !*l.get_ref() || self.loosen(l, "network.allow_ech")? {
                self.cfg.allow_ech = Val::new(*l.get_ref(), self.origin(l));
            }
        }
        for r in &net.resolve {
            let v = cordon_net::parse_resolve(r.get_ref()).map_err(|e| {
                self.doc
                    .err_at(r, e, "write NAME:ADDR, e.g. \"api.test:127.0.0.1\"")
            })?;
            if self.loosen(r, "network.resolve")? {
                self.cfg.resolve.push(Val::new(v, self.origin(r)));
            }
        }
        Ok(())
    }

    /// [limits]: lower is tighter.
    fn limits(&mut self, f: &FileToml) -> Result<(), ConfigError> {
        let tighten_only = matches!(self.how, How::Untrusted | How::Managed);
        let lim = &f.limits;
        let positive = |v: &S<u64>, key: &str| -> Result<u64, ConfigError> {
            match *v.get_ref() {
                0 => Err(self.doc.err_at(
                    v,
                    format!("`{key}` must be at least 1"),
                    "give a positive number",
                )),
                n => Ok(n),
            }
        };
        let mut limits: Vec<(&'static str, u64, Origin)> = Vec::new();
        if let Some(v) = &lim.nproc {
            limits.push(("nproc", positive(v, "limits.nproc")?, self.origin(v)));
        }
        if let Some(v) = &lim.nofile {
            limits.push(("nofile", positive(v, "limits.nofile")?, self.origin(v)));
        }
        if let Some(v) = &lim.memory {
            let n = match v.get_ref() {
                toml::Value::Integer(i) if *i > 0 => *i as u64,
                toml::Value::String(s) => units::parse_bytes(s)
                    .map_err(|e| self.doc.err_at(v, e, "write bytes, or 512M, 4G"))?,
                _ => {
                    return Err(self.doc.err_at(
                        v,
                        "`limits.memory` must be a positive number of bytes or a size",
                        "write e.g. memory = \"4G\"",
                    ))
                }
            };
            limits.push(("memory", n, self.origin(v)));
        }
        for (key, n, origin) in limits {
            let cur = match key {
                "nproc" => &mut self.cfg.nproc,
                "nofile" => &mut self.cfg.nofile,
                _ => &mut self.cfg.memory,
            };
            if !tighten_only || n < cur.value {
                *cur = Val::new(n, origin);
            } else if n > cur.value && self.how == How::Untrusted {
                self.cfg.ignored.push(format!("limits.{key}"));
            }
        }
        if let Some(v) = &lim.timeout {
            let ms = match v.get_ref() {
                toml::Value::Integer(i) if *i > 0 => (*i as u64).saturating_mul(1000),
                toml::Value::String(s) => units::parse_duration_ms(s)
                    .map_err(|e| self.doc.err_at(v, e, "write e.g. timeout = \"30m\""))?,
                _ => {
                    return Err(self.doc.err_at(
                        v,
                        "`limits.timeout` must be a positive number of seconds or a duration",
                        "write e.g. timeout = \"30m\"",
                    ))
                }
            };
            let cur = self.cfg.timeout_ms.as_ref().map(|t| t.value);
            if !tighten_only || cur.is_none_or(|c| ms < c) {
                self.cfg.timeout_ms = Some(Val::new(ms, self.origin(v)));
            } else if cur.is_some_and(|c| ms > c) && self.how == How::Untrusted {
                self.ignore("limits.timeout");
            }
        }
        Ok(())
    }

    /// [policy]: rule files and inline rules (a project's only from its .cordon/, as trusted).
    fn policy(&mut self, f: &FileToml, snap: Option<&Snapshot>) -> Result<(), ConfigError> {
        let loosening = match self.how {
            How::Full | How::Trusted => Loosening::Keep,
            How::Untrusted => Loosening::Drop,
            How::Managed => Loosening::Refuse("a managed file".into()),
        };
        let base = self.doc.path.parent().unwrap_or(Path::new("/"));
        for p in &f.policy.files {
            let rel = expand_home(p.get_ref(), &self.paths.home);
            let file = base.join(&rel);
            let text = if self.layer == Layer::Project {
                // Only files under .cordon/ (covered by the trust hash), read from the snapshot.
                let inside: Option<PathBuf> = if rel.is_relative()
                    && rel
                        .components()
                        .all(|c| matches!(c, std::path::Component::Normal(_)))
                {
                    Some(rel.clone())
                } else {
                    None
                };
                let Some(inside) = inside else {
                    return Err(self.doc.err_at(
                        p,
                        format!("policy file {:?} is outside .cordon/", p.get_ref()),
                        "a project's policy files must lie in its .cordon/ directory (covered by its trust); move it there",
                    ));
                };
                match snap.and_then(|s| s.files.get(&inside)) {
                    Some(b) => String::from_utf8(b.clone()).map_err(|_| {
                        self.doc
                            .err_at(p, "the policy file is not valid UTF-8", "save it as UTF-8")
                    })?,
                    None => std::fs::read_to_string(&file).map_err(|e| {
                        self.doc.err_at(
                            p,
                            format!("cannot read policy file {}: {e}", file.display()),
                            "fix the path",
                        )
                    })?,
                }
            } else {
                std::fs::read_to_string(&file).map_err(|e| {
                    self.doc.err_at(
                        p,
                        format!("cannot read policy file {}: {e}", file.display()),
                        "fix the path (relative paths are relative to this file's directory)",
                    )
                })?
            };
            self.cfg.policy.push(PolicyEntry {
                what: file.display().to_string(),
                source: Source {
                    origin: file,
                    text,
                    embedded: false,
                    loosening: loosening.clone(),
                },
            });
        }
        if !f.policy.rule.is_empty()
            || !f.policy.disable_builtins.is_empty()
            || !f.policy.tool.is_empty()
        {
            for r in &f.policy.rule {
                if !r.get_ref().contains_key("decision") {
                    return Err(self.doc.err_at(
                        r,
                        "a [[policy.rule]] without `decision`",
                        "add decision = \"allow\", \"ask\" or \"deny\"",
                    ));
                }
            }
            self.cfg.policy.push(PolicyEntry {
                what: format!("inline rules of {}", self.doc.path.display()),
                source: Source {
                    origin: self.doc.path.to_path_buf(),
                    text: self.doc.text.to_string(),
                    embedded: true,
                    loosening: loosening.clone(),
                },
            });
        }
        Ok(())
    }

    /// [audit]: where the log goes (not a project's to say).
    fn audit(&mut self, f: &FileToml) -> Result<(), ConfigError> {
        if let Some(d) = &f.audit.dir {
            let p = expand_home(d.get_ref(), &self.paths.home);
            if !p.is_absolute() {
                return Err(self.doc.err_at(
                    d,
                    "`audit.dir` must be an absolute path (or start with ~/)",
                    "write the full path",
                ));
            }
            if self.how == How::Managed || self.personal(d, "audit.dir")? {
                self.cfg.audit_dir = Some(Val::new(p, self.origin(d)));
            }
        }
        Ok(())
    }

    /// `[caches]`: turning caches off and removing entries tighten (any layer); adding entries
    /// and turning them back on loosen.
    fn caches(&mut self, c: &crate::schema::CachesToml) -> Result<(), ConfigError> {
        use cordon_sandbox::caches::known;
        if let Some(e) = &c.enabled {
            if !*e.get_ref() || self.loosen(e, "caches.enabled")? {
                self.cfg.caches_enabled = Val::new(*e.get_ref(), self.origin(e));
            }
        }
        for r in &c.remove {
            let name = r.get_ref().trim();
            if !known::is_known_name(name) {
                let names = known::names();
                let hint = match units::did_you_mean(name, &names) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("expected one of {}", names.join(", ")),
                };
                return Err(self
                    .doc
                    .err_at(r, format!("`{name}` is not a known cache"), &hint));
            }
            self.cfg
                .caches_remove
                .push(Val::new(name.to_string(), self.origin(r)));
        }
        for a in &c.add {
            let v = a.get_ref();
            let name_ok = !v.name.is_empty()
                && v.name.len() <= 64
                && v.name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
                })
                && !v.name.starts_with('.');
            if !name_ok {
                return Err(self.doc.err_at(
                    a,
                    format!(
                        "cache name {:?}: use lower-case letters, digits, `-`, `_`, `.`",
                        v.name
                    ),
                    "e.g. name = \"deno\"",
                ));
            }
            let p = expand_home(&v.path, &self.paths.home);
            if !p.is_absolute() {
                return Err(self.doc.err_at(
                    a,
                    format!(
                        "cache path {:?} must be absolute (or start with ~/)",
                        v.path
                    ),
                    "write the full path",
                ));
            }
            if let Some(e) = &v.env {
                let ok = !e.is_empty()
                    && !e.starts_with(|c: char| c.is_ascii_digit())
                    && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !ok {
                    return Err(self.doc.err_at(
                        a,
                        format!("`env` {e:?} is not a variable name"),
                        "e.g. env = \"DENO_DIR\"",
                    ));
                }
            }
            if self.loosen(a, "caches.add")? {
                self.cfg.caches_add.push(Val::new(
                    cordon_sandbox::caches::Extra {
                        name: v.name.clone(),
                        path: p,
                        var: v.env.clone(),
                    },
                    self.origin(a),
                ));
            }
        }
        Ok(())
    }

    /// [managed]: what the managed file imposes on every other layer.
    fn managed(&mut self, f: FileToml) -> Result<(), ConfigError> {
        if let Some(m) = f.managed {
            let m = m.into_inner();
            if let Some(list) = &m.allowed_modes {
                let mut v = Vec::new();
                for s in list.get_ref() {
                    v.push(
                        s.get_ref()
                            .parse::<Mode>()
                            .map_err(|e| self.doc.err_at(s, e, "use one of the names listed"))?,
                    );
                }
                if v.is_empty() {
                    return Err(self.doc.err_at(
                        list,
                        "`allowed_modes` is empty",
                        "allow at least one mode, e.g. [\"read-only\"]",
                    ));
                }
                self.cfg.managed.allowed_modes = Some(Val::new(v, self.origin(list)));
            }
            if let Some(list) = &m.allowed_approvals {
                let mut v = Vec::new();
                for s in list.get_ref() {
                    v.push(
                        s.get_ref()
                            .parse::<Approval>()
                            .map_err(|e| self.doc.err_at(s, e, "use one of the names listed"))?,
                    );
                }
                if v.is_empty() {
                    return Err(self.doc.err_at(
                        list,
                        "`allowed_approvals` is empty",
                        "allow at least one approval mode, e.g. [\"untrusted\"]",
                    ));
                }
                self.cfg.managed.allowed_approvals = Some(Val::new(v, self.origin(list)));
            }
            for d in &m.never_allow_domains {
                let p = self.domain(d)?;
                let v = Val::new(p, self.origin(d));
                self.cfg.managed.never_allow_domains.push(v.clone());
                self.cfg.deny_domains.push(v);
            }
            fn forbid(b: &Option<S<bool>>) -> Option<&S<bool>> {
                b.as_ref().filter(|b| !*b.get_ref())
            }
            if let Some(b) = forbid(&m.allow_network_full) {
                self.cfg.managed.forbid_network_full = Some(self.origin(b));
            }
            if let Some(b) = forbid(&m.allow_local_addresses) {
                self.cfg.managed.forbid_allow_local = Some(self.origin(b));
            }
            if let Some(b) = forbid(&m.allow_read_secret) {
                self.cfg.managed.forbid_read_secret = Some(self.origin(b));
            }
            if let Some(b) = m.require_policy.as_ref().filter(|b| *b.get_ref()) {
                self.cfg.managed.require_policy = Some(self.origin(b));
            }
        }
        Ok(())
    }
}
