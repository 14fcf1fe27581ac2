//! `--rotate-certs` without an outage: three phases, each a rolling restart, so every pair of
//! nodes trusts each other at every moment of the change.
//!
//! 1. `trust-both`: a new CA is made and kept beside the old one; every node trusts both (the
//!    CA ConfigMap holds `ca.crt` and `ca-next.crt`), certificates still from the old CA.
//! 2. `new-certs`: node certificates are reissued by the new CA; both still trusted.
//! 3. `drop-old`: the new CA becomes the CA; the old one is no longer trusted.
//!
//! The phase reached is kept in the cluster record, so an interrupted rotation is continued by
//! the next run (with or without `--rotate-certs`) from that phase.

use anyhow::{bail, Result};

use crate::tls::{self, Ca};

/// A phase of a certificate rotation, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    TrustBoth,
    NewCerts,
    DropOld,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::TrustBoth => "trust-both",
            Phase::NewCerts => "new-certs",
            Phase::DropOld => "drop-old",
        }
    }

    pub fn parse(text: &str) -> Option<Phase> {
        [Phase::TrustBoth, Phase::NewCerts, Phase::DropOld]
            .into_iter()
            .find(|p| p.as_str() == text)
    }

    pub fn next(self) -> Option<Phase> {
        match self {
            Phase::TrustBoth => Some(Phase::NewCerts),
            Phase::NewCerts => Some(Phase::DropOld),
            Phase::DropOld => None,
        }
    }
}

/// The CAs of one phase: what the CA Secret keeps, what the nodes trust, what signs.
pub struct Cas {
    /// `ca.crt`/`ca.key`, and the next CA as `next.crt`/`next.key` during a rotation.
    pub secret: Vec<(&'static str, String)>,
    /// The CA ConfigMap's files (every one a trusted root).
    pub trusted: Vec<(&'static str, String)>,
    /// Signs the node certificates.
    pub signer: Ca,
    /// A new CA was made.
    pub new_ca: bool,
}

impl Cas {
    /// One CA, kept, trusted and signing: outside a rotation, and once it is finished.
    pub fn single(ca: Ca, new_ca: bool) -> Cas {
        Cas {
            secret: vec![
                ("ca.crt", ca.cert_pem.clone()),
                ("ca.key", ca.key_pem.clone()),
            ],
            trusted: vec![("ca.crt", ca.cert_pem.clone())],
            signer: ca,
            new_ca,
        }
    }
}

/// The CAs for `phase`, from the stored CA (`current`) and the stored next one.
pub fn cas(phase: Phase, current: Option<Ca>, next: Option<Ca>, cluster: &str) -> Result<Cas> {
    let both = |old: &Ca, new: &Ca| {
        let mut secret = vec![
            ("ca.crt", old.cert_pem.clone()),
            ("ca.key", old.key_pem.clone()),
        ];
        secret.push(("next.crt", new.cert_pem.clone()));
        secret.push(("next.key", new.key_pem.clone()));
        let trusted = vec![
            ("ca.crt", old.cert_pem.clone()),
            ("ca-next.crt", new.cert_pem.clone()),
        ];
        (secret, trusted)
    };
    match phase {
        Phase::TrustBoth | Phase::NewCerts => {
            let Some(old) = current else {
                bail!("no cluster CA to rotate from");
            };
            let (new, new_ca) = match next {
                Some(n) => (n, false),
                None if phase == Phase::TrustBoth => (tls::new_ca(cluster)?, true),
                None => bail!("the rotation's new CA is missing from the CA Secret"),
            };
            let (secret, trusted) = both(&old, &new);
            let signer = if phase == Phase::TrustBoth { old } else { new };
            Ok(Cas {
                secret,
                trusted,
                signer,
                new_ca,
            })
        }
        Phase::DropOld => {
            // Once dropped, the new CA is the stored one: re-running the phase is a no-op.
            let Some(ca) = next.or(current) else {
                bail!("no cluster CA to finish the rotation with");
            };
            Ok(Cas::single(ca, false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(n: &str) -> Ca {
        Ca {
            cert_pem: format!("cert {n}"),
            key_pem: format!("key {n}"),
        }
    }

    #[test]
    fn each_phase_trusts_what_signed_the_last() {
        let keys = |v: &[(&str, String)]| {
            v.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
        };
        let one = cas(Phase::NewCerts, Some(ca("old")), Some(ca("new")), "es").unwrap();
        assert!(one.signer == ca("new"));
        assert_eq!(
            keys(&one.trusted),
            ["ca.crt=cert old", "ca-next.crt=cert new"]
        );
        let two = cas(Phase::DropOld, Some(ca("old")), Some(ca("new")), "es").unwrap();
        assert_eq!(keys(&two.trusted), ["ca.crt=cert new"]);
        assert_eq!(keys(&two.secret), ["ca.crt=cert new", "ca.key=key new"]);
        // Re-running drop-old after it finished keeps the new CA.
        let again = cas(Phase::DropOld, Some(ca("new")), None, "es").unwrap();
        assert!(again.signer == ca("new"));
        assert!(cas(Phase::NewCerts, Some(ca("old")), None, "es").is_err());
        assert_eq!(Phase::parse("new-certs"), Some(Phase::NewCerts));
        assert_eq!(Phase::TrustBoth.next(), Some(Phase::NewCerts));
        assert_eq!(Phase::DropOld.next(), None);
    }
}
