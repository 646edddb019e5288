//! Sealing values under versioned keys, the blind index, and the identity they
//! protect. No I/O here.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::auth::model::{parse_display_name, Email};
use crate::error::{AppError, FieldProblem};

/// A vault key: 256 bits, wiped from memory when dropped.
pub type VaultKey = Zeroizing<[u8; 32]>;

/// Why a stored value did not open. None of them says anything about the value.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the stored value is not in the vault's format")]
    Malformed,
    #[error("the value was sealed with vault key {0}, which this server does not have")]
    UnknownKey(u16),
    #[error(
        "the value does not open: another key, or it was changed or moved since it was sealed"
    )]
    DoesNotOpen,
}

const FORMAT: &str = "fieldkit-vault/v1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// What a sealed value is bound to, length-prefixed so no two bindings share an
/// encoding: a value moved to another table, column or row, or relabelled with
/// another key version, no longer opens.
fn associated_data(table: &str, column: &str, row_id: &str, version: u16) -> Vec<u8> {
    let version = version.to_string();
    let mut out = Vec::with_capacity(64 + row_id.len());
    for part in [FORMAT, table, column, row_id, &version] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// "v<N>:<body>" with N written as the sealer writes it (no sign, no leading zero).
fn split_stored(stored: &str) -> Result<(u16, &str), SealError> {
    let (version, body) = stored
        .strip_prefix('v')
        .and_then(|s| s.split_once(':'))
        .ok_or(SealError::Malformed)?;
    if version.starts_with('0') || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SealError::Malformed);
    }
    let version = version.parse().map_err(|_| SealError::Malformed)?;
    Ok((version, body))
}

/// Seals with the newest of its keys and opens with whichever key sealed.
pub struct Sealer {
    keys: BTreeMap<u16, VaultKey>,
    current: u16,
}

impl Sealer {
    /// `keys` by version, from 1 up; the highest version seals.
    pub fn new(keys: BTreeMap<u16, VaultKey>) -> anyhow::Result<Sealer> {
        anyhow::ensure!(!keys.contains_key(&0), "vault key versions start at 1");
        let Some(&current) = keys.keys().next_back() else {
            anyhow::bail!("there is no vault key");
        };
        Ok(Sealer { keys, current })
    }

    pub fn current_version(&self) -> u16 {
        self.current
    }

    fn cipher(&self, version: u16) -> Result<XChaCha20Poly1305, SealError> {
        let key = self
            .keys
            .get(&version)
            .ok_or(SealError::UnknownKey(version))?;
        Ok(XChaCha20Poly1305::new(key.as_ref().into()))
    }

    /// Seals `plaintext` for one column of one row, as
    /// "v<key version>:<base64url(nonce || ciphertext)>" with a fresh random nonce.
    pub fn seal(&self, table: &str, column: &str, row_id: &str, plaintext: &str) -> String {
        let version = self.current;
        let cipher = self.cipher(version).expect("the current key is held");
        let nonce = XChaCha20Poly1305::generate_nonce(&mut rand::thread_rng());
        let aad = associated_data(table, column, row_id, version);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: &aad,
        };
        let sealed = cipher
            .encrypt(&nonce, payload)
            .expect("XChaCha20-Poly1305 seals any length a String can hold");
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&sealed);
        format!("v{version}:{}", URL_SAFE_NO_PAD.encode(raw))
    }

    /// Opens what `seal` made for exactly this table, column and row.
    pub fn open(
        &self,
        table: &str,
        column: &str,
        row_id: &str,
        stored: &str,
    ) -> Result<Zeroizing<String>, SealError> {
        let (version, body) = split_stored(stored)?;
        let cipher = self.cipher(version)?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Malformed)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let aad = associated_data(table, column, row_id, version);
        let payload = Payload {
            msg: sealed,
            aad: &aad,
        };
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| SealError::DoesNotOpen)?;
        String::from_utf8(plain).map(Zeroizing::new).map_err(|e| {
            e.into_bytes().zeroize();
            SealError::Malformed
        })
    }

    /// Seals each detail of an identity into its own column of `identities`.
    pub fn seal_identity(&self, participant_id: &str, identity: &Identity) -> SealedIdentity {
        let values = identity
            .values()
            .map(|(column, value)| value.map(|v| self.seal(TABLE, column, participant_id, v)));
        SealedIdentity {
            key_version: self.current,
            values,
        }
    }

    pub fn open_identity(
        &self,
        participant_id: &str,
        sealed: &SealedIdentity,
    ) -> Result<Identity, SealError> {
        let mut opened: [Option<String>; 5] = Default::default();
        for ((column, stored), slot) in COLUMNS.iter().zip(&sealed.values).zip(&mut opened) {
            if let Some(stored) = stored {
                let mut value = self.open(TABLE, column, participant_id, stored)?;
                *slot = Some(std::mem::take(&mut *value));
            }
        }
        let [name, email, phone, date_of_birth, notes] = opened;
        Ok(Identity {
            name: name.ok_or(SealError::Malformed)?,
            email,
            phone,
            date_of_birth,
            notes,
        })
    }
}

/// Keyed HMAC-SHA256 of an email address, so the vault can be searched by
/// address without holding it in clear. Its key is not a sealing key.
pub struct BlindIndex {
    key: VaultKey,
}

impl BlindIndex {
    pub fn new(key: VaultKey) -> BlindIndex {
        BlindIndex { key }
    }

    /// Hex HMAC of the trimmed, lower-cased address: the same address always
    /// gives the same index, whatever its case.
    pub fn email(&self, email: &str) -> String {
        let normal = Zeroizing::new(email.trim().to_lowercase());
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_ref()).expect("any key length");
        mac.update(normal.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

pub const TABLE: &str = "identities";

/// The sealed columns, in the order of `Identity::values`.
pub const COLUMNS: [&str; 5] = [
    "name_ct",
    "email_ct",
    "phone_ct",
    "date_of_birth_ct",
    "notes_ct",
];

/// An identity as the database holds it: one sealed value (or none) per column.
pub struct SealedIdentity {
    pub key_version: u16,
    /// By `COLUMNS`.
    pub values: [Option<String>; 5],
}

/// Who a participant is. Made only by `IdentityInput::parse` or by opening the
/// vault. `Debug` shows which details are present, never what they are, and the
/// memory is wiped when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    name: String,
    email: Option<String>,
    phone: Option<String>,
    date_of_birth: Option<String>,
    notes: Option<String>,
}

/// The details as people name them, in the order of `COLUMNS`.
const FIELDS: [&str; 5] = ["name", "email", "phone", "date_of_birth", "notes"];

impl Identity {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Trimmed and lower-cased.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    pub fn phone(&self) -> Option<&str> {
        self.phone.as_deref()
    }

    /// YYYY-MM-DD.
    pub fn date_of_birth(&self) -> Option<&str> {
        self.date_of_birth.as_deref()
    }

    pub fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }

    /// (column, value) pairs in the order of `COLUMNS`.
    fn values(&self) -> [(&'static str, Option<&str>); 5] {
        [
            (COLUMNS[0], Some(self.name.as_str())),
            (COLUMNS[1], self.email()),
            (COLUMNS[2], self.phone()),
            (COLUMNS[3], self.date_of_birth()),
            (COLUMNS[4], self.notes()),
        ]
    }

    /// The names of the details this identity has, for the audit trail.
    pub fn fields_present(&self) -> Vec<&'static str> {
        FIELDS
            .iter()
            .zip(self.values())
            .filter(|(_, (_, value))| value.is_some())
            .map(|(field, _)| *field)
            .collect()
    }

    /// Whether free text repeats the name, email, phone or date of birth
    /// (ignoring case), so such text can be kept out of the audit trail.
    pub fn appears_in(&self, text: &str) -> bool {
        let text = Zeroizing::new(text.to_lowercase());
        [
            Some(self.name.as_str()),
            self.email(),
            self.phone(),
            self.date_of_birth(),
        ]
        .into_iter()
        .flatten()
        .any(|value| text.contains(Zeroizing::new(value.to_lowercase()).as_str()))
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("Identity");
        for (field, (_, value)) in FIELDS.iter().zip(self.values()) {
            out.field(field, &value.map(|_| "[redacted]"));
        }
        out.finish()
    }
}

impl Drop for Identity {
    fn drop(&mut self) {
        self.name.zeroize();
        self.email.zeroize();
        self.phone.zeroize();
        self.date_of_birth.zeroize();
        self.notes.zeroize();
    }
}

/// Identity details as typed, before checking. Empty optional details count as absent.
pub struct IdentityInput<'a> {
    pub name: &'a str,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    /// YYYY-MM-DD.
    pub date_of_birth: Option<&'a str>,
    pub notes: Option<&'a str>,
}

impl IdentityInput<'_> {
    /// Checks every detail and names each one that is wrong.
    pub fn parse(&self) -> Result<Identity, AppError> {
        let mut problems = Vec::new();
        let mut check = |field: &str, result: Result<String, String>| {
            result
                .map_err(|detail| {
                    problems.push(FieldProblem {
                        field: field.into(),
                        detail,
                    })
                })
                .ok()
        };
        let name = check("name", parse_display_name(self.name));
        let email = optional(self.email)
            .and_then(|e| check("email", Email::parse(e).map(|e| e.as_str().to_owned())));
        let phone = optional(self.phone).and_then(|p| check("phone", parse_phone(p)));
        let date_of_birth = optional(self.date_of_birth)
            .and_then(|d| check("date_of_birth", parse_date_of_birth(d)));
        let notes = optional(self.notes).and_then(|n| check("notes", parse_notes(n)));
        match name {
            Some(name) if problems.is_empty() => Ok(Identity {
                name,
                email,
                phone,
                date_of_birth,
                notes,
            }),
            _ => Err(AppError::Invalid(problems)),
        }
    }
}

fn optional(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|s| !s.is_empty())
}

/// 6 to 15 digits (E.164 allows 15), with the spaces, brackets, hyphens and
/// leading + that people write.
fn parse_phone(raw: &str) -> Result<String, String> {
    let digits = raw.chars().filter(char::is_ascii_digit).count();
    let body = raw.strip_prefix('+').unwrap_or(raw);
    let allowed = body
        .chars()
        .all(|c| c.is_ascii_digit() || " -()".contains(c));
    if allowed && (6..=15).contains(&digits) {
        Ok(raw.to_owned())
    } else {
        Err("Enter a phone number of 6 to 15 digits; spaces, brackets, hyphens and a leading + are fine.".into())
    }
}

/// A real calendar date written YYYY-MM-DD, from 1900 on.
fn parse_date_of_birth(raw: &str) -> Result<String, String> {
    use chrono::Datelike;
    match crate::clock::parse_day(raw) {
        Some(d) if d.year() >= 1900 => Ok(raw.to_owned()),
        _ => Err("Enter the date of birth as YYYY-MM-DD, for example 1984-03-27.".into()),
    }
}

/// Free text of at most 2000 characters; line breaks and tabs are fine.
fn parse_notes(raw: &str) -> Result<String, String> {
    let control = raw.chars().any(|c| c.is_control() && !"\n\r\t".contains(c));
    if control || raw.chars().count() > 2000 {
        Err("Notes are at most 2000 characters of text.".into())
    } else {
        Ok(raw.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> VaultKey {
        Zeroizing::new([byte; 32])
    }

    fn sealer(versions: &[u16]) -> Sealer {
        Sealer::new(versions.iter().map(|&v| (v, key(v as u8))).collect()).unwrap()
    }

    fn identity() -> Identity {
        IdentityInput {
            name: " Marigold Featherstonehaugh ",
            email: Some("Marigold.F@Example.org"),
            phone: Some("+44 7700 900123"),
            date_of_birth: Some("1984-03-27"),
            notes: Some("Prefers calls after 4pm.\nHas a dog."),
        }
        .parse()
        .unwrap()
    }

    #[test]
    fn a_sealed_value_opens_again() {
        let s = sealer(&[1]);
        let stored = s.seal("identities", "name_ct", "p1", "Marigold");
        assert!(stored.starts_with("v1:"), "{stored}");
        assert!(!stored.contains("Marigold"));
        let opened = s.open("identities", "name_ct", "p1", &stored).unwrap();
        assert_eq!(opened.as_str(), "Marigold");
        assert_eq!(
            s.open("t", "c", "r", &s.seal("t", "c", "r", ""))
                .unwrap()
                .as_str(),
            ""
        );
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let s = sealer(&[1]);
        assert_ne!(
            s.seal("identities", "name_ct", "p1", "Marigold"),
            s.seal("identities", "name_ct", "p1", "Marigold")
        );
    }

    #[test]
    fn a_value_moved_to_another_row_column_or_table_does_not_open() {
        let s = sealer(&[1]);
        let stored = s.seal("identities", "name_ct", "p1", "Marigold");
        for (table, column, row) in [
            ("identities", "name_ct", "p2"),
            ("identities", "notes_ct", "p1"),
            ("consent_records", "name_ct", "p1"),
        ] {
            assert_eq!(
                s.open(table, column, row, &stored).unwrap_err(),
                SealError::DoesNotOpen,
                "{table}.{column} row {row}"
            );
        }
    }

    #[test]
    fn a_changed_value_does_not_open() {
        let s = sealer(&[1]);
        let stored = s.seal("identities", "name_ct", "p1", "Marigold");
        let raw = URL_SAFE_NO_PAD.decode(&stored[3..]).unwrap();
        for at in [0, NONCE_LEN, raw.len() - 1] {
            let mut changed = raw.clone();
            changed[at] ^= 1;
            let tampered = format!("v1:{}", URL_SAFE_NO_PAD.encode(changed));
            assert_eq!(
                s.open("identities", "name_ct", "p1", &tampered)
                    .unwrap_err(),
                SealError::DoesNotOpen,
                "byte {at}"
            );
        }
        let truncated = format!("v1:{}", URL_SAFE_NO_PAD.encode(&raw[..raw.len() - 1]));
        assert!(s.open("identities", "name_ct", "p1", &truncated).is_err());
    }

    #[test]
    fn a_value_relabelled_with_another_key_version_does_not_open() {
        let s = sealer(&[1, 2]);
        let stored = s.seal("identities", "name_ct", "p1", "Marigold");
        assert!(stored.starts_with("v2:"));
        let relabelled = stored.replacen("v2:", "v1:", 1);
        assert_eq!(
            s.open("identities", "name_ct", "p1", &relabelled)
                .unwrap_err(),
            SealError::DoesNotOpen
        );
        let unknown = stored.replacen("v2:", "v3:", 1);
        assert_eq!(
            s.open("identities", "name_ct", "p1", &unknown).unwrap_err(),
            SealError::UnknownKey(3)
        );
    }

    #[test]
    fn a_value_sealed_with_another_key_does_not_open() {
        let stored = sealer(&[1]).seal("identities", "name_ct", "p1", "Marigold");
        let other = Sealer::new([(1, key(9))].into()).unwrap();
        assert_eq!(
            other
                .open("identities", "name_ct", "p1", &stored)
                .unwrap_err(),
            SealError::DoesNotOpen
        );
    }

    #[test]
    fn older_keys_still_open_what_they_sealed_and_the_newest_seals() {
        let old = sealer(&[1]).seal("identities", "name_ct", "p1", "Marigold");
        let s = sealer(&[1, 2]);
        assert_eq!(s.current_version(), 2);
        assert_eq!(
            s.open("identities", "name_ct", "p1", &old)
                .unwrap()
                .as_str(),
            "Marigold"
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        let s = sealer(&[1]);
        for bad in [
            "",
            "Marigold",
            "v1",
            "v:abc",
            "v01:abc",
            "v+1:abc",
            "v1:***",
            "v1:AAAA",
            "v99999999:AAAA",
        ] {
            assert_eq!(
                s.open("identities", "name_ct", "p1", bad).unwrap_err(),
                SealError::Malformed,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_sealer_needs_keys_numbered_from_one() {
        assert!(Sealer::new(BTreeMap::new()).is_err());
        assert!(Sealer::new([(0, key(0))].into()).is_err());
    }

    #[test]
    fn an_identity_opens_only_for_its_own_row() {
        let s = sealer(&[1]);
        let sealed = s.seal_identity("p1", &identity());
        assert_eq!(sealed.key_version, 1);
        assert_eq!(s.open_identity("p1", &sealed).unwrap(), identity());
        assert_eq!(
            s.open_identity("p2", &sealed).unwrap_err(),
            SealError::DoesNotOpen
        );
        let mut swapped = s.seal_identity("p1", &identity());
        swapped.values.swap(0, 4);
        assert_eq!(
            s.open_identity("p1", &swapped).unwrap_err(),
            SealError::DoesNotOpen
        );
    }

    #[test]
    fn the_blind_index_is_stable_keyed_and_ignores_case_and_spaces() {
        let index = BlindIndex::new(key(7));
        let a = index.email("marigold.f@example.org");
        assert_eq!(a, index.email("  Marigold.F@EXAMPLE.org "));
        assert_eq!(a, BlindIndex::new(key(7)).email("marigold.f@example.org"));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("marigold"));
        assert_ne!(a, index.email("marigold.g@example.org"));
        assert_ne!(a, BlindIndex::new(key(8)).email("marigold.f@example.org"));
    }

    #[test]
    fn debug_redacts_every_value() {
        let shown = format!("{:?}", identity());
        for value in ["Marigold", "example", "7700", "1984", "dog"] {
            assert!(!shown.contains(value), "{shown}");
        }
        assert!(shown.contains("name: Some(\"[redacted]\")"), "{shown}");
    }

    #[test]
    fn details_are_normalised_and_only_present_ones_are_named() {
        let id = identity();
        assert_eq!(id.name(), "Marigold Featherstonehaugh");
        assert_eq!(id.email(), Some("marigold.f@example.org"));
        assert_eq!(
            id.fields_present(),
            ["name", "email", "phone", "date_of_birth", "notes"]
        );
        let name_only = IdentityInput {
            name: "Ana",
            email: Some("  "),
            phone: None,
            date_of_birth: Some(""),
            notes: None,
        }
        .parse()
        .unwrap();
        assert_eq!(name_only.fields_present(), ["name"]);
        assert_eq!(name_only.email(), None);
    }

    #[test]
    fn every_bad_detail_is_named() {
        let err = IdentityInput {
            name: " ",
            email: Some("not-an-address"),
            phone: Some("call me"),
            date_of_birth: Some("1984-02-30"),
            notes: Some("bell\u{7}"),
        }
        .parse()
        .unwrap_err();
        let fields: Vec<&str> = err
            .field_problems()
            .iter()
            .map(|p| p.field.as_str())
            .collect();
        assert_eq!(fields, ["name", "email", "phone", "date_of_birth", "notes"]);
    }

    #[test]
    fn dates_of_birth_are_real_dates_written_yyyy_mm_dd() {
        for good in ["1984-03-27", "2000-02-29", "1900-01-01"] {
            assert!(parse_date_of_birth(good).is_ok(), "{good}");
        }
        for bad in [
            "27/03/1984",
            "1984-3-27",
            "1984-02-30",
            "1899-12-31",
            "1984-03-27T00:00",
            "+1984-03-27",
        ] {
            assert!(parse_date_of_birth(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phone_numbers_are_digits_with_common_punctuation() {
        for good in ["07700 900123", "+44 (0)7700-900123", "020 7946 0000"] {
            assert!(parse_phone(good).is_ok(), "{good}");
        }
        for bad in [
            "12345",
            "0770090012345678",
            "07700 900123 ext",
            "++447700900123",
        ] {
            assert!(parse_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn free_text_repeating_a_detail_is_noticed() {
        let id = identity();
        assert!(id.appears_in("Phoned MARIGOLD FEATHERSTONEHAUGH about the visit"));
        assert!(id.appears_in("wrote to marigold.f@example.org"));
        assert!(!id.appears_in("Arranging a follow-up interview"));
    }
}
