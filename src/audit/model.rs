//! Entries, their canonical encoding and hashes (RFC 6962), the Merkle tree
//! over them (its right edge, roots and consistency proofs), checkpoints and
//! the chain verifier. No I/O here.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use super::action::Action;
use crate::ids::{
    AccountId, ApiTokenId, ConsentRecordId, EncounterId, FormVersionId, InstrumentVersionId,
    MediaItemId, MembershipId, ParticipantId, QuoteId, ResponseId, SiteId, StudyId, TeamId,
    TranscriptId,
};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry is about.
#[derive(Clone, Debug)]
pub enum Entity {
    Account(AccountId),
    /// A sign-in name that matches no account, by keyed reference.
    UnknownSignIn(String),
    ApiToken(ApiTokenId),
    Study(StudyId),
    Site(SiteId),
    Team(TeamId),
    Membership(MembershipId),
    Participant(ParticipantId),
    ConsentRecord(ConsentRecordId),
    FormVersion(FormVersionId),
    InstrumentVersion(InstrumentVersionId),
    Response(ResponseId),
    Encounter(EncounterId),
    MediaItem(MediaItemId),
    Transcript(TranscriptId),
    Quote(QuoteId),
    AuditLog,
    VaultKey(u16),
}

impl Entity {
    fn parts(&self) -> (&'static str, String) {
        match self {
            Entity::Account(id) => ("account", id.to_string()),
            Entity::UnknownSignIn(reference) => ("account", reference.clone()),
            Entity::ApiToken(id) => ("api_token", id.to_string()),
            Entity::Study(id) => ("study", id.to_string()),
            Entity::Site(id) => ("site", id.to_string()),
            Entity::Team(id) => ("team", id.to_string()),
            Entity::Membership(id) => ("membership", id.to_string()),
            Entity::Participant(id) => ("participant", id.to_string()),
            Entity::ConsentRecord(id) => ("consent_record", id.to_string()),
            Entity::FormVersion(id) => ("consent_form_version", id.to_string()),
            Entity::InstrumentVersion(id) => ("instrument_version", id.to_string()),
            Entity::Response(id) => ("instrument_response", id.to_string()),
            Entity::Encounter(id) => ("encounter", id.to_string()),
            Entity::MediaItem(id) => ("media_item", id.to_string()),
            Entity::Transcript(id) => ("transcript", id.to_string()),
            Entity::Quote(id) => ("quote", id.to_string()),
            Entity::AuditLog => ("audit_log", "audit_log".into()),
            Entity::VaultKey(v) => ("vault_key", v.to_string()),
        }
    }
}

/// What a caller records; the chain adds sequence, time and hashes. Built
/// only through the constructors below: who acts is an account, a
/// participant, the system or nobody signed in, never a name.
#[derive(Clone, Debug)]
pub struct NewEntry {
    pub(super) actor: String,
    pub(super) role: &'static str,
    pub(super) action: Action,
    pub(super) entity: Entity,
    pub(super) study_id: Option<StudyId>,
    pub(super) reason: Option<String>,
}

/// Whoever an entry is by, as the trail names them: a reference (an account
/// id, never a name or email) and the role they acted in. The signed-in
/// actor (`auth::model::Actor`) is one; the trail needs nothing else of it.
pub trait Author {
    fn audit_ref(&self) -> String;
    fn audit_role(&self, study: Option<&StudyId>) -> &'static str;
}

impl NewEntry {
    fn new(actor: String, role: &'static str, action: Action, entity: Entity) -> Self {
        Self {
            actor,
            role,
            action,
            entity,
            study_id: None,
            reason: None,
        }
    }

    /// Something a signed-in actor did, in the role they hold (in `study`, if given).
    pub fn by(
        actor: &impl Author,
        study: Option<&StudyId>,
        action: Action,
        entity: Entity,
    ) -> Self {
        let mut e = Self::new(actor.audit_ref(), actor.audit_role(study), action, entity);
        e.study_id = study.cloned();
        e
    }

    /// Something an actor did in a study, in the role they hold there.
    pub fn by_in_study(
        actor: &impl Author,
        study: &StudyId,
        action: Action,
        entity: Entity,
    ) -> Self {
        Self::by(actor, Some(study), action, entity)
    }

    /// Something an account did before it was an actor (signing in, setting a password).
    pub fn by_account(
        account: &AccountId,
        role: &'static str,
        action: Action,
        entity: Entity,
    ) -> Self {
        Self::new(format!("account:{account}"), role, action, entity)
    }

    /// Something a participant did through their one-time consent link.
    pub fn by_participant(participant: &ParticipantId, action: Action, entity: Entity) -> Self {
        Self::new(
            format!("participant:{participant}"),
            "participant",
            action,
            entity,
        )
    }

    /// Something fieldkit did by itself.
    pub fn system(action: Action, entity: Entity) -> Self {
        Self::new("system".into(), "system", action, entity)
    }

    /// Something someone not signed in did.
    pub fn anonymous(action: Action, entity: Entity) -> Self {
        Self::new("anonymous".into(), "anonymous", action, entity)
    }

    pub fn study(mut self, study: &StudyId) -> Self {
        self.study_id = Some(study.clone());
        self
    }

    /// Why, in the words of whoever acted; blank is no reason.
    pub fn reason(mut self, reason: Option<&str>) -> Self {
        self.reason = reason.filter(|r| !r.trim().is_empty()).map(str::to_owned);
        self
    }

    /// The entry these values make at `seq`, after `prev_hash`.
    pub fn into_entry(self, seq: i64, at: i64, prev_hash: String) -> Entry {
        let (action, details) = self.action.encode();
        let (entity_type, entity_id) = self.entity.parts();
        let mut e = Entry {
            seq,
            at,
            actor: self.actor,
            role: self.role.to_owned(),
            action,
            entity_type: entity_type.to_owned(),
            entity_id,
            study_id: self.study_id.map(|s| s.to_string()),
            reason: self.reason,
            details,
            prev_hash,
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
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
    #[oai(nullable)]
    pub study_id: Option<String>,
    #[oai(nullable)]
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

type Hash = [u8; 32];

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// A leaf hash from its hex form (an entry's `hash`).
pub fn leaf_from_hex(hash: &str) -> Option<Hash> {
    let mut leaf = [0u8; 32];
    hex::decode_to_slice(hash, &mut leaf).ok()?;
    Some(leaf)
}

fn leaf_of(e: &Entry) -> Option<Hash> {
    leaf_from_hex(&e.hash)
}

/// The RFC 6962 Merkle tree hash over leaf hashes, computed from scratch.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&merkle_root(&leaves[..k]), &merkle_root(&leaves[k..]))
        }
    }
}

/// The largest power of two below `n` (n > 1): where RFC 6962 splits a tree.
fn split(n: usize) -> usize {
    1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The right edge of a Merkle tree: the roots of its perfect subtrees,
/// largest (leftmost) first, one per bit of its size. Enough to add leaves
/// and to compute the root, in O(log n) space, so the whole chain is
/// verified in one pass however many checkpoints it has.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontier {
    size: u64,
    #[serde(with = "hex_hashes")]
    nodes: Vec<Hash>,
}

mod hex_hashes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(nodes: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(nodes.iter().map(hex::encode))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|h| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(h, &mut out).map_err(serde::de::Error::custom)?;
                Ok(out)
            })
            .collect()
    }
}

impl Frontier {
    pub fn size(&self) -> i64 {
        self.size as i64
    }

    /// One node for each 1 bit of the size, as the right edge of a tree of
    /// that size has; anything else (a stored edge edited by hand) is not one.
    pub fn is_well_formed(&self) -> bool {
        self.nodes.len() == self.size.count_ones() as usize
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        let mut size = self.size;
        while size & 1 == 1 {
            let left = self.nodes.pop().expect("a node for every set bit");
            node = node_hash(&left, &node);
            size >>= 1;
        }
        self.nodes.push(node);
        self.size += 1;
    }

    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(last) = nodes.next() else {
            return Sha256::digest([]).into();
        };
        nodes.fold(*last, |acc, left| node_hash(left, &acc))
    }

    fn widths(&self) -> Vec<u64> {
        (0..64)
            .rev()
            .map(|b| 1u64 << b)
            .filter(|w| self.size & w != 0)
            .collect()
    }
}

/// An RFC 6962 (RFC 9162 section 2.1.4) consistency proof that the tree of
/// size `old` is a prefix of the tree of size `new`, made from the old
/// tree's right edge and the leaves added since.
pub fn consistency_proof(old: &Frontier, added: &[Hash]) -> Vec<Hash> {
    let m = old.size;
    let n = m + added.len() as u64;
    if m == 0 || m == n {
        return Vec::new();
    }
    let widths = old.widths();
    let mut starts = Vec::with_capacity(widths.len());
    let mut at = 0;
    for w in &widths {
        starts.push(at);
        at += w;
    }
    // The hash of leaves [start, start + len): an edge subtree of the old
    // tree, or a subtree of the leaves added since (the proof never needs
    // one that straddles the two).
    let hash_of = |start: u64, len: u64| -> Hash {
        if start + len <= m {
            let i = starts
                .iter()
                .zip(&widths)
                .position(|(s, w)| *s == start && *w == len)
                .expect("the old part of a proof is an edge subtree");
            old.nodes[i]
        } else {
            let from = (start - m) as usize;
            merkle_root(&added[from..from + len as usize])
        }
    };
    let mut proof = Vec::new();
    subproof(m, 0, n, true, &hash_of, &mut proof);
    proof
}

fn subproof(
    m: u64,
    start: u64,
    n: u64,
    whole: bool,
    hash_of: &dyn Fn(u64, u64) -> Hash,
    out: &mut Vec<Hash>,
) {
    if m == n {
        if !whole {
            out.push(hash_of(start, n));
        }
        return;
    }
    let k = split(n as usize) as u64;
    if m <= k {
        subproof(m, start, k, whole, hash_of, out);
        out.push(hash_of(start + k, n - k));
    } else {
        subproof(m - k, start + k, n - k, false, hash_of, out);
        out.push(hash_of(start, k));
    }
}

/// Checks a consistency proof (RFC 9162 section 2.1.4.2): the tree of size
/// `old` with root `old_root` is a prefix of the tree of size `new` with root
/// `new_root`.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        // The empty tree is a prefix of any tree, if it is the empty tree.
        return proof.is_empty() && *old_root == merkle_root(&[]);
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if old.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *old_root && sr == *new_root
}

/// A proof that the tree of an earlier checkpoint is a prefix of this one's:
/// with both roots, anyone can check that the trail only grew in between.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, poem_openapi::Object)]
pub struct Consistency {
    /// The size of the earlier checkpoint.
    pub from_size: i64,
    /// The RFC 9162 (section 2.1.4) consistency proof, hex hashes in order.
    pub proof: Vec<String>,
}

impl Consistency {
    /// Checks the proof between the earlier checkpoint and this one.
    pub fn holds(&self, earlier: &Checkpoint, later: &Checkpoint) -> bool {
        let proof: Option<Vec<Hash>> = self
            .proof
            .iter()
            .map(|h| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(h, &mut out).ok().map(|_| out)
            })
            .collect();
        match (proof, earlier.root_bytes(), later.root_bytes()) {
            (Some(proof), Some(old), Some(new)) => {
                earlier.size == self.from_size
                    && verify_consistency(
                        earlier.size as u64,
                        later.size as u64,
                        &old,
                        &new,
                        &proof,
                    )
            }
            _ => false,
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
    /// Proof that the previous checkpoint's tree is a prefix of this one's
    /// (not signed: it proves itself against the two signed roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub consistency: Option<Consistency>,
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
            consistency: None,
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

    fn root_bytes(&self) -> Option<Hash> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.root, &mut out).ok()?;
        Some(out)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, poem_openapi::Object)]
pub struct VerifyReport {
    /// The entries the chain holds, as far as it was read.
    pub entries: i64,
    /// The entry verification started from: 1 for the whole chain, or the
    /// size of the signed checkpoint an incremental verification resumed at.
    pub from: i64,
    pub checkpoints_checked: i64,
    /// True when every entry and checkpoint checked out.
    pub valid: bool,
    /// The first problem found, naming the entry.
    #[oai(nullable)]
    pub problem: Option<String>,
}

/// Where a verification resumes: the size of a signed checkpoint, and the
/// tree's right edge just before that checkpoint's last entry. The entry at
/// `size` is read again and must, pushed onto `prefix`, give the signed root,
/// which binds both the stored edge and that entry to the signature.
#[derive(Clone, Debug)]
pub struct Resume {
    pub size: i64,
    pub prefix: Frontier,
}

/// Walks entries in order in one pass, checking sequence, links, hashes and
/// each signed checkpoint as the chain reaches its size.
pub struct ChainVerifier {
    key: VerifyingKey,
    /// Checkpoints not reached yet, smallest first.
    pending: Vec<Checkpoint>,
    from: i64,
    next_seq: i64,
    /// None when resuming: the first entry read is bound by the checkpoint instead.
    prev_hash: Option<String>,
    frontier: Frontier,
    /// The right edge before the last leaf pushed.
    last_prefix: Frontier,
    /// The right edge before the last leaf, for each checkpoint reached.
    reached: Vec<(i64, Frontier)>,
    checked: i64,
    problem: Option<String>,
}

impl ChainVerifier {
    /// Verifies from the first entry.
    pub fn new(mut checkpoints: Vec<Checkpoint>, key: VerifyingKey) -> Self {
        checkpoints.sort_by_key(|c| std::cmp::Reverse(c.size));
        let mut v = ChainVerifier {
            key,
            pending: checkpoints,
            from: 1,
            next_seq: 1,
            prev_hash: Some(GENESIS_HASH.into()),
            frontier: Frontier::default(),
            last_prefix: Frontier::default(),
            reached: Vec::new(),
            checked: 0,
            problem: None,
        };
        v.check_reached();
        v
    }

    /// Verifies from a signed checkpoint onwards; checkpoints at or below
    /// its size other than it are taken as checked before.
    pub fn resume(resume: Resume, checkpoints: Vec<Checkpoint>, key: VerifyingKey) -> Self {
        let later: Vec<Checkpoint> = checkpoints
            .into_iter()
            .filter(|c| c.size >= resume.size)
            .collect();
        let mut v = Self::new(later, key);
        v.from = resume.size;
        v.next_seq = resume.size;
        v.prev_hash = None;
        v.frontier = resume.prefix;
        v
    }

    /// Checks the checkpoints the chain has just reached.
    fn check_reached(&mut self) {
        while self.problem.is_none()
            && self
                .pending
                .last()
                .is_some_and(|c| c.size <= self.frontier.size())
        {
            let cp = self.pending.pop().expect("checked above");
            self.checked += 1;
            self.problem = if !cp.signature_valid(&self.key) {
                Some(format!(
                    "checkpoint at size {} has a bad signature",
                    cp.size
                ))
            } else if cp.root_bytes() != Some(self.frontier.root()) {
                Some(format!(
                    "the first {} entries no longer match the signed checkpoint: the log was rewritten at or before entry {}",
                    cp.size, cp.size
                ))
            } else {
                None
            };
        }
    }

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
        } else if self.prev_hash.as_ref().is_some_and(|p| *p != e.prev_hash) {
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
        if self.problem.is_some() {
            return;
        }
        let Some(leaf) = leaf_of(e) else {
            self.problem = Some(format!("entry {n} has a malformed hash"));
            return;
        };
        self.last_prefix.clone_from(&self.frontier);
        self.frontier.push(leaf);
        if self
            .pending
            .last()
            .is_some_and(|c| c.size == self.frontier.size())
        {
            self.reached
                .push((self.frontier.size(), self.last_prefix.clone()));
        }
        self.prev_hash = Some(e.hash.clone());
        self.next_seq += 1;
        self.check_reached();
    }

    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The right edge before the last entry pushed, to resume from once the
    /// tree as it stands now is signed.
    pub fn last_prefix(&self) -> &Frontier {
        &self.last_prefix
    }

    /// The right edges before the last leaf of each checkpoint reached, to
    /// resume later verifications from.
    pub fn reached(&self) -> &[(i64, Frontier)] {
        &self.reached
    }

    /// The report; checkpoints beyond the end of the chain are a problem.
    pub fn finish(&self) -> VerifyReport {
        let entries = self.frontier.size();
        let mut problem = self.problem.clone();
        let mut checked = self.checked;
        if problem.is_none() {
            if let Some(cp) = self.pending.iter().min_by_key(|c| c.size) {
                checked += 1;
                problem = Some(format!(
                    "checkpoint at size {} was signed but the log holds only {entries} entries: entries {} onwards are missing",
                    cp.size,
                    entries + 1
                ));
            }
        }
        VerifyReport {
            entries,
            from: self.from,
            checkpoints_checked: checked,
            valid: problem.is_none(),
            problem,
        }
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

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn verify(entries: &[Entry], cps: &[Checkpoint]) -> VerifyReport {
        let mut v = ChainVerifier::new(cps.to_vec(), key().verifying_key());
        entries.iter().for_each(|e| v.push(e));
        v.finish()
    }

    fn checkpoint(entries: &[Entry]) -> Checkpoint {
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_of(e).unwrap()).collect();
        Checkpoint::sign(
            entries.len() as i64,
            hex::encode(merkle_root(&leaves)),
            1,
            &key(),
        )
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| Sha256::digest((i as u64).to_be_bytes()).into())
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let r = verify(&chain(5), &[]);
        assert!(r.valid, "{r:?}");
        assert_eq!(r.entries, 5);
    }

    #[test]
    fn an_altered_byte_is_named() {
        let mut c = chain(5);
        c[2].entity_id = "sX".into();
        let r = verify(&c, &[]);
        assert_eq!(
            r.problem.unwrap(),
            "entry 3 has been altered: its contents do not match its hash"
        );
    }

    #[test]
    fn a_rewritten_tail_is_caught_by_the_checkpoint() {
        let cp = checkpoint(&chain(4));
        // Rebuild the whole chain with different content: every hash is consistent.
        let mut forged = chain(4);
        forged[1].entity_id = "forged".into();
        let mut prev = GENESIS_HASH.to_string();
        for e in forged.iter_mut() {
            e.prev_hash = prev;
            e.hash = e.compute_hash();
            prev = e.hash.clone();
        }
        let r = verify(&forged, &[cp]);
        assert!(!r.valid);
        assert!(r.problem.unwrap().contains("signed checkpoint"));
    }

    #[test]
    fn every_checkpoint_is_checked_in_one_pass() {
        let c = chain(20);
        let cps: Vec<Checkpoint> = [3, 8, 13, 20]
            .iter()
            .map(|n| checkpoint(&c[..*n]))
            .collect();
        let r = verify(&c, &cps);
        assert!(r.valid, "{r:?}");
        assert_eq!(r.checkpoints_checked, 4);
        let r = verify(&c[..10], &cps);
        assert!(r
            .problem
            .unwrap()
            .contains("checkpoint at size 13 was signed"));
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_refused() {
        let other = SigningKey::from_bytes(&[8; 32]);
        let cp = Checkpoint::sign(0, hex::encode(merkle_root(&[])), 1, &other);
        let r = verify(&[], &[cp]);
        assert!(r.problem.unwrap().contains("bad signature"));
    }

    #[test]
    fn merkle_root_matches_rfc6962_shape() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let c = [3u8; 32];
        assert_eq!(merkle_root(&[a, b, c]), node_hash(&node_hash(&a, &b), &c));
    }

    #[test]
    fn the_right_edge_gives_every_root_of_the_full_computation() {
        let all = leaves(70);
        let mut f = Frontier::default();
        assert_eq!(f.root(), merkle_root(&[]));
        for (i, leaf) in all.iter().enumerate() {
            f.push(*leaf);
            assert_eq!(f.root(), merkle_root(&all[..=i]), "size {}", i + 1);
        }
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Frontier>(&text).unwrap(), f);
    }

    #[test]
    fn consistency_proofs_hold_for_every_prefix_and_fail_for_a_changed_one() {
        let all = leaves(33);
        for n in 1..=all.len() {
            let new_root = merkle_root(&all[..n]);
            for m in 0..=n {
                let mut old = Frontier::default();
                all[..m].iter().for_each(|l| old.push(*l));
                let proof = consistency_proof(&old, &all[m..n]);
                let old_root = merkle_root(&all[..m]);
                assert!(
                    verify_consistency(m as u64, n as u64, &old_root, &new_root, &proof),
                    "{m} -> {n}"
                );
                if m > 0 && m < n {
                    let mut changed = all[..n].to_vec();
                    changed[m - 1][0] ^= 1;
                    let forged_root = merkle_root(&changed);
                    assert!(
                        !verify_consistency(m as u64, n as u64, &old_root, &forged_root, &proof),
                        "{m} -> {n} accepted a changed tree"
                    );
                }
            }
        }
    }

    #[test]
    fn a_resumed_verification_binds_the_entry_at_the_checkpoint() {
        let c = chain(12);
        let cp8 = checkpoint(&c[..8]);
        let cp12 = checkpoint(&c);
        let mut full = ChainVerifier::new(vec![cp8.clone()], key().verifying_key());
        c[..8].iter().for_each(|e| full.push(e));
        let (size, prefix) = full.reached()[0].clone();
        assert_eq!(size, 8);
        let resume = || Resume {
            size: 8,
            prefix: prefix.clone(),
        };
        let mut v = ChainVerifier::resume(
            resume(),
            vec![cp8.clone(), cp12.clone()],
            key().verifying_key(),
        );
        c[7..].iter().for_each(|e| v.push(e));
        let r = v.finish();
        assert!(r.valid, "{r:?}");
        assert_eq!((r.from, r.entries, r.checkpoints_checked), (8, 12, 2));
        // The entry at the checkpoint rewritten, hash recomputed: the signed root refuses it.
        let mut forged = c[7].clone();
        forged.entity_id = "forged".into();
        forged.hash = forged.compute_hash();
        let mut v = ChainVerifier::resume(resume(), vec![cp8], key().verifying_key());
        v.push(&forged);
        assert!(v.finish().problem.unwrap().contains("signed checkpoint"));
    }
}
