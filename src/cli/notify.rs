//! `chancery notify test SUBSCRIBER`: send a clearly marked test alert
//! through the real transport and report the outcome.

use std::path::Path;

use anyhow::Context;

use crate::cli::output::{load_config, open_store, outln, print_json};
use crate::cli::{Exit, UsageError};
use crate::model::Timestamp;
use crate::notify::AlertData;
use crate::notify::outbox::Notifier;
use crate::store::SharedStore;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Send a test alert to SUBSCRIBER now (not queued) and report the result
    Test {
        /// The subscriber's name from the config
        subscriber: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

/// What `notify test --json` prints.
#[derive(serde::Serialize)]
struct Sent<'a> {
    subscriber: &'a str,
    channel: &'a str,
    alert_id: &'a str,
    delivered: bool,
    /// Why not, when not (never contains a secret).
    error: Option<String>,
    /// Whether retrying could help (false: e.g. a rejected address).
    permanent: Option<bool>,
}

pub fn run(config_path: Option<&Path>, command: Command) -> anyhow::Result<Exit> {
    let Command::Test { subscriber, json } = command;
    let config = load_config(config_path)?;
    let Some(sub) = config.subscribers.iter().find(|s| s.name == subscriber) else {
        return Err(UsageError(format!(
            "no [[subscriber]] named {subscriber:?} in {}",
            config.path.display()
        ))
        .into());
    };
    // The notifier needs a store handle; a test alert writes nothing to it.
    let store = open_store(&config)?;
    let notifier = Notifier::new(&config, SharedStore::new(store))?;
    let alert = AlertData::test(format!("test-{}", Timestamp::now().as_millis()), &sub.name);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(notifier.send(sub, &alert));
    if json {
        let channel = crate::notify::channel_name(&sub.channel);
        print_json(&Sent {
            subscriber: &sub.name,
            channel,
            alert_id: &alert.id,
            delivered: result.is_ok(),
            error: result.as_ref().err().map(|e| e.message.clone()),
            permanent: result.as_ref().err().map(|e| e.permanent),
        })?;
        return Ok(if result.is_ok() {
            Exit::Success
        } else {
            Exit::SomeFailed
        });
    }
    match result {
        Ok(()) => {
            outln!(
                "test alert {} sent to {} ({})",
                alert.id,
                sub.name,
                crate::notify::channel_name(&sub.channel)
            )?;
            Ok(Exit::Success)
        }
        Err(e) => {
            outln!("test alert to {} failed: {e}", sub.name)?;
            Ok(Exit::SomeFailed)
        }
    }
}
