//! `tether exec`: prepares a session for a target, runs the command with the launch
//! environment, forwards signals to it, ends the session when it exits and exits the same way.
//! The session is leased to this process's daemon connection, so it ends even when `tether
//! exec` is killed; what happens to the session meanwhile (its agent replaced, its target
//! gone) is printed on stderr.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use anyhow::Context;
use jsonrpsee::core::client::{ClientT, SubscriptionClientT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tether_rpc_schema::api::{
    methods, Launch, SessionEndParams, SessionEvent, SessionEventKind, SessionEventsParams, SessionPrepareParams,
    SessionPrepared,
};
use tokio::signal::unix::{signal, SignalKind};

use crate::client;
use crate::paths::UserPaths;
use crate::supervised;

/// What `tether exec` was asked to do.
pub struct ExecArgs {
    /// Else the config's `target`.
    pub target: Option<String>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub config: Option<std::path::PathBuf>,
    pub command: Vec<String>,
}

/// Runs the command in the target's context; returns the exit code for the CLI.
pub async fn run(args: ExecArgs) -> anyhow::Result<i32> {
    let paths = UserPaths::for_current_user()?;
    let daemon = client::connect_or_start(&paths).await?;
    let (program, program_args) = args.command.split_first().context("no command given after --")?;
    let cwd = std::env::current_dir().context("reading the working directory")?;
    let config_path = match &args.config {
        Some(path) => Some(std::path::absolute(path).context("resolving the config path")?.display().to_string()),
        None => None,
    };
    // A variable that is not UTF-8 cannot go into the request; the program inherits it anyway.
    let host_env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    // Subscribed before the preparation starts, so that its progress (an agent pod starting)
    // is shown, and kept for what happens to the session afterwards.
    let preparation = crate::token::random()[..16].to_string();
    let events = SessionEventsParams { session_id: None, preparation: Some(preparation.clone()) };
    let events = daemon
        .subscribe::<SessionEvent, _>(methods::SESSION_EVENTS, client::by_name(&events), methods::SESSION_UNEVENTS)
        .await;
    let reporter = match events {
        Ok(events) => Some(tokio::spawn(report_events(events, Progress::on_stderr()))),
        Err(err) => {
            eprintln!("tether: warning: changes to the session will not be shown: {}", client::describe(err));
            None
        }
    };
    let params = SessionPrepareParams {
        target: args.target.clone(),
        context: args.context.clone(),
        namespace: args.namespace.clone(),
        preparation: Some(preparation),
        config_path,
        config: None,
        launch: Launch {
            debug_type: None,
            program: program.clone(),
            args: program_args.to_vec(),
            cwd: Some(cwd.display().to_string()),
            env: host_env,
        },
    };
    let prepared: Result<SessionPrepared, _> = daemon.request(methods::SESSION_PREPARE, client::by_name(&params)).await;
    Progress::on_stderr().clear();
    let prepared = prepared.map_err(client::describe)?;
    let plan = supervised::plan(&params.launch);
    for warning in &prepared.warnings {
        if !plan.as_ref().is_some_and(|plan| plan.answers(warning)) {
            eprintln!("tether: warning: {warning}");
        }
    }
    let _reporter = reporter;
    let mut command = Command::new(program);
    command.args(program_args).envs(&prepared.env);
    for name in &prepared.unset {
        command.env_remove(name);
    }
    let spawned =
        supervised::spawn(&mut command, plan.as_ref(), &prepared.env).with_context(|| format!("cannot run {program}"));
    let code = match spawned {
        Ok((child, _supervision)) => wait_forwarding_signals(child).await?,
        Err(err) => {
            end_session(&daemon, &prepared.session_id).await;
            return Err(err);
        }
    };
    end_session(&daemon, &prepared.session_id).await;
    Ok(code)
}

/// Prints what happens to the session: its preparation's progress as one line that is
/// rewritten (on a terminal only), then warnings and failures while the command runs.
async fn report_events(mut events: jsonrpsee::core::client::Subscription<SessionEvent>, progress: Progress) {
    let mut prepared = false;
    while let Some(Ok(event)) = events.next().await {
        match event.kind {
            SessionEventKind::Progress if !prepared => progress.show(&event.message),
            SessionEventKind::Warning => eprintln!("tether: warning: {}", event.message),
            // A failed preparation is the error `tether exec` prints itself.
            SessionEventKind::Failed if prepared => eprintln!("tether: error: {}", event.message),
            SessionEventKind::Ready => {
                prepared = true;
                progress.clear();
            }
            SessionEventKind::Progress | SessionEventKind::Failed | SessionEventKind::Ended => {}
        }
    }
}

/// The one line of start-up progress on stderr, when stderr is a terminal.
#[derive(Clone, Copy)]
struct Progress {
    terminal: bool,
}

impl Progress {
    fn on_stderr() -> Progress {
        Progress { terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()) }
    }

    fn show(self, step: &str) {
        if self.terminal {
            let step: String = step.chars().take(100).collect();
            eprint!("\r\x1b[2Ktether: {step}");
        }
    }

    fn clear(self) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
}

async fn end_session(daemon: &jsonrpsee::ws_client::WsClient, session_id: &str) {
    let params = SessionEndParams { session_id: session_id.to_string() };
    if let Err(err) = daemon.request::<(), _>(methods::SESSION_END, client::by_name(&params)).await {
        eprintln!("tether: warning: could not end session {session_id}: {}", client::describe(err));
    }
}

/// Waits for the child, passing on the signals a terminal or supervisor sends to us; returns
/// the exit code a shell would report (128 + signal when killed).
async fn wait_forwarding_signals(child: std::process::Child) -> anyhow::Result<i32> {
    let pid = Pid::from_raw(child.id() as i32);
    let mut waiter = tokio::task::spawn_blocking(move || {
        let mut child = child;
        child.wait()
    });
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut quit = signal(SignalKind::quit())?;
    loop {
        let forwarded = tokio::select! {
            status = &mut waiter => {
                let status = status??;
                return Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)));
            }
            _ = interrupt.recv() => Signal::SIGINT,
            _ = terminate.recv() => Signal::SIGTERM,
            _ = hangup.recv() => Signal::SIGHUP,
            _ = quit.recv() => Signal::SIGQUIT,
        };
        let _ = kill(pid, forwarded);
    }
}
