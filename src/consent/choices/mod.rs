//! Re-consent and changes of mind: who is due to re-consent on a newer form
//! version and their bulk invitation (researchers), and a participant's own
//! view of their part in a study, where they change choices or withdraw.

pub mod api;
pub mod pages;
pub mod service;
pub mod store;
