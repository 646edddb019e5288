//! Server keys: a 256-bit secret for HMACs (CSRF tokens, throttle keys, email
//! references) and the Ed25519 key that signs audit checkpoints. Read from the
//! environment when set (several instances must share them), otherwise from
//! `<data-dir>/keys`, created with mode 0600 on first run. A key file that other
//! users can read is refused.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context};
use ed25519_dalek::{SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub struct Keys {
    secret: Zeroizing<[u8; 32]>,
    signing: SigningKey,
}

impl Keys {
    pub fn load_or_create(keys_dir: &Path) -> anyhow::Result<Keys> {
        crate::config::private_dir(keys_dir)
            .with_context(|| format!("cannot create {}", keys_dir.display()))?;
        let secret = key_bytes("FIELDKIT_SECRET_KEY", &keys_dir.join("secret.key"))?;
        let seed = key_bytes(
            "FIELDKIT_AUDIT_SIGNING_KEY",
            &keys_dir.join("audit-signing.key"),
        )?;
        let signing = SigningKey::from_bytes(&seed);
        let public = keys_dir.join("audit-signing.pub");
        let public_hex = hex::encode(signing.verifying_key().as_bytes());
        if std::fs::read_to_string(&public).ok().as_deref() != Some(public_hex.as_str()) {
            std::fs::write(&public, &public_hex)
                .with_context(|| format!("cannot write {}", public.display()))?;
        }
        Ok(Keys { secret, signing })
    }

    /// Keys for unit tests only.
    pub fn ephemeral() -> Keys {
        let mut secret = Zeroizing::new([0u8; 32]);
        rand::thread_rng().fill_bytes(secret.as_mut());
        Keys {
            secret,
            signing: SigningKey::generate(&mut rand::thread_rng()),
        }
    }

    /// HMAC-SHA256 of `message` under the server secret, in a named domain so one
    /// use can never stand in for another.
    pub fn mac(&self, domain: &str, message: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_ref()).expect("any key length");
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }
}

/// A short, stable name for a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))[..16].to_string()
}

pub fn parse_public_key(hex_text: &str) -> anyhow::Result<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_text.trim())
        .context("the public key is not hex")?
        .try_into()
        .map_err(|_| anyhow::anyhow!("the public key must be 32 bytes"))?;
    VerifyingKey::from_bytes(&bytes).context("not an Ed25519 public key")
}

pub(crate) fn key_bytes(env: &str, file: &Path) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    if let Ok(value) = std::env::var(env) {
        return decode_key(&value).with_context(|| format!("{env} must be 64 hex digits"));
    }
    key_file(file)
}

/// Reads a key file, refusing one that other users can read; creates it with
/// mode 0600 (never overwriting) when it does not exist.
pub(crate) fn key_file(file: &Path) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    if file.exists() {
        let mode = std::fs::metadata(file)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} can be read by other users (mode {:o}); run: chmod 600 {}",
                file.display(),
                mode & 0o777,
                file.display()
            );
        }
        let text = Zeroizing::new(std::fs::read_to_string(file)?);
        return decode_key(&text).with_context(|| format!("{} is not a key", file.display()));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    rand::thread_rng().fill_bytes(key.as_mut());
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("cannot create {}", file.display()))?;
    std::io::Write::write_all(&mut out, hex::encode(key.as_ref()).as_bytes())?;
    Ok(key)
}

pub(crate) fn decode_key(text: &str) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    let raw = Zeroizing::new(hex::decode(text.trim())?);
    let mut key = Zeroizing::new([0u8; 32]);
    if raw.len() != 32 {
        bail!("wrong length");
    }
    key.copy_from_slice(&raw);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_private_and_reloaded_unchanged() {
        let dir = std::env::temp_dir().join(format!("fk-keys-{}", uuid::Uuid::new_v4()));
        let first = Keys::load_or_create(&dir).unwrap();
        let mode = std::fs::metadata(dir.join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = Keys::load_or_create(&dir).unwrap();
        assert_eq!(first.mac("t", b"x"), second.mac("t", b"x"));
        assert_eq!(first.verifying_key(), second.verifying_key());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let dir = std::env::temp_dir().join(format!("fk-keys-{}", uuid::Uuid::new_v4()));
        Keys::load_or_create(&dir).unwrap();
        let f = dir.join("secret.key");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Keys::load_or_create(&dir).err().unwrap().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn mac_domains_are_separate() {
        let k = Keys::ephemeral();
        assert_ne!(k.mac("csrf", b"x"), k.mac("email", b"x"));
    }
}
