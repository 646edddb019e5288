//! Consent: the forms people agree to and, in sibling modules, the records of
//! what they agreed. Nothing here lets data be used without a consent behind it.

pub mod capacity;
pub mod choices;
pub mod forms;
pub mod gate;
pub mod records;
pub mod register;
