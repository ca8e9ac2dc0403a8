//! Certificates made by the test: a CA, a server certificate it signs for 127.0.0.1 and
//! localhost, and a self-signed key for signing registry tokens.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use std::path::{Path, PathBuf};

/// A P-256 key.
pub fn new_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// A certificate for `key`, named `common_name`, signed by `issuer` (self-signed when `None`).
pub fn certificate(
    common_name: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    is_ca: bool,
    names: &[&str],
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", common_name).unwrap();
    let name = name.build();
    let mut builder = X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    builder
        .set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    builder.set_subject_name(&name).unwrap();
    builder
        .set_issuer_name(issuer.map_or(&*name, |(cert, _)| cert.subject_name()))
        .unwrap();
    builder.set_pubkey(key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    if is_ca {
        let constraints = BasicConstraints::new().critical().ca().build().unwrap();
        builder.append_extension(constraints).unwrap();
        let usage = KeyUsage::new().key_cert_sign().crl_sign().build().unwrap();
        builder.append_extension(usage).unwrap();
    }
    if !names.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for name in names {
            if name.parse::<std::net::IpAddr>().is_ok() {
                san.ip(name);
            } else {
                san.dns(name);
            }
        }
        let san = san
            .build(&builder.x509v3_context(issuer.map(|(cert, _)| &**cert), None))
            .unwrap();
        builder.append_extension(san).unwrap();
    }
    let signing_key = issuer.map_or(key, |(_, key)| key);
    builder.sign(signing_key, MessageDigest::sha256()).unwrap();
    builder.build()
}

/// A test CA and a server certificate for the loopback registry, written as PEM files.
pub struct Pki {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A directory with the CA as `ca.crt`, as `skopeo --cert-dir` reads it.
    pub cert_dir: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> Self {
        let ca_key = new_key();
        let ca = certificate("image-policies test CA", &ca_key, None, true, &[]);
        let server_key = new_key();
        let server = certificate(
            "127.0.0.1",
            &server_key,
            Some((&ca, &ca_key)),
            false,
            &["127.0.0.1", "localhost"],
        );
        let pki = Pki {
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            cert_dir: dir.join("certs.d"),
        };
        std::fs::create_dir_all(&pki.cert_dir).unwrap();
        let ca_pem = ca.to_pem().unwrap();
        std::fs::write(&pki.ca_cert, &ca_pem).unwrap();
        std::fs::write(pki.cert_dir.join("ca.crt"), &ca_pem).unwrap();
        std::fs::write(&pki.server_cert, server.to_pem().unwrap()).unwrap();
        std::fs::write(
            &pki.server_key,
            server_key.private_key_to_pem_pkcs8().unwrap(),
        )
        .unwrap();
        pki
    }
}
