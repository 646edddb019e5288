//! Studies, their sites and teams (a trust's CMHT is a team at a site), and
//! who works on each study in which role. It refuses to show a study to anyone
//! without a role in it: to them the study does not exist.

pub mod api;
pub mod model;
pub mod pages;
pub mod service;
pub mod store;
