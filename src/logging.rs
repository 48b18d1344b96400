//! Log output on stderr. Under systemd (when `JOURNAL_STREAM` is set) every
//! line starts with a `<N>` syslog priority and has no timestamp, so the
//! journal stores real levels and its own times; elsewhere lines are the
//! usual `tracing` format. `RUST_LOG` overrides the default level.

use std::fmt;
use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the global subscriber; `default_level` applies when `RUST_LOG`
/// is unset or invalid.
pub fn init(default_level: &str) {
    // lopdf reports every repair it makes to a damaged PDF at warn/error;
    // the check's own error already says why a PDF has no text. chromiumoxide
    // warns of every protocol event newer than its bindings, and errors on
    // a closed connection; the check's own error says what failed.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},lopdf=off,chromiumoxide=off")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.event_format(Journald).init();
    } else {
        builder.init();
    }
}

/// `<3>message key=value` lines for journald's stderr parser.
struct Journald;

impl<S, N> FormatEvent<S, N> for Journald
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let priority = match *event.metadata().level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        write!(writer, "<{priority}>")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
