//! The TLS material of the second engine, made by the test: a CA, the engine's certificate for
//! 127.0.0.1 signed by it, a client certificate it signed (what `DOCKER_CERT_PATH` holds), and a
//! client certificate from another CA, which the engine must refuse.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// Where the files are.
pub struct Certs {
    /// ca.pem, server-cert.pem, server-key.pem: what dockerd's `--tls*` flags take.
    pub server: PathBuf,
    /// ca.pem, cert.pem, key.pem of a client the engine trusts: a `DOCKER_CERT_PATH`.
    pub client: PathBuf,
    /// The same names, for a client signed by a CA the engine does not know.
    pub stranger: PathBuf,
}

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// A certificate signed by `ca`, for the server (with its names) or for a client.
fn leaf(ca: &Ca, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "webtest-it");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![purpose];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// Makes fresh certificates under `dir`.
pub fn make(dir: &Path) -> Certs {
    let ours = ca("webtest-it engine CA");
    let (server_cert, server_key) = leaf(
        &ours,
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(&ours, &[], ExtendedKeyUsagePurpose::ClientAuth);
    let other = ca("a CA the engine does not know");
    let (stranger_cert, stranger_key) = leaf(&other, &[], ExtendedKeyUsagePurpose::ClientAuth);
    let ca_pem = ours.cert.pem();
    let certs = Certs {
        server: dir.join("server"),
        client: dir.join("client"),
        stranger: dir.join("stranger"),
    };
    write(
        &certs.server,
        &[
            ("ca.pem", &ca_pem),
            ("server-cert.pem", &server_cert),
            ("server-key.pem", &server_key),
        ],
    );
    write(
        &certs.client,
        &[
            ("ca.pem", &ca_pem),
            ("cert.pem", &client_cert),
            ("key.pem", &client_key),
        ],
    );
    // The stranger trusts the engine, but the engine does not trust it.
    write(
        &certs.stranger,
        &[
            ("ca.pem", &ca_pem),
            ("cert.pem", &stranger_cert),
            ("key.pem", &stranger_key),
        ],
    );
    certs
}
