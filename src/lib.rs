//! chancery: a change-monitoring daemon for official statement pages.
//!
//! The library is the whole program; `main.rs` only parses arguments and
//! maps errors to exit codes. Checks flow through one pipeline:
//!
//! `config → fetch → normalize → hash → store → diff`, with [`check`]
//! driving one watch through it and [`cli`] (and later the daemon) calling
//! [`check`]. Stages exchange plain data; only `fetch` and `store` touch the
//! network or the disk.

pub mod check;
pub mod classify;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod diff;
pub mod engine;
pub mod export;
pub mod fetch;
pub mod follow;
pub mod hash;
pub mod logging;
pub mod model;
pub mod normalize;
pub mod notify;
pub mod runtime;
pub mod schedule;
pub mod store;
