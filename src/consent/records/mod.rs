//! Consent records: what each participant agreed to, when and how, with its
//! PDF copy; withdrawals. Records are never changed, only superseded.

pub mod api;
pub mod model;
pub mod pages;
pub mod pdf;
pub mod service;
pub mod store;
