//! Entries, their canonical encoding and hashes (RFC 6962 style), checkpoints
//! and the chain verifier. No I/O here.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a caller records; the chain adds sequence, time and hashes.
#[derive(Clone, Debug)]
pub struct NewEntry {
    pub actor: String,
    pub role: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub study_id: Option<String>,
    pub reason: Option<String>,
    pub details: serde_json::Value,
}

impl NewEntry {
    pub fn new(actor: &str, role: &str, action: &str, entity_type: &str, entity_id: &str) -> Self {
        Self {
            actor: actor.into(),
            role: role.into(),
            action: action.into(),
            entity_type: entity_type.into(),
            entity_id: entity_id.into(),
            study_id: None,
            reason: None,
            details: serde_json::json!({}),
        }
    }

    /// An entry for something an actor did in a study, in the role they hold there.
    pub fn by_in_study(
        actor: &crate::auth::model::Actor,
        study: &crate::ids::StudyId,
        action: &str,
        entity_type: &str,
        entity_id: &str,
    ) -> Self {
        Self::new(
            &actor.audit_ref(),
            actor.audit_role(Some(study)),
            action,
            entity_type,
            entity_id,
        )
        .study(study.as_str())
    }

    pub fn study(mut self, study_id: &str) -> Self {
        self.study_id = Some(study_id.into());
        self
    }

    pub fn reason(mut self, reason: Option<&str>) -> Self {
        self.reason = reason.filter(|r| !r.trim().is_empty()).map(str::to_owned);
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, poem_openapi::Object)]
pub struct Entry {
    pub seq: i64,
    /// UTC Unix milliseconds.
    pub at: i64,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub study_id: Option<String>,
    pub reason: Option<String>,
    /// JSON text: old and new values; identities by reference only.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Entry {
    /// Length-prefixed fields in a fixed order, the previous hash included.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.details.len());
        let mut field = |v: Option<&str>| match v {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                out.extend_from_slice(&(s.len() as u64).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        };
        field(Some("fieldkit-audit/v1"));
        field(Some(&self.seq.to_string()));
        field(Some(&self.at.to_string()));
        field(Some(&self.actor));
        field(Some(&self.role));
        field(Some(&self.action));
        field(Some(&self.entity_type));
        field(Some(&self.entity_id));
        field(self.study_id.as_deref());
        field(self.reason.as_deref());
        field(Some(&self.details));
        field(Some(&self.prev_hash));
        out
    }

    /// The leaf hash, SHA-256(0x00 || canonical entry), as RFC 6962 hashes leaves.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(self.canonical());
        hex::encode(h.finalize())
    }
}

/// The RFC 6962 Merkle tree hash over leaf hashes.
pub fn merkle_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(merkle_root(&leaves[..k]));
            h.update(merkle_root(&leaves[k..]));
            h.finalize().into()
        }
    }
}

/// A signed statement: the first `size` entries have this Merkle root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, poem_openapi::Object)]
pub struct Checkpoint {
    pub size: i64,
    pub root: String,
    pub at: i64,
    pub key_id: String,
    pub signature: String,
}

impl Checkpoint {
    fn message(size: i64, root: &str, at: i64) -> String {
        format!("fieldkit-audit-checkpoint/v1\n{size}\n{root}\n{at}\n")
    }

    pub fn sign(size: i64, root: String, at: i64, key: &SigningKey) -> Checkpoint {
        let signature = key.sign(Self::message(size, &root, at).as_bytes());
        Checkpoint {
            size,
            root,
            at,
            key_id: crate::keys::key_id(&key.verifying_key()),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    pub fn signature_valid(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = hex::decode(&self.signature) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&bytes) else {
            return false;
        };
        key.verify(
            Self::message(self.size, &self.root, self.at).as_bytes(),
            &sig,
        )
        .is_ok()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, poem_openapi::Object)]
pub struct VerifyReport {
    pub entries: i64,
    pub checkpoints_checked: i64,
    /// True when every entry and checkpoint checked out.
    pub valid: bool,
    /// The first problem found, naming the entry.
    pub problem: Option<String>,
}

/// Walks entries in order, checking sequence, links, hashes and then every
/// checkpoint against the roots the entries give.
pub struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
    leaves: Vec<[u8; 32]>,
    problem: Option<String>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS_HASH.into(),
            leaves: Vec::new(),
            problem: None,
        }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, e: &Entry) {
        if self.problem.is_some() {
            return;
        }
        let n = self.next_seq;
        self.problem = if e.seq != n {
            Some(if e.seq > n {
                format!(
                    "entry {n} is missing: the chain goes from entry {} to entry {}",
                    n - 1,
                    e.seq
                )
            } else {
                format!("entry {} appears out of order after entry {}", e.seq, n - 1)
            })
        } else if e.prev_hash != self.prev_hash {
            Some(format!(
                "entry {n} does not follow entry {}: its previous hash does not match (entries removed, reordered or rewritten)",
                n - 1
            ))
        } else if e.compute_hash() != e.hash {
            Some(format!(
                "entry {n} has been altered: its contents do not match its hash"
            ))
        } else {
            None
        };
        if self.problem.is_none() {
            let mut leaf = [0u8; 32];
            if hex::decode_to_slice(&e.hash, &mut leaf).is_ok() {
                self.leaves.push(leaf);
            }
            self.prev_hash = e.hash.clone();
            self.next_seq += 1;
        }
    }

    pub fn finish(self, checkpoints: &[Checkpoint], key: &VerifyingKey) -> VerifyReport {
        let entries = self.next_seq - 1;
        let mut problem = self.problem;
        let mut checked = 0;
        for cp in checkpoints {
            if problem.is_some() {
                break;
            }
            checked += 1;
            problem = if !cp.signature_valid(key) {
                Some(format!(
                    "checkpoint at size {} has a bad signature",
                    cp.size
                ))
            } else if cp.size > entries {
                Some(format!(
                    "checkpoint at size {} was signed but the log holds only {entries} entries: entries {} onwards are missing",
                    cp.size,
                    entries + 1
                ))
            } else if hex::encode(merkle_root(&self.leaves[..cp.size as usize])) != cp.root {
                Some(format!(
                    "the first {} entries no longer match the signed checkpoint: the log was rewritten at or before entry {}",
                    cp.size, cp.size
                ))
            } else {
                None
            };
        }
        VerifyReport {
            entries,
            checkpoints_checked: checked,
            valid: problem.is_none(),
            problem,
        }
    }

    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    pub fn root(&self) -> String {
        hex::encode(merkle_root(&self.leaves))
    }

    pub fn size(&self) -> i64 {
        self.leaves.len() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Entry> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = Entry {
                    seq,
                    at: 1_700_000_000_000 + seq,
                    actor: "account:a".into(),
                    role: "admin".into(),
                    action: "study.create".into(),
                    entity_type: "study".into(),
                    entity_id: format!("s{seq}"),
                    study_id: None,
                    reason: None,
                    details: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.compute_hash();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn verify(entries: &[Entry], cps: &[Checkpoint], key: &SigningKey) -> VerifyReport {
        let mut v = ChainVerifier::default();
        entries.iter().for_each(|e| v.push(e));
        v.finish(cps, &key.verifying_key())
    }

    #[test]
    fn an_intact_chain_verifies() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let r = verify(&chain(5), &[], &key);
        assert!(r.valid, "{r:?}");
        assert_eq!(r.entries, 5);
    }

    #[test]
    fn an_altered_byte_is_named() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut c = chain(5);
        c[2].entity_id = "sX".into();
        let r = verify(&c, &[], &key);
        assert_eq!(
            r.problem.unwrap(),
            "entry 3 has been altered: its contents do not match its hash"
        );
    }

    #[test]
    fn a_rewritten_tail_is_caught_by_the_checkpoint() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let good = chain(4);
        let mut v = ChainVerifier::default();
        good.iter().for_each(|e| v.push(e));
        let cp = Checkpoint::sign(4, v.root(), 1, &key);
        // Rebuild the whole chain with different content: every hash is consistent.
        let mut forged = chain(4);
        forged[1].entity_id = "forged".into();
        let mut prev = GENESIS_HASH.to_string();
        for e in forged.iter_mut() {
            e.prev_hash = prev;
            e.hash = e.compute_hash();
            prev = e.hash.clone();
        }
        let r = verify(&forged, &[cp], &key);
        assert!(!r.valid);
        assert!(r.problem.unwrap().contains("signed checkpoint"));
    }

    #[test]
    fn merkle_root_matches_rfc6962_shape() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let c = [3u8; 32];
        let node = |l: [u8; 32], r: [u8; 32]| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(l);
            h.update(r);
            h.finalize().into()
        };
        assert_eq!(merkle_root(&[a, b, c]), node(node(a, b), c));
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_refused() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let cp = Checkpoint::sign(0, hex::encode(merkle_root(&[])), 1, &other);
        let r = verify(&[], &[cp], &key);
        assert!(r.problem.unwrap().contains("bad signature"));
    }
}
