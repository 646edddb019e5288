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
mod choices;
mod cli;
mod cluster;
mod consent;
mod consent_email;
mod consent_forms;
mod openapi;
mod participants;
mod register;
mod smoke;
mod smtp;
mod vault;
