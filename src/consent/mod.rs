//! Consent: the forms people agree to, the kernel that records what they
//! agreed and their withdrawals, and the capabilities built on it (taking
//! consent, capacity, participants' own choices, the reviewer's register).
//! Nothing here lets data be used without a consent behind it.

pub mod capacity;
pub mod choices;
pub mod forms;
pub mod gate;
pub mod kernel;
pub mod records;
pub mod register;
