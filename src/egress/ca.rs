//! The bottle's certificate authority. Each bottle gets its own, made when
//! the bottle is prepared; the agent trusts it, and the egress sidecar signs
//! a leaf certificate per host with it to intercept TLS. The private key
//! never leaves the egress sidecar's state folder.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// The subject of every bottle CA. Each bottle's key differs; the name need
/// not, and a fixed name lets the sidecar rebuild the issuer from the key.
const CA_NAME: &str = "bot-bottle egress CA";

/// Making or reading the certificate authority failed.
#[derive(Debug, thiserror::Error)]
#[error("certificate authority: {0}")]
pub struct CaError(#[from] rcgen::Error);

/// A new CA, as PEM: (certificate, private key).
pub fn new_ca() -> Result<(String, String), CaError> {
    let key = KeyPair::generate()?;
    let cert = ca_params().self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_NAME);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    params
}

/// Signs leaf certificates for the hosts the agent connects to.
pub struct Signer {
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate and its key, ready for rustls.
pub struct Leaf {
    /// The leaf first, then the CA that signed it.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl Signer {
    /// The signer of a CA made by `new_ca`, from its private key.
    pub fn from_key_pem(key_pem: &str) -> Result<Signer, CaError> {
        let key = KeyPair::from_pem(key_pem)?;
        Ok(Signer {
            issuer: Issuer::new(ca_params(), key),
        })
    }

    /// A certificate for `host`, valid from yesterday for a year.
    pub fn leaf(&self, host: &str) -> Result<Leaf, CaError> {
        self.leaf_for(&[host])
    }

    /// A certificate for several names (the first is its common name).
    pub fn leaf_for(&self, hosts: &[&str]) -> Result<Leaf, CaError> {
        let key = KeyPair::generate()?;
        let mut params =
            CertificateParams::new(hosts.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())?;
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CommonName,
            hosts.first().copied().unwrap_or_default(),
        );
        params.distinguished_name = name;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(365);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Leaf {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }
}

#[cfg(test)]
mod tests {
    use rustls::client::danger::ServerCertVerifier;

    use super::*;

    #[test]
    fn leaves_chain_to_the_ca() {
        let (cert_pem, key_pem) = new_ca().unwrap();
        let signer = Signer::from_key_pem(&key_pem).unwrap();
        let leaf = signer.leaf("api.example.com").unwrap();

        let ca_der = rustls_pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_der).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots.into(),
            rustls::crypto::ring::default_provider().into(),
        )
        .build()
        .unwrap();
        let name = rustls_pki_types::ServerName::try_from("api.example.com").unwrap();
        verifier
            .verify_server_cert(
                &leaf.chain[0],
                &[],
                &name,
                &[],
                rustls_pki_types::UnixTime::now(),
            )
            .unwrap();
        let other = rustls_pki_types::ServerName::try_from("evil.example.com").unwrap();
        assert!(
            verifier
                .verify_server_cert(
                    &leaf.chain[0],
                    &[],
                    &other,
                    &[],
                    rustls_pki_types::UnixTime::now()
                )
                .is_err()
        );
    }
}
