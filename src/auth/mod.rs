//! Accounts, passwords, a second factor, sessions, sign-in throttling, API
//! tokens, roles and the access policy. It owns who someone is and what they may do; it refuses to
//! store secrets in clear or to name people in the audit trail.

pub mod api;
pub mod model;
pub mod pages;
pub mod password;
pub mod policy;
pub mod second_factor;
pub mod service;
pub mod store;
