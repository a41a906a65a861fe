//! `tether ls` and `tether status`: the daemon's targets, sessions and agents as tables for a
//! terminal, or as JSON for scripts.

use jsonrpsee::core::client::ClientT;
use tether_rpc_schema::api::{methods, StatusResult, TargetInfo, TargetsListParams};

use crate::client;
use crate::paths::UserPaths;

/// Prints the targets `params` asks for; with `json`, as the API returns them.
pub async fn ls(params: TargetsListParams, json: bool) -> anyhow::Result<i32> {
    let daemon = client::connect_or_start(&UserPaths::for_current_user()?).await?;
    let targets: Vec<TargetInfo> =
        daemon.request(methods::TARGETS_LIST, client::by_name(&params)).await.map_err(client::describe)?;
    if json {
        return Ok(client::print_result(&serde_json::to_value(&targets)?));
    }
    let rows: Vec<Vec<String>> = targets
        .iter()
        .map(|target| {
            let ready = match (target.ready_count, target.total_count) {
                (Some(ready), Some(total)) => format!("{ready}/{total}"),
                _ if target.ready => "yes".to_string(),
                _ => "no".to_string(),
            };
            vec![
                target.kind.clone(),
                target.name.clone(),
                target.namespace.clone().unwrap_or_default(),
                ready,
                if target.containers.is_empty() {
                    target.description.clone().unwrap_or_default()
                } else {
                    target.containers.join(",")
                },
            ]
        })
        .collect();
    let last = if params.local { "COMMAND" } else { "CONTAINERS" };
    print!("{}", table(&["KIND", "NAME", "NAMESPACE", "READY", last], &rows));
    Ok(0)
}

/// Prints the daemon, its sessions and its agents; with `json`, `daemon.status` as it is.
pub async fn status(json: bool) -> anyhow::Result<i32> {
    let daemon = client::connect_or_start(&UserPaths::for_current_user()?).await?;
    let status: StatusResult =
        daemon.request(methods::DAEMON_STATUS, jsonrpsee::rpc_params![]).await.map_err(client::describe)?;
    if json {
        return Ok(client::print_result(&serde_json::to_value(&status)?));
    }
    let now = crate::sessions::unix_now();
    println!(
        "daemon {} (pid {}), up {}, log {}",
        status.daemon_version,
        status.pid,
        age(status.uptime_secs),
        status.log_path
    );
    println!("\nsessions: {}", status.sessions.len());
    let sessions: Vec<Vec<String>> = status
        .sessions
        .iter()
        .map(|session| {
            let started = age(now.saturating_sub(session.started_at));
            vec![session.session_id.clone(), session.target.clone(), session.program.clone(), started]
        })
        .collect();
    if !sessions.is_empty() {
        print!("{}", table(&["SESSION", "TARGET", "PROGRAM", "AGE"], &sessions));
    }
    println!("\nagents: {}", status.agents.len());
    let agents: Vec<Vec<String>> = status
        .agents
        .iter()
        .map(|agent| {
            let pod =
                agent.pod.as_ref().map(|pod| format!("{}/{}", pod.namespace, pod.name)).unwrap_or_else(|| "-".into());
            let started = age(now.saturating_sub(agent.started_at));
            vec![agent.agent_id.clone(), agent.target.clone(), pod, agent.sessions.to_string(), started]
        })
        .collect();
    if !agents.is_empty() {
        print!("{}", table(&["AGENT", "TARGET", "POD", "SESSIONS", "AGE"], &agents));
    }
    Ok(0)
}

/// Left-aligned columns, two spaces apart, as kubectl prints them.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|title| title.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(header.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

/// `42s`, `5m`, `3h`, `2d`.
fn age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let rows = vec![vec!["deployment".to_string(), "orders".into()], vec!["pod".into(), "orders-5f9c-x".into()]];
        assert_eq!(
            table(&["KIND", "NAME"], &rows),
            "KIND        NAME\ndeployment  orders\npod         orders-5f9c-x\n"
        );
    }

    #[test]
    fn ages_read_like_kubectls() {
        assert_eq!([age(5), age(125), age(7200), age(200_000)], ["5s", "2m", "2h", "2d"]);
    }
}
