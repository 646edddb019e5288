//! Consent records as researchers and participants take them: consent taken
//! in person, by phone or on paper, online consent through a one-time link,
//! invitations, a researcher recording a withdrawal, and reading the records
//! and their PDF copies. Writing goes through the kernel; records are never
//! changed, only superseded.

pub mod api;
pub mod interface;
pub mod pages;
pub mod service;
pub mod steps;
pub mod store;
