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
mod tests {
    use super::*;
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::prelude::{parse_x509_certificate, parse_x509_pem, X509Certificate};

    fn der(pem: &str) -> Vec<u8> {
        parse_x509_pem(pem.as_bytes()).expect("PEM").1.contents
    }

    fn x509(der: &[u8]) -> X509Certificate<'_> {
        parse_x509_certificate(der).expect("X.509").1
    }

    fn cn<'a>(cert: &'a X509Certificate<'_>) -> &'a str {
        let attr = cert.subject().iter_common_name().next().expect("CN");
        attr.as_str().expect("CN string")
    }

    fn days_left(cert: &X509Certificate<'_>) -> i64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        (cert.validity().not_after.timestamp() - now.as_secs() as i64) / 86_400
    }

    fn sans(cert: &X509Certificate<'_>) -> Vec<String> {
        let ext = cert.subject_alternative_name().unwrap().expect("SAN");
        let mut names: Vec<String> = (ext.value.general_names.iter())
            .map(|name| match name {
                GeneralName::DNSName(dns) => dns.to_string(),
                GeneralName::IPAddress(ip) => format!("{ip:?}"),
                other => panic!("unexpected SAN {other:?}"),
            })
            .collect();
        names.sort();
        names
    }

    /// (subject key identifier, authority key identifier)
    fn key_ids(cert: &X509Certificate<'_>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let (mut ski, mut aki) = (None, None);
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => ski = Some(id.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    aki = a.key_identifier.as_ref().map(|id| id.0.to_vec())
                }
                _ => {}
            }
        }
        (ski, aki)
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    /// Asserts everything a node certificate must be, signed by `ca`.
    fn assert_node_cert(ca: &Ca, node: &NodeCert, dns: &[String]) {
        let (ca_der, node_der) = (der(&ca.cert_pem), der(&node.cert_pem));
        let (ca_x, node_x) = (x509(&ca_der), x509(&node_der));
        node_x
            .verify_signature(Some(ca_x.public_key()))
            .expect("node certificate is signed by the CA");
        assert_eq!(node_x.issuer().as_raw(), ca_x.subject().as_raw());
        assert_eq!(key_ids(&node_x).1, key_ids(&ca_x).0, "AKI names the CA");
        assert_eq!(cn(&node_x), NODE_COMMON_NAME);

        let mut expected = dns.to_vec();
        expected.extend(names(&["localhost", "[127, 0, 0, 1]"]));
        expected.sort();
        assert_eq!(sans(&node_x), expected);

        assert!(!node_x.is_ca());
        let bc = node_x
            .basic_constraints()
            .unwrap()
            .expect("explicit CA:FALSE");
        assert!(!bc.value.ca);
        let eku = node_x.extended_key_usage().unwrap().expect("EKU").value;
        assert!(eku.server_auth && eku.client_auth);
        let ku = node_x.key_usage().unwrap().expect("key usage").value;
        assert!(ku.digital_signature() && ku.key_encipherment() && !ku.key_cert_sign());
        assert!((729..=730).contains(&days_left(&node_x)));
        assert!(node_x.validity().is_valid(), "valid now");
    }

    #[test]
    fn ca_is_a_self_signed_ca() {
        let ca = new_ca("prod").unwrap();
        let der = der(&ca.cert_pem);
        let cert = x509(&der);
        cert.verify_signature(None).expect("self-signed");
        assert_eq!(cert.subject().as_raw(), cert.issuer().as_raw());
        assert_eq!(cn(&cert), "esk prod CA");
        let bc = cert
            .basic_constraints()
            .unwrap()
            .expect("basic constraints");
        assert!(bc.value.ca);
        assert_eq!(bc.value.path_len_constraint, Some(0));
        let ku = cert.key_usage().unwrap().expect("key usage").value;
        assert!(ku.key_cert_sign() && ku.crl_sign());
        assert!((3649..=3650).contains(&days_left(&cert)));
        assert!(cert.validity().is_valid());
        assert!(ca.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn node_cert_chains_to_the_ca() {
        let ca = new_ca("prod").unwrap();
        let dns = names(&["esdb-0.esdb.prod.svc.cluster.local", "esdb-0"]);
        let node = node_cert(&ca, &dns).unwrap();
        assert_node_cert(&ca, &node, &dns);
        assert!(node.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        // The servers load node keys as RSA only.
        let der = der(&node.cert_pem);
        let cert = x509(&der);
        assert_eq!(
            cert.public_key().algorithm.algorithm,
            x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION
        );
    }

    #[test]
    fn a_ca_reloaded_from_pem_keeps_signing() {
        let ca = new_ca("prod").unwrap();
        // As if read back from a Secret by a later run; tools may drop the final newline.
        let stored = Ca {
            cert_pem: ca.cert_pem.trim().to_string(),
            key_pem: ca.key_pem.trim().to_string(),
        };
        let first = node_cert(&stored, &names(&["esdb-0"])).unwrap();
        let second = node_cert(&stored, &names(&["esdb-1"])).unwrap();
        assert_node_cert(&ca, &first, &names(&["esdb-0"]));
        assert_node_cert(&ca, &second, &names(&["esdb-1"]));
        assert_ne!(first.key_pem, second.key_pem);
        assert_ne!(der(&first.cert_pem), der(&second.cert_pem));
    }

    #[test]
    fn localhost_is_not_duplicated_and_ips_become_ip_sans() {
        let ca = new_ca("dev").unwrap();
        let node = node_cert(&ca, &names(&["localhost", "10.0.0.7"])).unwrap();
        let der = der(&node.cert_pem);
        assert_eq!(
            sans(&x509(&der)),
            names(&["[10, 0, 0, 7]", "[127, 0, 0, 1]", "localhost"])
        );
    }

    #[test]
    fn each_ca_has_its_own_key() {
        let (a, b) = (new_ca("a").unwrap(), new_ca("a").unwrap());
        assert_ne!(a.key_pem, b.key_pem);
        let (a_der, b_der) = (der(&a.cert_pem), der(&b.cert_pem));
        assert_ne!(x509(&a_der).public_key().raw, x509(&b_der).public_key().raw);
    }

    #[test]
    fn ca_matches_detects_a_swapped_or_broken_key() {
        let (a, b) = (new_ca("a").unwrap(), new_ca("b").unwrap());
        assert!(ca_matches(&a));
        let swapped = Ca {
            key_pem: b.key_pem.clone(),
            ..a.clone()
        };
        assert!(!ca_matches(&swapped));
        assert!(node_cert(&swapped, &names(&["esdb-0"])).is_err());
        let garbage = Ca {
            key_pem: "not a key".into(),
            ..a.clone()
        };
        assert!(!ca_matches(&garbage));
        let no_cert = Ca {
            cert_pem: String::new(),
            ..a
        };
        assert!(!ca_matches(&no_cert));
    }

    #[test]
    fn debug_output_redacts_private_keys() {
        let ca = new_ca("a").unwrap();
        let node = node_cert(&ca, &names(&["esdb-0"])).unwrap();
        for shown in [format!("{ca:?}"), format!("{node:?}")] {
            assert!(shown.contains("<redacted>"));
            assert!(!shown.contains("PRIVATE KEY"));
        }
    }

    #[test]
    fn passwords_are_long_unambiguous_and_fresh() {
        let (a, b) = (password().unwrap(), password().unwrap());
        assert_ne!(a, b);
        for p in [&a, &b] {
            assert!(p.len() >= 24);
            assert!(p.bytes().all(|c| PASSWORD_ALPHABET.contains(&c)));
            assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
            assert!(!p.contains(['0', 'O', 'o', '1', 'I', 'l']));
        }
    }

    #[test]
    fn current_certificates_are_kept_and_changed_names_are_not() {
        let ca = new_ca("dev").unwrap();
        let dns = names(&["es-1.es.default.svc.cluster.local", "es-1"]);
        let node = node_cert(&ca, &dns).unwrap();
        assert!(cert_is_current(&node.cert_pem, &dns, 30));
        assert!(!cert_is_current(
            &node.cert_pem,
            &names(&["es-1.es.prod.svc.cluster.local"]),
            30
        ));
        // Valid for about two years: not for three.
        assert!(!cert_is_current(&node.cert_pem, &dns, 3 * 365));
        assert!(!cert_is_current("not a certificate", &dns, 30));
    }
}
