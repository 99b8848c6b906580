//! OpenPGP verification of `InRelease` files against a keyring, with rpgp (pure Rust).
//!
//! `InRelease` is a clearsigned message (RFC 9580 §7): the `Release` text followed by one or
//! more signatures. Debian signs each suite with the archive keys of the current and the
//! previous release and, for released suites, with the stable release key of that release.
//! [`Keyring::verify`] accepts a message when at least one of its signatures verifies with a
//! signing-capable key (or subkey) of the keyring that was valid, and not revoked, when it
//! signed; it then returns the signed text, and only that text is ever parsed.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey};
use pgp::packet::{PublicKey, PublicSubkey, Signature, SignatureType};
use pgp::types::{KeyDetails, Tag};

/// The keys of Debian's archive that sign bookworm, trixie and their updates and backports,
/// as Debian's `debian-archive-keyring` package ships them (see `keys/README.md`).
const DEBIAN_KEYS: &[(&str, &str)] = &[
    (
        "debian-archive-bookworm-automatic.asc",
        include_str!("../keys/debian-archive-bookworm-automatic.asc"),
    ),
    (
        "debian-archive-bookworm-stable.asc",
        include_str!("../keys/debian-archive-bookworm-stable.asc"),
    ),
    (
        "debian-archive-trixie-automatic.asc",
        include_str!("../keys/debian-archive-trixie-automatic.asc"),
    ),
    (
        "debian-archive-trixie-stable.asc",
        include_str!("../keys/debian-archive-trixie-stable.asc"),
    ),
];

/// Why an `InRelease` file was refused. Each message is one line that names the URL and says
/// what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// Not a clearsigned message at all (a plain `Release`, an HTML error page, a file cut
    /// short, a damaged signature block).
    #[error(
        "{url} is not an OpenPGP clearsigned file ({detail}): refused, nothing from it is \
         used; check the mirror URL and the suite, or use another mirror"
    )]
    NotSigned { url: String, detail: String },
    /// Signed, but by no key of the keyring.
    #[error(
        "{url} is signed only by keys that are not in the keyring ({issuers}): refused; if \
         Debian has changed its archive keys, add the new one from Debian's \
         debian-archive-keyring package to debimage's keys/ (see keys/README.md)"
    )]
    UnknownKey { url: String, issuers: String },
    /// Signed by a key of the keyring, but the signature does not match the text.
    #[error(
        "{url}: the signature by {key} does not match the file, so it was changed after it was \
         signed (a tampered or broken mirror, a proxy, a damaged cache): refused; try again, or \
         use another mirror"
    )]
    BadSignature {
        url: String,
        key: String,
        /// What the OpenPGP implementation said, for a closer look.
        detail: String,
    },
    /// Signed by a key of the keyring that was expired, revoked, not yet valid or not
    /// allowed to sign at the time of the signature.
    #[error(
        "{url}: signed by {key}, which could not sign then ({detail}): refused; update \
         debimage's keys/ from Debian's debian-archive-keyring package (see keys/README.md)"
    )]
    KeyNotValid {
        url: String,
        key: String,
        detail: String,
    },
    /// Validly signed, but the release file of another suite.
    #[error(
        "{url} is the release file of {found}, not of {requested}: refused (a mirror serving \
         another suite's file could roll the archive back); check the suite name, or use \
         another mirror"
    )]
    WrongSuite {
        url: String,
        requested: String,
        found: String,
    },
    /// Validly signed, but past its `Valid-Until` date.
    #[error(
        "{url} expired on {valid_until} (its Valid-Until date): refused, since an old signed \
         file could hide newer fixes; the mirror is out of date: use another mirror, or check \
         this machine's clock"
    )]
    Expired { url: String, valid_until: String },
}

/// The text of a clearsigned message whose signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The signed text, with `\n` line endings (the signature covers it with `\r\n`, as
    /// the cleartext framework normalises lines).
    pub text: String,
    /// Primary-key fingerprints (uppercase hex) of the keys whose signatures verified.
    pub signed_by: Vec<String>,
}

/// One key (primary or subkey) that may have made a signature.
struct Signer<'a> {
    key: KeyRef<'a>,
    /// The primary key's fingerprint, which names the key in messages and [`Verified`].
    primary: String,
    /// Seconds since the epoch after which the key is expired, if it expires.
    expires: Option<u64>,
    can_sign: bool,
    revoked: bool,
}

enum KeyRef<'a> {
    Primary(&'a PublicKey),
    Sub(&'a PublicSubkey),
}

impl KeyRef<'_> {
    fn details(&self) -> &dyn KeyDetails {
        match self {
            KeyRef::Primary(k) => *k,
            KeyRef::Sub(k) => *k,
        }
    }

    fn verify(&self, sig: &Signature, text: &[u8]) -> pgp::errors::Result<()> {
        match self {
            KeyRef::Primary(k) => sig.verify(*k, text),
            KeyRef::Sub(k) => sig.verify(*k, text),
        }
    }
}

/// A set of OpenPGP public keys that `InRelease` files are verified against.
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// The Debian archive keys kept in this crate's `keys/` folder: the archive signing keys
    /// of bookworm and trixie and their stable release keys, which sign `bookworm`,
    /// `bookworm-updates`, `bookworm-backports` and `trixie`.
    pub fn debian() -> Keyring {
        let texts: Vec<&str> = DEBIAN_KEYS.iter().map(|(_, text)| *text).collect();
        // The keys are part of the source and a unit test parses them, so a failure here is a
        // broken build, not a condition to handle.
        Keyring::from_armored(&texts).expect("the keys in keys/ are valid OpenPGP keys")
    }

    /// A keyring of ASCII-armoured public keys, one key per text. Each key's self-signatures
    /// and subkey bindings must verify; certifications by other keys (Debian's archive keys
    /// carry many) are dropped, since only the keyring itself is trusted.
    pub fn from_armored(texts: &[&str]) -> Result<Keyring> {
        let mut keys = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let (mut key, _) = SignedPublicKey::from_string(text)
                .with_context(|| format!("parse OpenPGP key {}", i + 1))?;
            let name = format!("{:X}", key.fingerprint());
            let primary = key.primary_key.clone();
            for user in &mut key.details.users {
                user.signatures.retain(|s| issued_by(s, &primary));
                if user.signatures.is_empty() {
                    bail!("key {name}: a user id has no self-signature");
                }
                for sig in &user.signatures {
                    sig.verify_certification(&primary, Tag::UserId, &user.id)
                        .with_context(|| format!("verify a self-signature of key {name}"))?;
                }
            }
            key.details.user_attributes.clear();
            // A revocation counts only when it verifies; anyone can append one that does not.
            key.details
                .revocation_signatures
                .retain(|s| s.verify_key(&primary).is_ok());
            key.details
                .direct_signatures
                .retain(|s| s.verify_key(&primary).is_ok());
            for sub in &key.public_subkeys {
                sub.verify_bindings(&primary)
                    .with_context(|| format!("verify the subkey bindings of key {name}"))?;
            }
            keys.push(key);
        }
        Ok(Keyring { keys })
    }

    /// The primary-key fingerprints of the keyring, uppercase hex.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| format!("{:X}", k.fingerprint()))
            .collect()
    }

    fn signers(&self) -> Vec<Signer<'_>> {
        let mut signers = Vec::new();
        for key in &self.keys {
            let primary = format!("{:X}", key.fingerprint());
            let created = u64::from(key.primary_key.created_at().as_secs());
            // The newest self-signature on a user id says what the primary key may do and when
            // it expires.
            let self_sig = key
                .details
                .users
                .iter()
                .flat_map(|u| &u.signatures)
                .chain(&key.details.direct_signatures)
                .max_by_key(|s| s.created().map(|t| t.as_secs()));
            signers.push(Signer {
                key: KeyRef::Primary(&key.primary_key),
                primary: primary.clone(),
                expires: expiry(created, self_sig),
                can_sign: self_sig.is_some_and(|s| s.key_flags().sign()),
                revoked: !key.details.revocation_signatures.is_empty(),
            });
            for sub in &key.public_subkeys {
                let created = u64::from(sub.key.created_at().as_secs());
                let binding = sub
                    .signatures
                    .iter()
                    .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
                    .max_by_key(|s| s.created().map(|t| t.as_secs()));
                signers.push(Signer {
                    key: KeyRef::Sub(&sub.key),
                    primary: primary.clone(),
                    expires: expiry(created, binding),
                    can_sign: binding.is_some_and(|s| s.key_flags().sign()),
                    revoked: sub
                        .signatures
                        .iter()
                        .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation)),
                });
            }
        }
        signers
    }

    /// Verifies a clearsigned message fetched from `url` (the URL only names it in errors).
    /// `now` is checked against each signature's own expiry.
    pub fn verify(
        &self,
        data: &[u8],
        url: &str,
        now: DateTime<Utc>,
    ) -> Result<Verified, TrustError> {
        let not_signed = |detail: String| TrustError::NotSigned {
            url: url.to_string(),
            detail,
        };
        let text = std::str::from_utf8(data).map_err(|_| not_signed("not UTF-8".into()))?;
        let (message, _) = CleartextSignedMessage::from_string(text)
            .map_err(|e| not_signed(one_line(&e.to_string())))?;
        if message.signatures().is_empty() {
            return Err(not_signed("no signature".into()));
        }
        let signed_text = message.signed_text();
        let signers = self.signers();
        let mut signed_by = Vec::new();
        let mut unknown = Vec::new();
        let mut failure: Option<TrustError> = None;
        for sig in message.signatures() {
            let Some(signer) = signers.iter().find(|s| issued_by(sig, s.key.details())) else {
                unknown.push(issuer_name(sig));
                continue;
            };
            let key = signer.primary.clone();
            match check_signer(signer, sig, now) {
                Err(detail) => {
                    failure.get_or_insert(TrustError::KeyNotValid {
                        url: url.to_string(),
                        key,
                        detail,
                    });
                }
                Ok(()) => match signer.key.verify(sig, signed_text.as_bytes()) {
                    Ok(()) => {
                        if !signed_by.contains(&key) {
                            signed_by.push(key);
                        }
                    }
                    // A bad signature outranks a key that was not valid: it means tampering.
                    Err(e) => {
                        if !matches!(failure, Some(TrustError::BadSignature { .. })) {
                            failure = Some(TrustError::BadSignature {
                                url: url.to_string(),
                                key,
                                detail: one_line(&e.to_string()),
                            });
                        }
                    }
                },
            }
        }
        if !signed_by.is_empty() {
            return Ok(Verified {
                text: signed_text.replace("\r\n", "\n"),
                signed_by,
            });
        }
        Err(failure.unwrap_or_else(|| TrustError::UnknownKey {
            url: url.to_string(),
            issuers: unknown.join(", "),
        }))
    }
}

/// When a key expires: its creation plus the key expiration time of its newest self-signature
/// or binding (0 or none: never).
fn expiry(created: u64, sig: Option<&Signature>) -> Option<u64> {
    sig.and_then(|s| s.key_expiration_time())
        .map(|d| u64::from(d.as_secs()))
        .filter(|&secs| secs > 0)
        .map(|secs| created + secs)
}

/// Whether `sig` names `key` as its issuer, by fingerprint or by key id.
fn issued_by(sig: &Signature, key: &dyn KeyDetails) -> bool {
    let fingerprint = key.fingerprint();
    let key_id = key.legacy_key_id();
    sig.issuer_fingerprint().iter().any(|f| **f == fingerprint)
        || sig.issuer_key_id().iter().any(|k| **k == key_id)
}

/// How an unknown issuer is named in messages: its fingerprint, else its key id.
fn issuer_name(sig: &Signature) -> String {
    if let Some(f) = sig.issuer_fingerprint().first() {
        return format!("{f:X}");
    }
    match sig.issuer_key_id().first() {
        Some(id) => hex::encode_upper(id.as_ref()),
        None => "an unnamed key".to_string(),
    }
}

/// Whether `signer` could make `sig`: allowed to sign, not revoked, and valid at the
/// signature's creation time; and the signature itself has not expired by `now`.
fn check_signer(signer: &Signer<'_>, sig: &Signature, now: DateTime<Utc>) -> Result<(), String> {
    let Some(created) = sig.created().map(|t| u64::from(t.as_secs())) else {
        return Err("the signature has no creation time".into());
    };
    if signer.revoked {
        return Err("the key is revoked".into());
    }
    if !signer.can_sign {
        return Err("the key is not a signing key".into());
    }
    if created < u64::from(signer.key.details().created_at().as_secs()) {
        return Err("the signature is older than the key".into());
    }
    if let Some(expires) = signer.expires {
        if created > expires {
            return Err(format!("the key expired on {}", date(expires)));
        }
    }
    if let Some(secs) = sig
        .signature_expiration_time()
        .map(|d| u64::from(d.as_secs()))
        .filter(|&s| s > 0)
    {
        let until = created + secs;
        if u64::try_from(now.timestamp()).unwrap_or(0) > until {
            return Err(format!("the signature expired on {}", date(until)));
        }
    }
    Ok(())
}

fn date(secs: u64) -> String {
    DateTime::from_timestamp(i64::try_from(secs).unwrap_or(i64::MAX), 0)
        .map_or_else(|| secs.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
