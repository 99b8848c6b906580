//! Unit tests of the signature checks, with keys made on the spot. The real Debian keys and
//! real `InRelease` files are exercised by the integration tests.

use pgp::composed::{KeyType, SecretKeyParamsBuilder, SignedSecretKey};
use pgp::types::Password;

use super::*;

/// A fresh Ed25519 key that may sign with its primary key.
fn key(name: &str) -> SignedSecretKey {
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id(format!("{name} <{name}@example.org>"));
    params
        .build()
        .unwrap()
        .generate(rand::thread_rng())
        .unwrap()
}

fn armored_public(key: &SignedSecretKey) -> String {
    SignedPublicKey::from(key.clone())
        .to_armored_string(Default::default())
        .unwrap()
}

fn clearsign(key: &SignedSecretKey, text: &str) -> String {
    CleartextSignedMessage::sign(
        rand::thread_rng(),
        text,
        &key.primary_key,
        &Password::empty(),
    )
    .unwrap()
    .to_armored_string(Default::default())
    .unwrap()
}

#[test]
fn the_debian_keyring_holds_the_archive_and_release_keys() {
    assert_eq!(
        Keyring::debian().fingerprints(),
        [
            "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8",
            "4D64FEC119C2029067D6E791F8D2585B8783D481",
            "04B54C3CDCA79751B16BC6B5225629DF75B188BD",
            "41587F7DB8C774BCCF131416762F67A0B2C39DE4",
        ]
    );
}

#[test]
fn a_signature_by_a_keyring_key_is_accepted_and_only_the_signed_text_returned() {
    let signer = key("archive");
    let keyring = Keyring::from_armored(&[&armored_public(&signer)]).unwrap();
    let text = "Origin: Test\nSuite: test\n- a dashed line\nSHA256:\n";
    let message = clearsign(&signer, text);
    let verified = keyring
        .verify(message.as_bytes(), "http://m/InRelease", Utc::now())
        .unwrap();
    assert_eq!(verified.text.trim_end(), text.trim_end());
    assert_eq!(verified.signed_by, keyring.fingerprints());
}

#[test]
fn bad_unknown_and_missing_signatures_are_refused_with_one_line() {
    let signer = key("archive");
    let stranger = key("stranger");
    let keyring = Keyring::from_armored(&[&armored_public(&signer)]).unwrap();
    let url = "http://m/dists/x/InRelease";
    let now = Utc::now();
    let message = clearsign(&signer, "Suite: test\nSHA256:\n");

    let tampered = message.replacen("Suite: test", "Suite: tesT", 1);
    let err = keyring.verify(tampered.as_bytes(), url, now).unwrap_err();
    assert!(matches!(err, TrustError::BadSignature { .. }), "{err}");
    let text = err.to_string();
    assert!(text.starts_with(url), "{text}");
    assert!(text.contains(&keyring.fingerprints()[0]), "{text}");
    assert!(!text.contains('\n'), "{text}");

    let foreign = clearsign(&stranger, "Suite: test\nSHA256:\n");
    let err = keyring.verify(foreign.as_bytes(), url, now).unwrap_err();
    assert!(matches!(err, TrustError::UnknownKey { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("{:X}", stranger.fingerprint())),
        "{err}"
    );

    for plain in ["Suite: test\nSHA256:\n", "<html>404</html>", ""] {
        let err = keyring.verify(plain.as_bytes(), url, now).unwrap_err();
        assert!(matches!(err, TrustError::NotSigned { .. }), "{err}");
        assert!(!err.to_string().contains('\n'), "{err}");
    }
    // A message cut short loses its signature block.
    let cut = &message[..message.find("-----BEGIN PGP SIGNATURE").unwrap()];
    let err = keyring.verify(cut.as_bytes(), url, now).unwrap_err();
    assert!(matches!(err, TrustError::NotSigned { .. }), "{err}");

    // Two signers, one of them known: accepted on the known one.
    let both = CleartextSignedMessage::new_many("Suite: test\n", |text| {
        let one = CleartextSignedMessage::sign(
            rand::thread_rng(),
            text,
            &stranger.primary_key,
            &Password::empty(),
        )?;
        let two = CleartextSignedMessage::sign(
            rand::thread_rng(),
            text,
            &signer.primary_key,
            &Password::empty(),
        )?;
        Ok(vec![
            one.signatures()[0].clone(),
            two.signatures()[0].clone(),
        ])
    })
    .unwrap()
    .to_armored_string(Default::default())
    .unwrap();
    let verified = keyring.verify(both.as_bytes(), url, now).unwrap();
    assert_eq!(verified.signed_by, keyring.fingerprints());
}

#[test]
fn a_key_that_expired_was_revoked_or_cannot_sign_does_not_count() {
    let secret = key("archive");
    let public = SignedPublicKey::from(secret.clone());
    let message = clearsign(&secret, "Suite: test\n");
    let (message, _) = CleartextSignedMessage::from_string(&message).unwrap();
    let sig = &message.signatures()[0];
    let created = u64::from(public.primary_key.created_at().as_secs());
    let signer = |expires, can_sign, revoked| Signer {
        key: KeyRef::Primary(&public.primary_key),
        primary: "K".into(),
        expires,
        can_sign,
        revoked,
    };
    let now = Utc::now();
    assert_eq!(check_signer(&signer(None, true, false), sig, now), Ok(()));
    assert_eq!(
        check_signer(&signer(Some(created + 3600), true, false), sig, now),
        Ok(())
    );
    let expired = check_signer(&signer(Some(created - 1), true, false), sig, now);
    assert!(expired.unwrap_err().starts_with("the key expired on "));
    assert_eq!(
        check_signer(&signer(None, false, false), sig, now),
        Err("the key is not a signing key".to_string())
    );
    assert_eq!(
        check_signer(&signer(None, true, true), sig, now),
        Err("the key is revoked".to_string())
    );
    // Expiry counts from the key's creation; 0 or nothing means never.
    assert_eq!(expiry(100, None), None);
    assert_eq!(date(1_926_589_461), "2031-01-19");
}
