//! Per-debug-adapter presets: which programs of a debug launch are the debugger's own (never
//! hooked) and which ports belong to the debugger (never intercepted), detected from the launch
//! itself rather than from a fixed port range.

use std::collections::BTreeMap;

use tether_rpc_schema::api::Launch;

/// What a debug adapter's launch asks of tether.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preset {
    /// Debugger programs whose calls are not hooked (their debuggees still are).
    pub skip_processes: Vec<String>,
    /// Ports the debugger listens on or connects to.
    pub debugger_ports: Vec<u16>,
}

/// The preset for `launch`, from its debug type and command line.
pub fn for_launch(launch: &Launch) -> Preset {
    let words: Vec<&str> = std::iter::once(launch.program.as_str())
        .chain(launch.args.iter().map(String::as_str))
        .chain(env_words(&launch.env, "NODE_OPTIONS"))
        .chain(env_words(&launch.env, "JAVA_TOOL_OPTIONS"))
        .chain(env_words(&launch.env, "JDK_JAVA_OPTIONS"))
        .collect();
    let debug_type = launch.debug_type.as_deref().unwrap_or_default();
    let skip: &[&str] = match debug_type {
        "go" | "dlv" => &["dlv"],
        "coreclr" | "clr" => &["vsdbg", "vsdbg-ui", "netcoredbg"],
        "lldb" | "lldb-dap" | "cppdbg" | "cppvsdbg" => &["lldb", "lldb-server", "lldb-dap", "gdb", "gdbserver"],
        _ => &[],
    };
    let mut debugger_ports: Vec<u16> =
        words.iter().enumerate().filter_map(|(i, word)| port_of(word, words.get(i + 1))).collect();
    if debug_type == "python" || debug_type == "debugpy" {
        debugger_ports.extend(debugpy_launcher_port(&words));
    }
    debugger_ports.sort_unstable();
    debugger_ports.dedup();
    Preset { skip_processes: skip.iter().map(|name| name.to_string()).collect(), debugger_ports }
}

fn env_words<'a>(env: &'a BTreeMap<String, String>, name: &str) -> impl Iterator<Item = &'a str> {
    env.get(name).into_iter().flat_map(|value| value.split_whitespace())
}

/// A debugger port named by one command-line word (and, for `--listen PORT`, the next one).
fn port_of(word: &str, next: Option<&&str>) -> Option<u16> {
    // Node inspector: --inspect, --inspect-brk, --inspect-wait [=[host:]port]; default 9229.
    for flag in ["--inspect-brk", "--inspect-wait", "--inspect"] {
        if let Some(rest) = word.strip_prefix(flag) {
            return match rest.strip_prefix('=') {
                Some(address) => last_port(address),
                None if rest.is_empty() => Some(9229),
                None => None,
            };
        }
    }
    // JDWP: -agentlib:jdwp=transport=dt_socket,server=y,address=*:5005
    if let Some(options) = word.strip_prefix("-agentlib:jdwp=").or_else(|| word.strip_prefix("-Xrunjdwp:")) {
        return options.split(',').find_map(|option| option.strip_prefix("address=")).and_then(last_port);
    }
    // delve (--listen=host:port), debugpy (--listen / --connect [host:]port), gdbserver (:port).
    for flag in ["--listen", "--connect"] {
        if let Some(rest) = word.strip_prefix(flag) {
            return match rest.strip_prefix('=') {
                Some(address) => last_port(address),
                None if rest.is_empty() => next.and_then(|next| last_port(next)),
                None => None,
            };
        }
    }
    word.strip_prefix(':').and_then(|port| port.parse().ok())
}

/// VS Code starts `python .../debugpy/launcher <port> -- program`.
fn debugpy_launcher_port(words: &[&str]) -> Option<u16> {
    let launcher =
        words.iter().position(|word| word.ends_with("debugpy/launcher") || word.ends_with("debugpy/launcher/"))?;
    words.get(launcher + 1).and_then(|port| last_port(port))
}

fn last_port(address: &str) -> Option<u16> {
    address.rsplit(':').next().and_then(|port| port.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(debug_type: &str, program: &str, args: &[&str], env: &[(&str, &str)]) -> Launch {
        Launch {
            debug_type: Some(debug_type.into()),
            program: program.into(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            cwd: None,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn node_inspector_ports_come_from_flags_and_node_options() {
        let preset = for_launch(&launch("pwa-node", "node", &["--inspect-brk=127.0.0.1:9339", "app.js"], &[]));
        assert_eq!(preset.debugger_ports, [9339]);
        let preset =
            for_launch(&launch("node", "npm", &["run", "dev"], &[("NODE_OPTIONS", "--require x.js --inspect")]));
        assert_eq!(preset.debugger_ports, [9229]);
        assert!(preset.skip_processes.is_empty());
    }

    #[test]
    fn debugpy_ports_come_from_listen_and_the_launcher() {
        let preset =
            for_launch(&launch("python", "python3", &["-m", "debugpy", "--listen", "0.0.0.0:5678", "app.py"], &[]));
        assert_eq!(preset.debugger_ports, [5678]);
        let preset = for_launch(&launch(
            "debugpy",
            "/usr/bin/python3",
            &["/ext/debugpy/launcher", "41235", "--", "app.py"],
            &[],
        ));
        assert_eq!(preset.debugger_ports, [41235]);
    }

    #[test]
    fn delve_is_skipped_and_its_listen_port_kept() {
        let preset = for_launch(&launch("go", "dlv", &["dap", "--listen=127.0.0.1:38697"], &[]));
        assert_eq!(preset.skip_processes, ["dlv"]);
        assert_eq!(preset.debugger_ports, [38697]);
    }

    #[test]
    fn jdwp_address_is_a_debugger_port() {
        let preset = for_launch(&launch(
            "java",
            "java",
            &["-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=*:5005", "-jar", "a.jar"],
            &[],
        ));
        assert_eq!(preset.debugger_ports, [5005]);
        let preset = for_launch(&launch(
            "java",
            "java",
            &["-jar", "a.jar"],
            &[("JAVA_TOOL_OPTIONS", "-agentlib:jdwp=transport=dt_socket,address=8000")],
        ));
        assert_eq!(preset.debugger_ports, [8000]);
    }

    #[test]
    fn native_debuggers_are_skipped() {
        assert!(for_launch(&launch("coreclr", "dotnet", &["app.dll"], &[]))
            .skip_processes
            .contains(&"vsdbg".to_string()));
        let preset = for_launch(&launch("cppdbg", "gdbserver", &[":2345", "./app"], &[]));
        assert!(preset.skip_processes.contains(&"gdb".to_string()));
        assert_eq!(preset.debugger_ports, [2345]);
    }

    #[test]
    fn plain_launch_has_no_preset() {
        assert_eq!(for_launch(&Launch { program: "cargo".into(), ..Launch::default() }), Preset::default());
    }
}
