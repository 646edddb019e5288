//! The media store every capability shares: recordings and photos from
//! fieldwork, scans of paper consent forms, transcripts as imported.
//!
//! - Uploads stream to disk through `upload` (multer, with limits), are
//!   hashed while they stream, checked against their declared kind
//!   (`kind`, from the bytes), stripped of location if photos, and
//!   encrypted (`crypt`) under a data key of their own, which the vault
//!   seals. A copied media folder holds nothing anyone can play.
//! - A file is placed in the same transaction as the record that refers to
//!   it (`service`); a refused upload leaves nothing behind.
//! - `download` sends any byte range back, decrypted segment by segment.
//! - Erasure destroys the data key inside the transaction that decides it;
//!   `service::sweep` deletes the files afterwards.

pub mod crypt;
pub mod download;
pub mod kind;
pub mod service;
pub mod store;
pub mod upload;
