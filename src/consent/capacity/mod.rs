//! Capacity under the Mental Capacity Act 2005 (C7): assessments per decision,
//! a consultee's advice for someone who lacks capacity (s.32), objections that
//! withdraw at once (s.33), and the flag raised when capacity may have changed.

pub mod api;
pub mod model;
pub mod pages;
pub mod service;
pub mod store;
