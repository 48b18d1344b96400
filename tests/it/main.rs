//! Integration tests: the real `chancery` binary against servers the tests
//! start on 127.0.0.1, with real SQLite files in temp dirs.

mod browser;
mod cli;
mod completions;
mod crash;
mod daemon;
mod email;
mod export;
mod extraction;
mod follow;
mod golden;
mod notify;
mod pdf;
mod pipeline;
mod postgres;
mod readme;
mod render;
mod seed;
mod signal;
mod smtp;
mod support;
mod trust;
mod watch;
mod web;
