//! Pages composed from several capabilities. A capability's pages never
//! import another capability's pages; where one page shows the work of
//! several (the participant page, the account page), it is composed here from each service's
//! typed summary.

pub mod account;
pub mod participant;
