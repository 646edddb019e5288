//! fieldkit's integration suite: one binary, every test through the HTTP
//! surface (or the command line), each run on SQLite and on PostgreSQL.
//! Without PostgreSQL the PostgreSQL half says it was skipped; under CI=true
//! it fails instead.

#[macro_use]
mod support;

mod access;
mod audit;
mod auth;
mod bad_input;
mod browser;
mod capacity;
mod checkpoints;
mod choices;
mod cli;
mod cluster;
mod consent;
mod consent_email;
mod consent_forms;
mod erasure;
mod guessing;
mod instruments;
mod openapi;
mod participants;
mod races;
mod recordings;
mod register;
mod schemathesis;
mod second_factor;
mod smoke;
mod smtp;
mod translations;
mod vault;
mod withdrawal;
