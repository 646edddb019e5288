//! Consent forms as files under `consent-forms/<study-slug>/<form-id>.v<N>.md`:
//! checked at start-up and by `fieldkit consent-forms check`, published into
//! the database by content hash. A published version is frozen (C5); it
//! refuses any change to one, and any form with a problem.

pub mod model;
pub mod service;
pub mod store;

pub use model::{Clause, ConsentForm, ConsentFormVersion, DataUse, FormProblem};
