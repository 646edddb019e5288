//! fieldkit: a self-hosted server for research fieldwork in community mental
//! health. The library holds everything; the binary only parses the command
//! line. See docs/decisions.md for the design and its reasons.

pub mod app;
pub mod audit;
pub mod auth;
pub mod charts;
pub mod clock;
pub mod commands;
pub mod config;
pub mod consent;
pub mod db;
pub mod demo;
pub mod error;
pub mod http;
pub mod ids;
pub mod instruments;
pub mod keys;
pub mod mail;
pub mod markdown;
pub mod media;
pub mod pages;
pub mod participants;
pub mod pdf;
pub mod recordings;
pub mod studies;
pub mod templates;
pub mod vault;
