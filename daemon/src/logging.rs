//! Where the daemon's and the CLI's logs go: stderr in the foreground, a daily-rotated file in
//! the per-user log directory otherwise. `TETHER_LOG` sets the filter (default `info`).

use std::path::Path;

use tracing_subscriber::EnvFilter;

/// Sends logs to stderr.
pub fn to_stderr() {
    tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr).init();
}

/// Sends logs to `daemon.log.<date>` in `log_dir`; the guard flushes on drop.
pub fn to_file(log_dir: &Path) -> tracing_appender::non_blocking::WorkerGuard {
    let appender = tracing_appender::rolling::daily(log_dir, "daemon.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt().with_env_filter(filter()).with_ansi(false).with_writer(writer).init();
    guard
}

/// The file [`to_file`] writes to today (the appender rotates at midnight UTC).
pub fn current_file(log_dir: &Path) -> std::path::PathBuf {
    let today = time::OffsetDateTime::now_utc().date();
    log_dir.join(format!("daemon.log.{today}"))
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_env("TETHER_LOG").unwrap_or_else(|_| EnvFilter::new("info"))
}
