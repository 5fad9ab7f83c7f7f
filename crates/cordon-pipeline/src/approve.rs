//! Stage 3, the approvals, and stage 4, the launch. The approval mode says when a person (or
//! the approver command) is asked (`approval::before_run`); what a yes grants becomes one more
//! config layer (`Config::grant`) and the spec is built again from it, with the files a grant is
//! bound to pinned. Then the spec runs (`launch.rs`); under `on-failure`, a failed run may be
//! asked about and run again (`approval::after_failure`).

use cordon_config::grants::Grants;
use cordon_config::{Approval, Config};
use cordon_sandbox::spec::{self, Mode, Pinned};
use cordon_sandbox::SandboxSpec;

use crate::approval::{self, ApprovalRecord, Before, Rerun, Settings};
use crate::decide::Decided;
use crate::plan::{load_config, parent_env};
use crate::{Error, Result};

/// A decided plan with what the approvals granted: the config and the spec that run.
pub struct Approved {
    pub decided: Decided,
    /// The config and spec with the granted layer and pins; None: the plan's, as they were.
    granted: Option<(Config, SandboxSpec)>,
    /// Every question asked and its answer (recorded in the audit log as they come).
    pub approvals: Vec<ApprovalRecord>,
    settings: Settings,
    mode: Approval,
    grants: Grants,
}

impl Decided {
    /// Stage 3: the approvals.
    pub fn approve(self) -> Result<Approved> {
        Approved::new(self)
    }
}

impl Approved {
    fn new(decided: Decided) -> Result<Approved> {
        let plan = &decided.plan;
        // The mode is the config's: --approval is one of its layers, and managed.toml may
        // forbid it.
        let settings = approval::settings_from_config(&plan.config, &plan.paths);
        let mode = settings.approval.unwrap_or(Approval::OnRequest);
        let grants = Grants::new(&plan.paths);
        let mut a = Approved {
            decided,
            granted: None,
            approvals: Vec::new(),
            settings,
            mode,
            grants,
        };
        let req = &a.decided.plan.request;
        if req.dry_run && !req.escalations.is_empty() {
            errln!("cordon: note: --dry-run asks nothing: the spec is shown without the --escalate requests");
        } else if !req.dry_run {
            let planned = a.decided.plan.spec.clone();
            let ok = a.ask_before(&planned, false)?;
            if !ok.escalations.is_empty() || !ok.pins.is_empty() {
                let g =
                    a.with_approved(ok, &planned, &mut |a, planned| a.ask_before(planned, true))?;
                a.granted = Some(g);
            }
        }
        cordon_sandbox::timing("approval decided");
        Ok(a)
    }

    /// The config that runs.
    pub fn config(&self) -> &Config {
        self.granted
            .as_ref()
            .map_or(&self.decided.plan.config, |(c, _)| c)
    }

    /// The spec that runs.
    pub fn spec(&self) -> &SandboxSpec {
        self.granted
            .as_ref()
            .map_or(&self.decided.plan.spec, |(_, s)| s)
    }

    fn ctx<'a>(&'a self, spec: &'a SandboxSpec, skip_grants: bool) -> approval::Ctx<'a> {
        approval::Ctx {
            mode: self.mode,
            settings: &self.settings,
            spec,
            eval: self.decided.eval.as_ref(),
            escalations: &self.decided.plan.request.escalations,
            skip_grants,
            grants: &self.grants,
        }
    }

    fn keep(&mut self, recs: Vec<ApprovalRecord>) {
        for r in &recs {
            self.decided.record.record_approval(r);
        }
        self.approvals.extend(recs);
    }

    /// Before the sandbox starts; Err(Refused) when the answer is no.
    fn ask_before(
        &mut self,
        planned: &SandboxSpec,
        skip_grants: bool,
    ) -> Result<approval::Approved> {
        let (before, recs) = approval::before_run(&self.ctx(planned, skip_grants));
        self.keep(recs);
        match before {
            Before::Refuse(code) => Err(Error::Refused(code)),
            Before::Run(ok) => Ok(ok),
        }
    }

    /// The config and the spec for a run with what was approved. A pinned file that another
    /// live sandboxed run can write (`spec.pin_conflicts`) cannot be held to its approved bytes:
    /// an answer from a remembered grant is then not used (`ask_again` asks without grants), and
    /// a fresh answer runs this once without pins, as an "allow once" would.
    fn with_approved(
        &mut self,
        ok: approval::Approved,
        asked_about: &SandboxSpec,
        ask_again: &mut dyn FnMut(&mut Approved, &SandboxSpec) -> Result<approval::Approved>,
    ) -> Result<(Config, SandboxSpec)> {
        let (cfg, spec) = self.build(&ok, &ok.pins)?;
        let Some((file, pid)) = spec.pin_conflicts.first().cloned() else {
            return Ok((cfg, spec));
        };
        let ok = match &ok.grant {
            Some(id) => {
                errln!(
                    "cordon: the remembered grant {id} is not used: {} can be changed by another sandboxed run (pid {pid}) while this one runs; asking instead",
                    file.display()
                );
                ask_again(self, asked_about)?
            }
            None => ok,
        };
        if !ok.pins.is_empty() {
            errln!(
                "cordon: note: {} can be changed by another sandboxed run (pid {pid}): this run is not held to the approved content (allowed once)",
                file.display()
            );
        }
        self.build(&ok, &[])
    }

    /// The plan's config with the granted layer, and the spec built from it (the managed file
    /// still has the last word on what was granted).
    fn build(&self, ok: &approval::Approved, pins: &[Pinned]) -> Result<(Config, SandboxSpec)> {
        let plan = &self.decided.plan;
        let mut cfg = plan.config.clone();
        cfg.grant(&ok.layer()?)?;
        let req = plan.sandbox_request(&cfg, pins)?;
        let spec = spec::build(&req, &parent_env(), &plan.probe)?;
        Ok((cfg, spec))
    }

    /// For a rerun outside the sandbox (a person said yes after a failure): the config again
    /// with the mode `danger-full-access` and no `--allow-domain` as flags (the managed file may
    /// still forbid it).
    fn unsandboxed(&self) -> Result<(Config, SandboxSpec)> {
        let plan = &self.decided.plan;
        let mut flags = plan.request.flags.clone();
        flags.mode = Some(Mode::DangerFullAccess);
        flags.allow_domain.clear();
        let cfg = load_config(&plan.paths, &plan.workspace, &flags)?;
        let req = plan.sandbox_request(&cfg, &[])?;
        let spec = spec::build(&req, &parent_env(), &plan.probe)?;
        Ok((cfg, spec))
    }

    /// Stage 4: runs the spec (or prints it, for a dry run); under on-failure a failed run may
    /// be asked about and run again. The exit status; the exec and exit records go to the log.
    pub fn launch(mut self) -> Result<u8> {
        let plan = &self.decided.plan;
        let started = plan.started;
        let mut code = crate::launch::run(
            self.config(),
            self.spec(),
            plan,
            &self.decided.record,
            started,
        );
        if code != 0 && self.mode == Approval::OnFailure && !plan.request.dry_run {
            code = self.after_failure(code)?;
        }
        // The audit log records these (who answered, what was granted); --explain prints them.
        if self.decided.plan.request.explain {
            for r in &self.approvals {
                errln!(
                    "cordon: approval: {}",
                    serde_json::to_string(r).unwrap_or_default()
                );
            }
        }
        Ok(code)
    }

    /// Under on-failure, after the sandboxed run exited with `code`: the question, and the
    /// rerun's status (or `code` when there is none).
    fn after_failure(&mut self, code: u8) -> Result<u8> {
        let ran = self.spec().clone();
        let ask = |a: &mut Approved, ran: &SandboxSpec, skip: bool| {
            let (rerun, recs) = approval::after_failure(&a.ctx(ran, skip), code);
            a.keep(recs);
            rerun
        };
        let rerun = ask(self, &ran, false);
        if matches!(rerun, Rerun::No) {
            return Ok(code);
        }
        errln!("cordon: rerunning {}", approval::display_argv(&ran.argv));
        let granted = match rerun {
            Rerun::WithEscalations(ok) => {
                let again = &mut |a: &mut Approved, ran: &SandboxSpec| match ask(a, ran, true) {
                    Rerun::WithEscalations(ok) => Ok(ok),
                    _ => Err(Error::Refused(code)),
                };
                match self.with_approved(ok, &ran, again) {
                    Ok(g) => g,
                    Err(Error::Refused(c)) => return Ok(c),
                    Err(e) => return Err(e),
                }
            }
            _ => self.unsandboxed()?,
        };
        self.granted = Some(granted);
        let plan = &self.decided.plan;
        Ok(crate::launch::run(
            self.config(),
            self.spec(),
            plan,
            &self.decided.record,
            std::time::Instant::now(),
        ))
    }
}
