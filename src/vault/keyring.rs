//! Where the vault's keys come from. `FIELDKIT_VAULT_KEYS` ("N:hex,N:hex") and
//! `FIELDKIT_VAULT_INDEX_KEY` when set, because several instances must share
//! them; otherwise `vault-<N>.key` and `vault-index.key` in the keys folder,
//! created with mode 0600 on first run and refused when others can read them.
//! The highest N seals. A server whose keys are files notices a key that
//! `fieldkit vault rotate-key` added while it ran.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use anyhow::Context;
use zeroize::Zeroizing;

use super::model::{BlindIndex, Identity, SealError, SealedIdentity, Sealer, VaultKey};
use crate::keys::{decode_key, key_bytes, key_file};

const KEYS_ENV: &str = "FIELDKIT_VAULT_KEYS";
const INDEX_ENV: &str = "FIELDKIT_VAULT_INDEX_KEY";

/// The keys this process holds, and the sealing API every module uses for
/// values that must not be stored in clear.
pub struct Vault {
    sealer: RwLock<Arc<Sealer>>,
    index: BlindIndex,
    /// The keys folder, or None when the keys come from the environment.
    folder: Option<PathBuf>,
}

impl Vault {
    pub fn load_or_create(keys_dir: &Path) -> anyhow::Result<Vault> {
        let listed = std::env::var(KEYS_ENV).ok().map(Zeroizing::new);
        // Instances sharing vault keys must share the index key too, or each
        // would make its own and lookups would miss on the others.
        if listed.is_some() && std::env::var_os(INDEX_ENV).is_none() {
            anyhow::bail!(
                "{KEYS_ENV} is set, so set {INDEX_ENV} too (64 hex digits, the same on every instance)"
            );
        }
        crate::config::private_dir(keys_dir)
            .with_context(|| format!("cannot create {}", keys_dir.display()))?;
        let index = BlindIndex::new(key_bytes(INDEX_ENV, &keys_dir.join("vault-index.key"))?);
        let (keys, folder) = match listed {
            Some(list) => (parse_key_list(&list)?, None),
            None => {
                let mut keys = folder_keys(keys_dir)?;
                if keys.is_empty() {
                    keys.insert(1, key_file(&key_path(keys_dir, 1))?);
                }
                (keys, Some(keys_dir.to_owned()))
            }
        };
        Ok(Vault {
            sealer: RwLock::new(Arc::new(Sealer::new(keys)?)),
            index,
            folder,
        })
    }

    /// Seals a value for one column of one row; see `Sealer::seal`.
    pub fn seal(&self, table: &str, column: &str, row_id: &str, plaintext: &str) -> String {
        self.sealing().seal(table, column, row_id, plaintext)
    }

    /// Opens a value sealed for exactly this table, column and row.
    pub fn open(
        &self,
        table: &str,
        column: &str,
        row_id: &str,
        stored: &str,
    ) -> Result<Zeroizing<String>, SealError> {
        self.opening(|s| s.open(table, column, row_id, stored))
    }

    pub fn seal_identity(&self, participant_id: &str, identity: &Identity) -> SealedIdentity {
        self.sealing().seal_identity(participant_id, identity)
    }

    pub fn open_identity(
        &self,
        participant_id: &str,
        sealed: &SealedIdentity,
    ) -> Result<Identity, SealError> {
        self.opening(|s| s.open_identity(participant_id, sealed))
    }

    pub fn email_index(&self, email: &str) -> String {
        self.index.email(email)
    }

    /// The key version a rotation re-encrypts to. With key files, a new key
    /// file, which from now on seals. With `FIELDKIT_VAULT_KEYS` nothing can be
    /// added from here: the highest key listed there (add the new one first).
    pub fn rotation_target(&self) -> anyhow::Result<u16> {
        let Some(dir) = &self.folder else {
            return Ok(self.current().current_version());
        };
        self.reload(dir)?;
        let next = self
            .current()
            .current_version()
            .checked_add(1)
            .context("no vault key versions are left")?;
        key_file(&key_path(dir, next))?;
        self.reload(dir)?;
        Ok(next)
    }

    fn current(&self) -> Arc<Sealer> {
        self.sealer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The sealer to seal with, after taking up a newer key file if one appeared.
    fn sealing(&self) -> Arc<Sealer> {
        let sealer = self.current();
        match &self.folder {
            Some(dir) if key_path(dir, sealer.current_version().saturating_add(1)).exists() => {
                self.reload_or_warn(dir);
                self.current()
            }
            _ => sealer,
        }
    }

    /// Opens with the keys held, re-reading the folder once for an unknown key.
    fn opening<T>(&self, open: impl Fn(&Sealer) -> Result<T, SealError>) -> Result<T, SealError> {
        match (open(&self.current()), &self.folder) {
            (Err(SealError::UnknownKey(_)), Some(dir)) => {
                self.reload_or_warn(dir);
                open(&self.current())
            }
            (result, _) => result,
        }
    }

    fn reload(&self, dir: &Path) -> anyhow::Result<()> {
        let sealer = Arc::new(Sealer::new(folder_keys(dir)?)?);
        *self.sealer.write().unwrap_or_else(PoisonError::into_inner) = sealer;
        Ok(())
    }

    fn reload_or_warn(&self, dir: &Path) {
        if let Err(e) = self.reload(dir) {
            tracing::warn!(error = %e, "could not re-read the vault keys");
        }
    }
}

fn key_path(dir: &Path, version: u16) -> PathBuf {
    dir.join(format!("vault-{version}.key"))
}

/// A key version as written in a file name or `FIELDKIT_VAULT_KEYS`: 1 to 65535.
fn parse_version(text: &str) -> Option<u16> {
    if text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Every `vault-<N>.key` in the folder.
fn folder_keys(dir: &Path) -> anyhow::Result<BTreeMap<u16, VaultKey>> {
    let mut keys = BTreeMap::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let name = entry?.file_name();
        let version = name
            .to_str()
            .and_then(|n| n.strip_prefix("vault-")?.strip_suffix(".key"))
            .and_then(parse_version);
        if let Some(version) = version {
            keys.insert(version, key_file(&key_path(dir, version))?);
        }
    }
    Ok(keys)
}

/// "N:hex,N:hex". The message never repeats the text, which holds keys.
fn parse_key_list(list: &str) -> anyhow::Result<BTreeMap<u16, VaultKey>> {
    let invalid = || {
        anyhow::anyhow!(
            "{KEYS_ENV} must list keys as N:hex separated by commas, each N a different number from 1 and each key 64 hex digits"
        )
    };
    let mut keys = BTreeMap::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (version, hex) = item.split_once(':').ok_or_else(invalid)?;
        let version = parse_version(version.trim()).ok_or_else(invalid)?;
        let key = decode_key(hex).map_err(|_| invalid())?;
        if keys.insert(version, key).is_some() {
            return Err(invalid());
        }
    }
    if keys.is_empty() {
        return Err(invalid());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("fk-vault-{}", uuid::Uuid::new_v4()))
    }

    fn mode(file: &Path) -> u32 {
        std::fs::metadata(file).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn key_files_are_created_private_and_reloaded_unchanged() {
        let dir = temp_dir();
        let first = Vault::load_or_create(&dir).unwrap();
        assert_eq!(mode(&dir.join("vault-1.key")), 0o600);
        assert_eq!(mode(&dir.join("vault-index.key")), 0o600);
        let stored = first.seal("identities", "name_ct", "p1", "Marigold");
        let second = Vault::load_or_create(&dir).unwrap();
        let opened = second.open("identities", "name_ct", "p1", &stored).unwrap();
        assert_eq!(opened.as_str(), "Marigold");
        assert_eq!(first.email_index("a@b.uk"), second.email_index("A@B.uk"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_vault_key_readable_by_others_is_refused() {
        let dir = temp_dir();
        Vault::load_or_create(&dir).unwrap();
        let key = dir.join("vault-1.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = Vault::load_or_create(&dir).err().unwrap().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rotation_adds_a_key_that_seals_while_older_ones_still_open() {
        let dir = temp_dir();
        let vault = Vault::load_or_create(&dir).unwrap();
        let old = vault.seal("identities", "name_ct", "p1", "Marigold");
        let other_process = Vault::load_or_create(&dir).unwrap();
        assert_eq!(vault.rotation_target().unwrap(), 2);
        assert_eq!(mode(&dir.join("vault-2.key")), 0o600);
        assert!(dir.join("vault-1.key").exists());
        let new = vault.seal("identities", "name_ct", "p1", "Marigold");
        assert!(new.starts_with("v2:"), "{new}");
        assert_eq!(
            vault
                .open("identities", "name_ct", "p1", &old)
                .unwrap()
                .as_str(),
            "Marigold"
        );
        // A server started before the rotation opens and seals with the new key.
        let opened = other_process.open("identities", "name_ct", "p1", &new);
        assert_eq!(opened.unwrap().as_str(), "Marigold");
        let sealed = other_process.seal("identities", "name_ct", "p1", "Marigold");
        assert!(sealed.starts_with("v2:"), "{sealed}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_key_list_from_the_environment_parses_and_never_echoes_a_key() {
        let one = "11".repeat(32);
        let two = "22".repeat(32);
        let keys = parse_key_list(&format!(" 2:{two}, 1:{one} ,")).unwrap();
        assert_eq!(keys.keys().copied().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(keys[&2].as_ref(), &[0x22; 32]);
        for bad in [
            String::new(),
            one.clone(),
            format!("0:{one}"),
            format!("1:{one},1:{two}"),
            format!("1:{}", &one[..62]),
            format!("x:{one}"),
        ] {
            let err = format!("{:#}", parse_key_list(&bad).unwrap_err());
            assert!(err.contains(KEYS_ENV), "{err}");
            assert!(!err.contains("1111"), "{err}");
        }
    }

    #[test]
    fn only_vault_key_files_count_as_vault_keys() {
        assert_eq!(parse_version("12"), Some(12));
        for bad in ["", "0", "01", "+1", "index", "65536"] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
    }
}
