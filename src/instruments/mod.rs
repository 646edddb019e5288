//! Instruments as data: fidelity checklists and questionnaires defined in
//! files (or imported from an XLSForm or a REDCap data dictionary), one
//! scoring engine, agreement between raters, and the Connecting People
//! fidelity view.

pub mod agreement;
pub mod catalogue;
pub mod definition;
pub mod fidelity;
pub mod import;
pub mod model;
pub mod scoring;
pub mod service;
pub mod store;

pub mod api;
pub mod pages;
#[cfg(test)]
mod tests;
