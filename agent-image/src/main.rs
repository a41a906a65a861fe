//! `tether-agent`: finds the target, joins its network namespace on a dedicated thread,
//! reports start-up as one JSON line on stdout and serves the wire protocol until idle. The
//! modules are in the library (`lib.rs`).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tether_agent::cli::{Args, TOKEN_ENV};
use tether_agent::netns::{NetnsError, TargetNet};
use tether_agent::{dns, files, handlers, incoming, lifetime, server, target};
use tether_rpc_schema::startup::{AgentStartup, StartupFailure};

/// A start-up failure as reported on stdout.
#[derive(Debug)]
struct Failed {
    kind: StartupFailure,
    message: String,
}

impl Failed {
    fn new(kind: StartupFailure, message: impl Into<String>) -> Failed {
        Failed { kind, message: message.into() }
    }
}

fn main() -> ExitCode {
    init_logging();
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(incoming::guard::GUARD_COMMAND) {
        return incoming::guard::run(&argv[2..]);
    }
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) if !err.use_stderr() => err.exit(),
        Err(err) => {
            eprint!("{err}");
            report(&failed_line(StartupFailure::Usage, &usage_message(&err.to_string())));
            return ExitCode::FAILURE;
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failed) => {
            tracing::error!(kind = ?failed.kind, message = %failed.message, "the agent cannot start");
            report(&failed_line(failed.kind, &failed.message));
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TETHER_AGENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
}

fn run(args: Args) -> Result<(), Failed> {
    let token = std::env::var(TOKEN_ENV).ok().filter(|token| !token.is_empty()).ok_or_else(|| {
        Failed::new(StartupFailure::Usage, format!("{TOKEN_ENV} is not set; pass the agent token in it"))
    })?;
    if !args.listen.ip().is_loopback() {
        return Err(Failed::new(
            StartupFailure::Usage,
            format!("--listen {} is not a loopback address; the agent listens on loopback only", args.listen),
        ));
    }
    raise_open_files_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| Failed::new(StartupFailure::Other, format!("cannot start the async runtime: {err}")))?;

    let pid = runtime
        .block_on(target::resolve_pid(&args.target()))
        .map_err(|err| Failed::new(err.kind(), err.to_string()))?;
    let target = target::open(pid).map_err(|err| Failed::new(err.kind(), err.to_string()))?;
    let net = TargetNet::start(target.netns).map_err(|err| {
        let kind = match err {
            NetnsError::NotPermitted => StartupFailure::NotPermitted,
            NetnsError::Enter(_) => StartupFailure::Other,
        };
        Failed::new(kind, err.to_string())
    })?;
    let fs = Arc::new(files::TargetFs::new(target.root));
    let agent = handlers::Agent { pid, fs: fs.clone(), dns: dns::TargetResolver::new(fs, net.clone()) };
    let incoming = incoming::Incoming::new(net.clone());
    let (gone_tx, target_gone) = tokio::sync::watch::channel(None);
    let shared = Arc::new(server::Shared { token, agent, net, incoming, target_gone });
    let target_id = target.id;
    runtime.spawn(lifetime::watch_target(target.pidfd, pid, gone_tx));

    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|err| Failed::new(StartupFailure::Other, format!("cannot listen on {}: {err}", args.listen)))?;
        let listen = listener
            .local_addr()
            .map_err(|err| Failed::new(StartupFailure::Other, format!("cannot read the listen address: {err}")))?;
        tracing::info!(%listen, target_pid = pid, "serving");
        let sweeper = shared.clone();
        tokio::spawn(async move { sweeper.incoming.sweep().await });
        report(
            &serde_json::to_string(&AgentStartup::Ready {
                listen: listen.to_string(),
                target_pid: pid,
                target_id: Some(target_id),
            })
            .expect("startup serializes"),
        );
        server::serve(listener, shared, args.idle_timeout(), args.reconnect_grace()).await;
        Ok(())
    })?;
    // Blocking-pool threads may still be finishing file work no one waits for.
    runtime.shutdown_background();
    Ok(())
}

/// Raises the soft limit on open files to the hard one: every stream of the daemon's user
/// processes is a socket of the agent, and a common soft limit of 1024 is well below what one
/// busy user process opens.
fn raise_open_files_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    if current == maximum {
        return;
    }
    match setrlimit(Resource::Nofile, Rlimit { current: maximum, maximum }) {
        Ok(()) => tracing::debug!(?current, ?maximum, "raised the open files limit"),
        Err(err) => tracing::warn!(%err, ?current, "cannot raise the open files limit; busy sessions may see EMFILE"),
    }
}

fn failed_line(kind: StartupFailure, message: &str) -> String {
    serde_json::to_string(&AgentStartup::Failed { kind, message: message.to_owned() }).expect("startup serializes")
}

/// clap's error paragraph on one line, without its `error: ` prefix.
fn usage_message(rendered: &str) -> String {
    let reason: Vec<&str> = rendered.lines().take_while(|line| !line.trim().is_empty()).map(str::trim).collect();
    format!("{}; see tether-agent --help", reason.join(" ").trim_start_matches("error: "))
}

/// Prints the one start-up line on stdout.
fn report(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_line_has_the_documented_shape() {
        let line = failed_line(StartupFailure::TargetNotFound, "process 7 does not exist; check the pid");
        assert_eq!(
            line,
            r#"{"failed":{"kind":"target_not_found","message":"process 7 does not exist; check the pid"}}"#
        );
    }

    #[test]
    fn ready_line_has_the_documented_shape() {
        let ready =
            AgentStartup::Ready { listen: "127.0.0.1:4567".into(), target_pid: 42, target_id: Some("42@1234".into()) };
        assert_eq!(
            serde_json::to_string(&ready).unwrap(),
            r#"{"ready":{"listen":"127.0.0.1:4567","target_pid":42,"target_id":"42@1234"}}"#
        );
    }

    #[test]
    fn usage_message_keeps_clap_reason_and_points_to_help() {
        let rendered = "error: the following required arguments were not provided:\n  --pid <PID>\n\nUsage: ...";
        assert_eq!(
            usage_message(rendered),
            "the following required arguments were not provided: --pid <PID>; see tether-agent --help"
        );
    }
}
