//! The audit trail: an append-only hash chain written in the same transaction
//! as the change it records, Ed25519-signed checkpoints with consistency
//! proofs that leave the database, and a verifier that names the first bad
//! entry. It refuses to hold identity values: every action's details are
//! typed (see `action`), and people are recorded by id or keyed reference only.

pub mod action;
pub mod api;
pub mod model;
pub mod service;
pub mod store;

pub use action::Action;
pub use model::{Author, Checkpoint, Entity, Entry, NewEntry, VerifyReport};
pub use service::{
    append, checkpoint_now, export_log, lock_trail, verify_database, verify_log_file,
};
