//! The environment a user process is launched with: the host's, with the target's variables
//! laid over it (filtered by the config), the overrides, and the session's own variables.
//! Variables that make programs load or run code stay the host's unless the config opts in.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::config::EnvConfig;

/// Host variables that describe the developer's machine and must stay the host's.
const HOST_NAMES: &[&str] = &["PATH", "HOME", "SHELL", "TERM", "USER", "LOGNAME", "PWD", "DISPLAY", "OLDPWD", "SHLVL"];
/// Prefixes of host variables that stay the host's.
const HOST_PREFIXES: &[&str] = &["SSH_", "XDG_", "TETHER_"];

/// Start-up and code-loading variables (glob patterns over names), each with the reason: the
/// target's value would make a program on this machine run code chosen by the target — often a
/// file that the hook layer then reads from the target — as the developer. They keep the host's
/// value (or stay unset) unless `env.allow_code_loading` names them. This is the only list.
pub const CODE_LOADING: &[(&str, &str)] = &[
    ("LD_*", "the dynamic loader preloads, audits and searches the libraries they name"),
    ("GLIBC_TUNABLES", "parsed by the dynamic loader before any program starts"),
    ("GCONV_PATH", "glibc loads character-set converters, shared libraries, from it"),
    ("BASH_ENV", "bash sources the file it names before every script"),
    ("ENV", "sh, and bash as sh, source the file it names when interactive"),
    (
        "BASH_FUNC_*",
        "exported bash functions (`BASH_FUNC_name%%`), defined in every bash and able to replace any command",
    ),
    ("PROMPT_COMMAND", "bash runs it before every prompt"),
    ("PS0", "bash expands it, command substitutions included, after reading each command"),
    ("PS1", "bash expands it, command substitutions included, for every prompt"),
    ("PS2", "bash expands it, command substitutions included, for every continuation prompt"),
    ("PS4", "bash expands it, command substitutions included, for every traced command"),
    ("SHELLOPTS", "bash turns on the options it lists, e.g. xtrace, which expands PS4"),
    ("BASHOPTS", "bash turns on the shopt options it lists"),
    ("BASH_LOADABLES_PATH", "bash's `enable -f` loads builtins, shared libraries, from it"),
    ("IFS", "changes how shells split words, and so what scripts run"),
    ("ZDOTDIR", "zsh sources its start-up files from this directory"),
    ("PYTHONSTARTUP", "interactive python runs the file it names"),
    ("PYTHONPATH", "python imports modules from it before its own"),
    ("PYTHONHOME", "python loads its standard library, and so site.py, from it"),
    ("PYTHONUSERBASE", "python runs the .pth files of its site-packages"),
    ("PYTHONBREAKPOINT", "python imports and calls what it names on breakpoint()"),
    ("PYTHONWARNINGS", "python imports the modules of the warning categories it names"),
    ("NODE_OPTIONS", "node takes options from it, --require and --import among them"),
    ("NODE_PATH", "node resolves modules from it"),
    ("NODE_REPL_EXTERNAL_MODULE", "node loads the module it names instead of its REPL"),
    ("npm_config_*", "npm takes settings from them, script-shell and node-options among them"),
    ("NPM_CONFIG_*", "npm takes settings from them, script-shell and node-options among them"),
    ("JAVA_TOOL_OPTIONS", "every JVM takes options from it, -javaagent among them"),
    ("_JAVA_OPTIONS", "every JVM takes options from it, -javaagent among them"),
    ("JDK_JAVA_OPTIONS", "the java launcher takes options from it, -javaagent among them"),
    ("JAVA_OPTS", "JVM start scripts pass it to java, -javaagent among them"),
    ("MAVEN_OPTS", "mvn passes it to its JVM, -javaagent among them"),
    ("GRADLE_OPTS", "gradle passes it to its JVM, -javaagent among them"),
    ("CLASSPATH", "the JVM loads classes from it"),
    ("PERL5OPT", "perl takes switches from it, -M (load a module) among them"),
    ("PERL5LIB", "perl loads modules from it before its own"),
    ("PERLLIB", "perl loads modules from it before its own"),
    ("PERL5DB", "perl -d runs the code it holds"),
    ("RUBYOPT", "ruby takes options from it, -r (require) among them"),
    ("RUBYLIB", "ruby loads libraries from it before its own"),
    ("GEM_HOME", "ruby loads gems from it"),
    ("GEM_PATH", "ruby loads gems from it"),
    ("LUA_INIT*", "lua runs the code, or the file, it holds"),
    ("LUA_PATH*", "lua loads modules from it"),
    ("LUA_CPATH*", "lua loads native modules, shared libraries, from it"),
    ("PHPRC", "php reads php.ini, auto_prepend_file among its settings, from it"),
    ("PHP_INI_SCAN_DIR", "php reads more ini files from it"),
    ("DOTNET_STARTUP_HOOKS", ".NET runs the assemblies it names at start-up"),
    ("CORECLR_*", ".NET loads the profiler, a shared library, they name"),
    ("GOFLAGS", "go takes flags from it, -toolexec (run a program) among them"),
    ("OPENSSL_CONF", "OpenSSL reads it, and loads the engines and providers it names"),
    ("OPENSSL_ENGINES", "OpenSSL loads engines, shared libraries, from it"),
    ("OPENSSL_MODULES", "OpenSSL loads providers, shared libraries, from it"),
    ("GIT_SSH", "git runs it to reach a remote"),
    ("GIT_SSH_COMMAND", "git runs it to reach a remote"),
    ("GIT_PROXY_COMMAND", "git runs it to reach a remote"),
    ("GIT_ASKPASS", "git runs it to ask for a password"),
    ("GIT_EXEC_PATH", "git runs its subcommands from it"),
    ("GIT_EXTERNAL_DIFF", "git runs it to show a diff"),
    ("GIT_PAGER", "git runs it to page output"),
    ("GIT_EDITOR", "git runs it to edit a message"),
    ("GIT_SEQUENCE_EDITOR", "git runs it to edit a rebase"),
    ("GIT_DIR", "git reads that repository's config, whose hooks and core.fsmonitor run commands"),
    ("GIT_CONFIG*", "git reads config from them, whose hooks and core.fsmonitor run commands"),
    ("GIT_TEMPLATE_DIR", "git init copies hooks from it"),
    ("EDITOR", "programs run it to edit a file"),
    ("VISUAL", "programs run it to edit a file"),
    ("PAGER", "programs run it to page output"),
    ("MANPAGER", "man runs it to page output"),
    ("LESSOPEN", "less runs it on every file it opens"),
    ("LESSCLOSE", "less runs it on every file it closes"),
    ("BROWSER", "programs run it to open a link"),
    ("KUBECONFIG", "kubectl reads it, and runs its exec credential plugins"),
];

/// The patterns of [`CODE_LOADING`], compiled once.
static CODE_LOADING_SET: LazyLock<GlobSet> = LazyLock::new(|| {
    let patterns: Vec<String> = CODE_LOADING.iter().map(|(pattern, _)| pattern.to_string()).collect();
    glob_set(&patterns).expect("the code-loading patterns are valid globs")
});

/// The config key that opts a code-loading variable in, as users write it.
pub const ALLOW_CODE_LOADING_KEY: &str = "env.allow_code_loading";

/// Variables to set on top of the host environment, and host variables to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchEnv {
    pub set: BTreeMap<String, String>,
    pub unset: Vec<String>,
    /// Code-loading variables of the target that were not taken (see [`CODE_LOADING`]).
    pub withheld: Vec<String>,
}

impl LaunchEnv {
    /// What the user should be told about this environment.
    pub fn warnings(&self) -> Vec<String> {
        if self.withheld.is_empty() {
            return Vec::new();
        }
        vec![format!(
            "the target's {} kept the host's value or stayed unset, because the target's value would make programs \
             here load or run the target's code; to take one from the target anyway, list it in \
             {ALLOW_CODE_LOADING_KEY} of the config",
            self.withheld.join(", ")
        )]
    }
}

/// What the session adds so the hook layer can find the daemon.
#[derive(Debug, Clone)]
pub struct SessionVars {
    pub layer_path: String,
    pub proxy_socket: String,
    pub token: String,
    pub layer_log: String,
}

/// Computes the launch environment from the host's (`host`), the target's (`target`) and the
/// config's rules.
pub fn compute(
    host: &BTreeMap<String, String>,
    target: &[(String, String)],
    rules: &EnvConfig,
    session: &SessionVars,
) -> Result<LaunchEnv, globset::Error> {
    let include = glob_set(&rules.include)?;
    let exclude = glob_set(&rules.exclude)?;
    let mut set = BTreeMap::new();
    let mut withheld = Vec::new();
    for (name, value) in target {
        let taken =
            !is_host_specific(name) && (rules.include.is_empty() || include.is_match(name)) && !exclude.is_match(name);
        if !taken || host.get(name) == Some(value) {
            continue;
        }
        if CODE_LOADING_SET.is_match(name) && !rules.allow_code_loading.contains(name) {
            withheld.push(name.clone());
        } else {
            set.insert(name.clone(), value.clone());
        }
    }
    set.extend(rules.overrides.clone());
    for name in &rules.unset {
        set.remove(name);
    }
    // An override, or the target's value when opted in, comes before the host's.
    let existing = set.get("LD_PRELOAD").or_else(|| host.get("LD_PRELOAD"));
    let preload = match existing.filter(|value| !value.is_empty()) {
        Some(existing) => format!("{}:{existing}", session.layer_path),
        None => session.layer_path.clone(),
    };
    set.insert("LD_PRELOAD".into(), preload);
    set.insert("TETHER_PROXY".into(), session.proxy_socket.clone());
    set.insert("TETHER_SESSION".into(), session.token.clone());
    set.insert("TETHER_LAYER_LOG".into(), session.layer_log.clone());
    let unset = rules.unset.iter().filter(|name| host.contains_key(*name)).cloned().collect();
    Ok(LaunchEnv { set, unset, withheld })
}

fn is_host_specific(name: &str) -> bool {
    HOST_NAMES.contains(&name) || HOST_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

fn glob_set(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(Glob::new(pattern)?);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SessionVars {
        SessionVars {
            layer_path: "/opt/tether/libtether_layer.so".into(),
            proxy_socket: "/run/user/1/tether/proxy.sock".into(),
            token: "t0k".into(),
            layer_log: "/l.log".into(),
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn host() -> BTreeMap<String, String> {
        vars(&[("PATH", "/usr/bin"), ("HOME", "/home/dev"), ("LD_PRELOAD", "/x.so"), ("EDITOR", "vim")])
            .into_iter()
            .collect()
    }

    #[test]
    fn compute_keeps_host_specific_variables_the_hosts() {
        let target =
            vars(&[("PATH", "/pod/bin"), ("HOME", "/root"), ("XDG_X", "1"), ("SSH_AUTH_SOCK", "s"), ("DB", "pg")]);
        let env = compute(&host(), &target, &EnvConfig::default(), &session()).unwrap();
        assert_eq!(env.set.get("DB").map(String::as_str), Some("pg"));
        for name in ["PATH", "HOME", "XDG_X", "SSH_AUTH_SOCK"] {
            assert!(!env.set.contains_key(name), "{name} must stay the host's");
        }
    }

    #[test]
    fn compute_applies_include_exclude_override_unset() {
        let target = vars(&[("DB_HOST", "db"), ("DB_PASSWORD", "pw"), ("OTHER", "o"), ("EDITOR", "nano")]);
        let rules = EnvConfig {
            include: vec!["DB_*".into(), "EDITOR".into()],
            exclude: vec!["*PASSWORD".into()],
            overrides: [("DB_HOST".to_string(), "localhost".to_string())].into(),
            unset: vec!["EDITOR".into()],
            allow_code_loading: Vec::new(),
        };
        let env = compute(&host(), &target, &rules, &session()).unwrap();
        assert_eq!(env.set.get("DB_HOST").map(String::as_str), Some("localhost"));
        assert!(!env.set.contains_key("DB_PASSWORD"));
        assert!(!env.set.contains_key("OTHER"));
        assert!(!env.set.contains_key("EDITOR"));
        assert_eq!(env.unset, ["EDITOR"]);
    }

    #[test]
    fn compute_code_loading_variable_stays_the_hosts_and_is_reported() {
        let target = vars(&[
            ("BASH_ENV", "/etc/x.sh"),
            ("NODE_OPTIONS", "--require /x.js"),
            ("BASH_FUNC_ls%%", "() { /x; }"),
            ("LD_LIBRARY_PATH", "/pod/lib"),
            ("EDITOR", "/pod/bin/ed"),
            ("DB", "pg"),
        ]);
        let env = compute(&host(), &target, &EnvConfig::default(), &session()).unwrap();
        assert_eq!(env.set.get("DB").map(String::as_str), Some("pg"));
        for name in ["BASH_ENV", "NODE_OPTIONS", "BASH_FUNC_ls%%", "LD_LIBRARY_PATH", "EDITOR"] {
            assert!(!env.set.contains_key(name), "{name} must not come from the target");
        }
        assert!(env.unset.is_empty(), "the host's EDITOR stays: {:?}", env.unset);
        assert_eq!(env.withheld, ["BASH_ENV", "NODE_OPTIONS", "BASH_FUNC_ls%%", "LD_LIBRARY_PATH", "EDITOR"]);
        let warnings = env.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("BASH_ENV, NODE_OPTIONS") && warnings[0].contains(ALLOW_CODE_LOADING_KEY));
    }

    #[test]
    fn compute_code_loading_variable_named_in_the_opt_in_comes_from_the_target() {
        let target = vars(&[("BASH_ENV", "/etc/x.sh"), ("NODE_OPTIONS", "--require /x.js")]);
        let rules = EnvConfig { allow_code_loading: vec!["NODE_OPTIONS".into()], ..EnvConfig::default() };
        let env = compute(&host(), &target, &rules, &session()).unwrap();
        assert_eq!(env.set.get("NODE_OPTIONS").map(String::as_str), Some("--require /x.js"));
        assert_eq!(env.withheld, ["BASH_ENV"]);
    }

    #[test]
    fn compute_code_loading_variable_equal_to_the_hosts_is_not_reported() {
        let env = compute(&host(), &vars(&[("EDITOR", "vim")]), &EnvConfig::default(), &session()).unwrap();
        assert!(env.withheld.is_empty() && env.warnings().is_empty());
    }

    #[test]
    fn code_loading_list_covers_the_known_start_up_variables() {
        let known = [
            "BASH_ENV",
            "ENV",
            "PROMPT_COMMAND",
            "PS4",
            "SHELLOPTS",
            "BASHOPTS",
            "IFS",
            "PYTHONSTARTUP",
            "PYTHONPATH",
            "PYTHONHOME",
            "NODE_OPTIONS",
            "NODE_PATH",
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "JDK_JAVA_OPTIONS",
            "PERL5OPT",
            "PERL5LIB",
            "RUBYOPT",
            "RUBYLIB",
            "GCONV_PATH",
            "GIT_SSH_COMMAND",
            "GIT_EXEC_PATH",
            "LD_PRELOAD",
            "LD_AUDIT",
            "BASH_FUNC_cd%%",
            "GIT_CONFIG_KEY_0",
            "LUA_INIT_5_4",
        ];
        for name in known {
            assert!(CODE_LOADING_SET.is_match(name), "{name} is a start-up or code-loading variable");
        }
        for name in ["DATABASE_URL", "PYTHONUNBUFFERED", "NODE_ENV", "GIT_COMMIT", "JAVA_HOME", "LANG"] {
            assert!(!CODE_LOADING_SET.is_match(name), "{name} loads no code");
        }
    }

    #[test]
    fn compute_prepends_the_layer_to_an_existing_preload() {
        let env = compute(&host(), &[], &EnvConfig::default(), &session()).unwrap();
        assert_eq!(env.set["LD_PRELOAD"], "/opt/tether/libtether_layer.so:/x.so");
        assert_eq!(env.set["TETHER_SESSION"], "t0k");
    }
}
