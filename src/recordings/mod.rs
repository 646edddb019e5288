//! Fieldwork recordings: encounters (vox pops, interviews, focus groups,
//! film shoots) with their media in the shared media store, transcripts
//! imported from the tools researchers use, redaction, quotes that obey
//! consent, and films and photos on their way to public use.

pub mod model;
pub mod redact;
pub mod service;
pub mod store;
pub mod transcript;

pub mod api;
pub mod pages;
