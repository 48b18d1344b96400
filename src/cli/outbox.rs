//! `chancery outbox`: the queued alerts; `outbox retry [ID]` sends failed
//! ones again.

use std::path::Path;

use anyhow::Context;

use crate::cli::output::{
    aligned, load_config, load_config_readonly, open_existing_store, outln, plural, print_json,
};
use crate::cli::{Exit, UsageError};
use crate::model::Timestamp;
use crate::notify::outbox::Notifier;
use crate::store::{AlertStatus, SharedStore, Store};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Only alerts with this status (default: pending and failed)
    #[arg(long, value_enum)]
    status: Option<AlertStatus>,
    /// Include delivered alerts too
    #[arg(long, conflicts_with = "status")]
    all: bool,
    /// Show at most this many
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<usize>,
    /// Print the alerts as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Make failed (or one given) alerts due again and deliver them now
    Retry {
        /// The alert id, as listed (default: every failed and pending alert)
        id: Option<String>,
    },
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let readonly = args.command.is_none();
    let config = if readonly {
        load_config_readonly(config_path)?
    } else {
        load_config(config_path)?
    };
    let store = open_existing_store(&config)?;
    match args.command {
        Some(Command::Retry { id }) => retry(&config, store, id),
        None => {
            let mut alerts = match (args.status, args.all) {
                (Some(status), _) => store.alerts(Some(status), args.limit)?,
                (None, true) => store.alerts(None, args.limit)?,
                (None, false) => {
                    let mut both = store.alerts(Some(AlertStatus::Failed), None)?;
                    both.extend(store.alerts(Some(AlertStatus::Pending), None)?);
                    both.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
                    both
                }
            };
            if let Some(n) = args.limit {
                alerts.truncate(n);
            }
            if args.json {
                print_json(&alerts)?;
                return Ok(Exit::Success);
            }
            if alerts.is_empty() {
                outln!("no alerts")?;
            }
            let rows: Vec<Vec<String>> = alerts
                .iter()
                .map(|a| {
                    let when = match a.status {
                        AlertStatus::Delivered => format!(
                            "delivered {}",
                            a.delivered_at.map_or_else(String::new, |t| t.rfc3339())
                        ),
                        AlertStatus::Pending => format!("next attempt {}", a.next_attempt_at),
                        AlertStatus::Failed => "failed".to_owned(),
                    };
                    vec![
                        a.id.clone(),
                        a.status.as_str().to_owned(),
                        a.created_at.to_string(),
                        format!(
                            "{} {} -> {} ({})",
                            a.watch, a.event, a.subscriber, a.channel
                        ),
                        plural(u64::from(a.attempts), "attempt", "attempts"),
                        when,
                        a.last_error
                            .as_ref()
                            .map(|e| format!("last error: {e}"))
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            for line in aligned(&rows) {
                outln!("{line}")?;
            }
            Ok(Exit::Success)
        }
    }
}

fn retry(
    config: &crate::config::Config,
    mut store: Box<dyn Store + Send>,
    id: Option<String>,
) -> anyhow::Result<Exit> {
    let n = store.retry_alerts(id.as_deref(), Timestamp::now())?;
    if n == 0 {
        return Err(UsageError(match id {
            Some(id) => format!("no pending or failed alert with id {id:?}"),
            None => "no pending or failed alerts".to_owned(),
        })
        .into());
    }
    let notifier = Notifier::new(config, SharedStore::new(store))?;
    let runtime = crate::runtime::runtime().context("cannot start the async runtime")?;
    let pass = runtime.block_on(notifier.deliver_within(std::time::Duration::from_secs(60)))?;
    outln!(
        "{n} alerts rescheduled: {} delivered, {} failed, {} will be retried",
        pass.delivered,
        pass.failed,
        pass.retrying
    )?;
    Ok(if pass.failed + pass.retrying > 0 {
        Exit::SomeFailed
    } else {
        Exit::Success
    })
}
