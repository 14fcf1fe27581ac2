//! Certificates and passwords: what a node and a client would check of them.

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
