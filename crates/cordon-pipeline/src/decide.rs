//! Stage 2, the decision: the command policy's verdict on the command, recorded. Deny stops
//! here; allow and ask go on to the approval stage (which asks when the mode says so).

use cordon_policy::{Decision, Evaluation};

use crate::plan::Plan;
use crate::record::{self, Session};
use crate::request::Command;
use crate::{Error, Result};

/// A plan with its audit record open and the policy's evaluation (None under `--no-policy`).
pub struct Decided {
    pub plan: Plan,
    pub record: Session,
    pub eval: Option<Evaluation>,
}

impl Decided {
    pub(crate) fn new(plan: Plan, record: Session) -> Result<Decided> {
        if let Some(line) = plan.config.ignored_line() {
            errln!("cordon: {line}");
        }
        let Some(policy) = &plan.policy else {
            return Ok(Decided {
                plan,
                record,
                eval: None,
            });
        };
        let ctx = cordon_policy::Context {
            cwd: plan.spec.cwd.clone(),
            workspace: plan.spec.workspace.clone(),
            home: plan.spec.home.clone(),
        };
        let (ev, text) = match &plan.request.command {
            Command::Shell(src) => (policy.check_shell(src, &ctx), src.clone()),
            Command::Argv(_) => (
                policy.check_argv(&plan.spec.argv, &ctx),
                plan.spec.argv.join(" "),
            ),
        };
        cordon_sandbox::timing("policy decided");
        if !plan.request.dry_run {
            record.require(&record::decision(&ev, text.as_bytes()))?;
        }
        if ev.decision == Decision::Deny {
            errln!("{}", ev.summary());
            errln!("cordon: refused by the command policy (--policy FILE to change the rules, --no-policy to skip them)");
            return Err(Error::Refused(cordon_sandbox::exit::REFUSED));
        }
        if plan.request.explain {
            errln!("{}", ev.summary());
        }
        Ok(Decided {
            plan,
            record,
            eval: Some(ev),
        })
    }
}

impl Plan {
    /// Stage 2: opens the session's audit record (none for a dry run) and decides the command
    /// against the policy. Deny is refused here (126), with the reason on stderr.
    pub fn decide(self) -> Result<Decided> {
        let record = if self.request.dry_run {
            Session::none()
        } else {
            let digest = record::config_digest(&self.config, &self.request.flags.policy)?;
            record::start_run(
                self.audit_dir.as_deref(),
                &self.spec,
                digest,
                &self.probe,
                self.request.audit.agent.as_deref(),
            )?
        };
        Decided::new(self, record)
    }
}
