//! chancery: a change-monitoring daemon for official statement pages.
//!
//! The library is the whole program; `main.rs` only parses arguments and
//! maps errors to exit codes. Checks flow through one pipeline:
//!
//! `config → schedule → fetch → normalize → hash → classify → diff → store
//! → notify`, with [`check`] driving one watch through it, [`engine`]
//! running checks on the [`schedule`], and both the daemon ([`daemon`]) and
//! the one-shot commands ([`cli`]) calling the engine. Stages exchange
//! plain data; only `fetch`, `store` and `notify` touch the network or the
//! disk. `ARCHITECTURE.md` is the map.

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
pub mod web;
