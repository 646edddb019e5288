//! The identity vault owns who participants are: sealed column by column,
//! found by email only through a keyed index, shown only with the reveal
//! permission at their site and a reason, and every reveal audited without the
//! values. It refuses to delete old keys when rotating: backups need them.
//! `Vault::seal`/`open` serve any other secret kept out of clear text.

pub mod keyring;
pub mod model;
pub mod service;
pub mod store;

pub use keyring::Vault;
pub use model::{Identity, IdentityInput, SealError};
pub use service::{erase, find_by_email, reveal, rotate, store_identity, RotationReport};
