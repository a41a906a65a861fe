//! `tether`: the per-user daemon and the command line that talks to it. The modules are in the
//! library (`lib.rs`).

use clap::{Parser, Subcommand};
use tether_daemon::{client, exec, listing, logging, lsp, paths, server};
use tether_rpc_schema::api::TargetsListParams;

#[derive(Parser)]
#[command(name = "tether", version, about = "Run a local process in the context of a pod, process or container")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the per-user daemon (normally started on demand).
    Daemon {
        /// Log to stderr instead of the log file.
        #[arg(long)]
        foreground: bool,
    },
    /// Run a command on this machine in the context of a target.
    Exec {
        /// The target: <kind>/<name>[/container/<container>] with kind pod, deployment,
        /// statefulset, replicaset, job, cronjob or service; targetless; or pid/<pid> or
        /// container/<name-or-id> on this machine. Default: the config's `target`.
        #[arg(long, short)]
        target: Option<String>,
        /// The target's namespace (default: the config's, else the context's).
        #[arg(long, short = 'n')]
        namespace: Option<String>,
        /// The kubeconfig context (default: the config's, else the current one).
        #[arg(long)]
        context: Option<String>,
        /// A JSON config file.
        #[arg(long, short)]
        config: Option<std::path::PathBuf>,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// List targets: a cluster's workloads and pods, or this machine's stand-ins (--local).
    Ls {
        /// The namespace (default: the context's).
        #[arg(long, short = 'n', conflicts_with = "all_namespaces")]
        namespace: Option<String>,
        /// Every namespace.
        #[arg(long, short = 'A')]
        all_namespaces: bool,
        /// The kubeconfig context (default: the current one).
        #[arg(long)]
        context: Option<String>,
        /// Only targets of this kind: pod, deployment, statefulset, replicaset, job, cronjob, service.
        #[arg(long)]
        kind: Option<String>,
        /// Processes of this machine in network namespaces of their own instead.
        #[arg(long, conflicts_with_all = ["namespace", "all_namespaces", "context", "kind"])]
        local: bool,
        /// Print JSON (the API's `TargetInfo` list) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show the daemon, its sessions and its agents.
    Status {
        /// Print `daemon.status` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serve the Language Server Protocol on stdio (editors spawn this).
    Lsp,
    /// Call a daemon API method and print its JSON result.
    Rpc {
        /// The method, e.g. daemon.hello.
        method: String,
        /// Parameters as a JSON object or array.
        params: Option<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("starting the tokio runtime");
    let outcome = match cli.command {
        Commands::Daemon { foreground } => runtime.block_on(run_daemon(foreground)).map(|()| 0),
        Commands::Exec { target, namespace, context, config, command } => {
            runtime.block_on(exec::run(exec::ExecArgs { target, context, namespace, config, command }))
        }
        Commands::Ls { namespace, all_namespaces, context, kind, local, json } => {
            let params = TargetsListParams { local, context, namespace, all_namespaces, kind };
            runtime.block_on(listing::ls(params, json))
        }
        Commands::Status { json } => runtime.block_on(listing::status(json)),
        Commands::Lsp => runtime.block_on(lsp::run()),
        Commands::Rpc { method, params } => {
            runtime.block_on(client::call_raw(&method, params.as_deref())).map(|result| client::print_result(&result))
        }
    };
    match outcome {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("tether: error: {err:#}");
            std::process::exit(2);
        }
    }
}

async fn run_daemon(foreground: bool) -> anyhow::Result<()> {
    let paths = paths::UserPaths::for_current_user()?;
    let _guard = if foreground {
        logging::to_stderr();
        None
    } else {
        Some(logging::to_file(&paths.log_dir))
    };
    server::run(paths).await
}
