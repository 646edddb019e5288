//! A second factor for staff: TOTP enrolment, the second step of sign-in,
//! single-use recovery codes, turning it off and an administrator's reset.
//! It owns the sealed TOTP secret and the replay guard; it refuses to offer
//! a second factor to participants or to accept a code twice.

pub mod model;
pub mod service;
pub mod store;
