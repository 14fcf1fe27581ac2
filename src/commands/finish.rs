//! How a planned run finishes: the preflight's refusal, the certificate rotation under way,
//! the dry run (text or JSON), confirmation, execution and the summary.

use anyhow::Result;

use crate::execute::Executor;
use crate::lock::ClusterLock;
use crate::manifest::Manifest;
use crate::plan::{self, Observed, Plan};
use crate::secrets;

use super::confirm::{confirm_disk_deletion, summary};
use super::restore;
use super::session::{Run, Session};

impl Session<'_> {
    pub(super) fn finish(
        &self,
        mut plan: Plan,
        observed: &Observed,
        run: Run,
        lock: Option<&ClusterLock>,
    ) -> Result<()> {
        let Run {
            dry_run,
            yes,
            rotate_certs,
            wait,
            rolling,
            roll_timeout,
            detach_timeout,
            json,
        } = run;
        plan.warnings.splice(0..0, self.notes.iter().cloned());
        self.check_refusal()?;
        // A rotation under way is continued from its phase; --rotate-certs starts one (in
        // phases when nodes roll, else the CA and certificates are replaced at once).
        let recorded = observed
            .record
            .as_ref()
            .and_then(|r| crate::rotation::Phase::parse(&r.rotation));
        let rolling = rolling && plan.restart.rolling;
        let rotation = if plan.apply.is_empty() || !self.spec.security.tls {
            None
        } else {
            // A stored CA esk cannot sign with cannot be trusted alongside a new one, so
            // its rotation replaces the CA and every certificate in one step.
            let usable = secrets::check_ca(&self.spec, &observed.secrets, false).is_ok();
            recorded
                .or((rotate_certs && rolling && usable)
                    .then_some(crate::rotation::Phase::TrustBoth))
        };
        plan.restart.rotation = rotation.map(|p| p.as_str().to_string());
        if let (Some(p), false) = (recorded, rotate_certs) {
            plan.warnings.push(format!(
                "continuing the certificate rotation from phase {}",
                p.as_str()
            ));
        }
        if !plan.apply.is_empty() {
            secrets::check_ca(&self.spec, &observed.secrets, rotate_certs)?;
        }
        if dry_run {
            if json {
                println!("{:#}", plan::json::document(&self.spec, &plan, None));
            } else {
                print!("{plan}");
                println!("Dry run: nothing was changed.");
            }
            return Ok(());
        }
        for w in &plan.warnings {
            self.report.warn(w);
        }
        confirm_disk_deletion(&plan, yes)?;
        let restore = |m: &[Manifest]| match &self.restore {
            Some(b) => restore::run_restore(&self.kubectl, &self.spec, b, m),
            None => Ok(()),
        };
        let executor = Executor {
            spec: &self.spec,
            disks: self.disks.as_ref(),
            kubectl: &self.kubectl,
            templates: &self.templates,
            report: self.report,
            zone: self.zone.clone(),
            secrets: &observed.secrets,
            rotate_certs: rotate_certs && rotation.is_none(),
            wait,
            detach_timeout,
            lock,
            live: &observed.live,
            rolling,
            roll_timeout,
            rotation,
            before_apply: self.restore.is_some().then_some(&restore as _),
        };
        let outcome = executor.run(&plan)?;
        if json {
            println!(
                "{:#}",
                plan::json::document(&self.spec, &plan, Some(&outcome))
            );
        } else {
            println!("{}", summary(&self.spec, &plan, &outcome));
        }
        Ok(())
    }
}
