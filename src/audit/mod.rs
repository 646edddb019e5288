//! The audit trail: an append-only hash chain written in the same transaction
//! as the change it records, Ed25519-signed checkpoints that leave the database,
//! and a verifier that names the first bad entry. It refuses to hold identity
//! values: callers record people by id or keyed reference only.

pub mod api;
pub mod model;
pub mod service;
pub mod store;

pub use model::{Checkpoint, Entry, NewEntry, VerifyReport};
pub use service::{append, checkpoint_now, export_log, verify_database, verify_log_file};
