//! The ethics reviewer's consent register: one row per consent record of a
//! study with its status, the withdrawals, filters, a CSV copy (audited), and
//! each record's audit entries. Study codes only: no identity, no research content.

pub mod api;
pub mod model;
pub mod pages;
pub mod service;
pub mod store;
