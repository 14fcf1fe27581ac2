//! Certificates and secrets for a secure-by-default EventStoreDB / KurrentDB cluster.
//!
//! Each node presents a certificate signed by a per-cluster CA. All node certificates carry the
//! same CN, [`NODE_COMMON_NAME`], which the nodes are told to expect through
//! `CERTIFICATE_RESERVED_NODE_COMMON_NAME`; the SANs carry each node's own DNS names.
//!
//! Private keys only leave this module inside [`Ca`] and [`NodeCert`], whose `Debug` output
//! redacts them, so a stray `{:?}` in a log or an error cannot leak one.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose,
};

/// The CN every node certificate carries; pass it to the nodes as
/// `CERTIFICATE_RESERVED_NODE_COMMON_NAME`.
pub const NODE_COMMON_NAME: &str = "eventstore-node";

/// Long enough to outlive the cluster; node certificates are the ones that get rotated.
const CA_VALIDITY_DAYS: u64 = 10 * 365;
/// Short enough to be rotated, and within the 825 days some TLS clients accept for a leaf.
const NODE_VALIDITY_DAYS: u64 = 2 * 365;
/// Certificates start an hour in the past so a node whose clock is a little behind the machine
/// running esk does not reject its peers' certificates as not yet valid.
const CLOCK_SKEW: Duration = Duration::from_secs(60 * 60);

/// Without 0/O/o and 1/I/l, so a password read off a screen or spoken can be typed back.
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
/// 32 characters from 56 is about 185 bits of entropy.
const PASSWORD_LEN: usize = 32;

/// A cluster CA: PEM certificate and PEM PKCS#8 private key.
#[derive(Clone, PartialEq, Eq)]
pub struct Ca {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A node's certificate (PEM) and PEM PKCS#8 private key, signed by the cluster [`Ca`].
#[derive(Clone, PartialEq, Eq)]
pub struct NodeCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted(f, "Ca", &self.cert_pem)
    }
}

impl fmt::Debug for NodeCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted(f, "NodeCert", &self.cert_pem)
    }
}

fn redacted(f: &mut fmt::Formatter<'_>, name: &str, cert_pem: &str) -> fmt::Result {
    f.debug_struct(name)
        .field("cert_pem", &cert_pem)
        .field("key_pem", &"<redacted>")
        .finish()
}

/// Creates a self-signed ECDSA P-256 CA for `cluster_name`, valid for ten years.
pub fn new_ca(cluster_name: &str) -> Result<Ca> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(&format!("esk {cluster_name} CA"));
    // pathlen 0: this CA signs node certificates only, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, CA_VALIDITY_DAYS)?;
    let key = KeyPair::generate().context("generating the CA key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the CA certificate")?;
    Ok(Ca {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Issues a node certificate signed by `ca`, valid for about two years (never past the CA).
///
/// The SANs are `dns_names` (an entry that parses as an IP address becomes an IP SAN) plus
/// `localhost` and `127.0.0.1`, so tools run inside the pod can connect too. The certificate is
/// good for both server and client authentication because nodes also dial each other.
pub fn node_cert(ca: &Ca, dns_names: &[String]) -> Result<NodeCert> {
    let (ca_cert, ca_key) = load_ca(ca)?;

    let mut sans = dns_names.to_vec();
    for extra in ["localhost", "127.0.0.1"] {
        if !sans.iter().any(|s| s == extra) {
            sans.push(extra.to_string());
        }
    }
    let mut params = CertificateParams::new(sans).context("invalid node certificate SAN")?;
    params.distinguished_name = common_name(NODE_COMMON_NAME);
    // Write CA:FALSE explicitly rather than omitting basicConstraints.
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    // The authority key identifier lets verifiers (.NET's X509Chain among them) find the CA
    // directly instead of matching by name.
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, NODE_VALIDITY_DAYS)?;
    // A leaf outliving its CA would fail validation anyway; say so in the certificate.
    params.not_after = params.not_after.min(ca_cert.params().not_after);

    // EventStoreDB / KurrentDB read CERTIFICATE_PRIVATE_KEY_FILE as RSA only
    // (kurrent-io/KurrentDB#2524), so node keys are RSA even though the CA is P-256.
    let key = rsa_key_pair().context("generating a node key")?;
    let cert = params
        .signed_by(&key, &ca_cert, &ca_key)
        .context("signing the node certificate")?;
    Ok(NodeCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Whether `ca`'s private key belongs to its certificate, e.g. to detect a corrupted Secret
/// before signing node certificates that would not chain.
pub fn ca_matches(ca: &Ca) -> bool {
    load_ca(ca).is_ok()
}

/// Loads a CA stored as PEM into the `Certificate` + `KeyPair` that rcgen 0.13 signs with,
/// checking that the key belongs to the certificate.
fn load_ca(ca: &Ca) -> Result<(Certificate, KeyPair)> {
    let mut params =
        CertificateParams::from_ca_cert_pem(&ca.cert_pem).context("parsing the CA certificate")?;
    let key = KeyPair::from_pem(&ca.key_pem).context("parsing the CA private key")?;

    // rcgen exposes no parsed public key for an existing certificate, but it does expose the
    // subject key identifier, which `new_ca` derived from the CA's public key (truncated
    // SHA-256). Re-deriving it from `key` shows whether the two belong together. A CA made
    // elsewhere with another derivation is rejected, which is safe: esk only uses its own.
    let KeyIdMethod::PreSpecified(stored_id) = params.key_identifier_method.clone() else {
        bail!("the CA certificate has no subject key identifier");
    };
    params.key_identifier_method = KeyIdMethod::Sha256;
    // rcgen 0.13 can only sign with a `Certificate`, so re-sign the parsed CA with its own key.
    // The copy has the original's subject, key and key identifier, so whatever it signs
    // chains to the original PEM, which is what the nodes trust.
    let cert = params
        .self_signed(&key)
        .context("loading the CA certificate")?;
    ensure!(
        cert.key_identifier() == stored_id,
        "the CA private key does not belong to the CA certificate"
    );
    Ok((cert, key))
}

/// A random password of [`PASSWORD_LEN`] unambiguous letters and digits, from OS randomness.
pub fn password() -> Result<String> {
    // Rejection sampling: a byte at or above this limit would make the first
    // 256 % 56 characters likelier than the rest.
    let limit = 256 - 256 % PASSWORD_ALPHABET.len();
    let mut out = String::with_capacity(PASSWORD_LEN);
    let mut buf = [0u8; 64];
    while out.len() < PASSWORD_LEN {
        getrandom::getrandom(&mut buf).map_err(|e| anyhow!("reading OS randomness: {e}"))?;
        let accepted = buf.iter().map(|&b| usize::from(b)).filter(|&b| b < limit);
        for b in accepted.take(PASSWORD_LEN - out.len()) {
            out.push(char::from(PASSWORD_ALPHABET[b % PASSWORD_ALPHABET.len()]));
        }
    }
    Ok(out)
}

fn common_name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn set_validity(params: &mut CertificateParams, days: u64) -> Result<()> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    // Whole seconds: certificate times have no fractions. The `time` crate is not a direct
    // dependency, so build "now" from rcgen's epoch helper.
    let now = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(since_epoch.as_secs());
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + Duration::from_secs(days * 24 * 60 * 60);
    Ok(())
}

/// A fresh 2048-bit RSA key as an rcgen key pair (rcgen can sign with RSA through ring, but
/// not generate it).
fn rsa_key_pair() -> Result<KeyPair> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)?;
    let pem = key.to_pkcs8_pem(LineEnding::LF)?;
    Ok(KeyPair::from_pem_and_sign_algo(
        &pem,
        &rcgen::PKCS_RSA_SHA256,
    )?)
}

/// Whether a stored node certificate can stay: it parses, names exactly `dns_names` (plus
/// localhost), and is valid for at least `min_days` more days.
pub fn cert_is_current(cert_pem: &str, dns_names: &[String], min_days: u64) -> bool {
    use x509_parser::extensions::GeneralName;
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()) else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&pem.contents) else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let left = cert.validity().not_after.timestamp() - now;
    if left < (min_days * 86_400) as i64 {
        return false;
    }
    let Ok(Some(sans)) = cert.subject_alternative_name() else {
        return false;
    };
    let mut have: Vec<String> = sans
        .value
        .general_names
        .iter()
        .filter_map(|g| match g {
            GeneralName::DNSName(d) => Some(d.to_string()),
            _ => None,
        })
        .filter(|d| d != "localhost")
        .collect();
    let mut want: Vec<String> = dns_names
        .iter()
        .filter(|d| *d != "localhost")
        .cloned()
        .collect();
    have.sort();
    want.sort();
    have == want
}

#[cfg(test)]
mod tests;
