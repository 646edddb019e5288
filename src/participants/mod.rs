//! Participants: enrolment under a pseudonymous study code, their site,
//! stakeholder group and status. It refuses to hold who they are: names and
//! contact details go to the encrypted identity vault, and every table, URL,
//! log line and audit entry here carries the study code or an opaque id only.

pub mod api;
pub mod model;
pub mod pages;
pub mod service;
pub mod store;
