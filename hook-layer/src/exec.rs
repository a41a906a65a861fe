//! Children stay hooked: `execve`/`posix_spawn` environments that lost `LD_PRELOAD` (with this
//! library) or `TETHER_*` get them back, with the values this process started with.

use std::ffi::{CStr, CString};

use libc::c_char;

use crate::launch::{self, LaunchEnv};
use crate::writeback::HANDOFF_VAR;

/// The environment to hand to a child instead of `envp`, or `None` when `envp` already has
/// everything.
pub fn augmented(envp: &[&[u8]], launch: &LaunchEnv) -> Option<Vec<Vec<u8>>> {
    if !launch.configured() || launch.layer_path.is_empty() {
        return None;
    }
    let value = |name: &[u8]| envp.iter().find_map(|entry| entry.strip_prefix(name)?.strip_prefix(b"="));
    let mut env: Vec<Vec<u8>> = envp.iter().map(|entry| entry.to_vec()).collect();
    let mut changed = false;
    let preload = value(b"LD_PRELOAD");
    if !preload.is_some_and(|list| mentions_layer(list, &launch.layer_path)) {
        let started = launch.ld_preload.as_deref().filter(|list| mentions_layer(list, &launch.layer_path));
        let mut entry = b"LD_PRELOAD=".to_vec();
        entry.extend(started.unwrap_or(&launch.layer_path));
        if let Some(existing) = preload.filter(|list| !list.is_empty()) {
            entry.push(b':');
            entry.extend(existing);
        }
        env.retain(|entry| !entry.starts_with(b"LD_PRELOAD="));
        env.push(entry);
        changed = true;
    }
    let tether = [
        (b"TETHER_PROXY".as_slice(), launch.proxy.as_ref().map(|v| v.to_bytes())),
        (b"TETHER_SESSION", launch.session.as_ref().map(|v| v.as_bytes())),
        (b"TETHER_LAYER_LOG", launch.log_path.as_ref().map(|v| v.to_bytes())),
    ];
    for (name, started_with) in tether {
        if let (None, Some(started_with)) = (value(name), started_with) {
            env.push([name, b"=", started_with].concat());
            changed = true;
        }
    }
    changed.then_some(env)
}

/// Whether an `LD_PRELOAD` list (space- or colon-separated) names this library.
fn mentions_layer(list: &[u8], layer_path: &[u8]) -> bool {
    let basename = layer_path.rsplit(|b| *b == b'/').next().unwrap_or(layer_path);
    list.split(|b| *b == b':' || *b == b' ')
        .any(|item| item == layer_path || item.rsplit(|b| *b == b'/').next() == Some(basename))
}

/// Runs `spawn` with `envp`, or with an augmented copy of it when it lacks the layer. `handoff`
/// (for `execve`: the writable target files it keeps open) replaces any such entry of `envp`.
pub fn with_env<R>(
    envp: *const *const c_char,
    handoff: Option<Vec<u8>>,
    spawn: impl FnOnce(*const *const c_char) -> R,
) -> Option<R> {
    let mut entries: Vec<&[u8]> = Vec::new();
    if !envp.is_null() {
        let mut at = envp;
        // SAFETY: envp is a NULL-terminated array of C strings (exec's contract).
        unsafe {
            while !(*at).is_null() {
                entries.push(CStr::from_ptr(*at).to_bytes());
                at = at.add(1);
            }
        }
    }
    let handed = |entry: &[u8]| entry.strip_prefix(HANDOFF_VAR.as_bytes()).is_some_and(|rest| rest.starts_with(b"="));
    let mut env = augmented(&entries, launch::get());
    if handoff.is_some() || entries.iter().any(|entry| handed(entry)) {
        let mut replaced = env.unwrap_or_else(|| entries.iter().map(|entry| entry.to_vec()).collect());
        replaced.retain(|entry| !handed(entry));
        replaced.extend(handoff);
        env = Some(replaced);
    }
    let env = env?;
    let owned: Vec<CString> = env.into_iter().filter_map(|entry| CString::new(entry).ok()).collect();
    let mut pointers: Vec<*const c_char> = owned.iter().map(|entry| entry.as_ptr()).collect();
    pointers.push(std::ptr::null());
    Some(spawn(pointers.as_ptr()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch() -> LaunchEnv {
        LaunchEnv {
            proxy: Some(c"/run/user/1000/tether/proxy.sock".into()),
            session: Some("token".into()),
            log_path: Some(c"/tmp/layer.log".into()),
            layer_path: b"/opt/tether/libtether_layer.so".to_vec(),
            ..LaunchEnv::default()
        }
    }

    fn text(env: Option<Vec<Vec<u8>>>) -> Option<Vec<String>> {
        env.map(|env| env.into_iter().map(|e| String::from_utf8(e).unwrap()).collect())
    }

    #[test]
    fn augmented_adds_everything_to_an_empty_env() {
        let env = text(augmented(&[b"PATH=/bin"], &launch())).unwrap();
        assert_eq!(
            env,
            [
                "PATH=/bin",
                "LD_PRELOAD=/opt/tether/libtether_layer.so",
                "TETHER_PROXY=/run/user/1000/tether/proxy.sock",
                "TETHER_SESSION=token",
                "TETHER_LAYER_LOG=/tmp/layer.log"
            ]
        );
    }

    #[test]
    fn augmented_prepends_to_another_preload_and_keeps_present_values() {
        let envp: [&[u8]; 4] =
            [b"LD_PRELOAD=/usr/lib/libasan.so", b"TETHER_PROXY=/x", b"TETHER_SESSION=other", b"TETHER_LAYER_LOG=/l"];
        let env = text(augmented(&envp, &launch())).unwrap();
        assert!(env.contains(&"LD_PRELOAD=/opt/tether/libtether_layer.so:/usr/lib/libasan.so".to_string()));
        assert!(env.contains(&"TETHER_SESSION=other".to_string()));
        assert_eq!(env.len(), 4);
    }

    #[test]
    fn augmented_restores_the_preload_list_the_process_started_with() {
        let launch = LaunchEnv {
            ld_preload: Some(b"/opt/tether/libtether_layer.so /usr/lib/libjemalloc.so".to_vec()),
            ..launch()
        };
        let env = text(augmented(&[], &launch)).unwrap();
        assert_eq!(env[0], "LD_PRELOAD=/opt/tether/libtether_layer.so /usr/lib/libjemalloc.so");
    }

    #[test]
    fn augmented_complete_env_is_unchanged() {
        let envp: [&[u8]; 4] = [
            b"LD_PRELOAD=libfoo.so libtether_layer.so",
            b"TETHER_PROXY=/x",
            b"TETHER_SESSION=t",
            b"TETHER_LAYER_LOG=/l",
        ];
        assert_eq!(augmented(&envp, &launch()), None);
    }

    #[test]
    fn augmented_without_session_is_none() {
        assert_eq!(augmented(&[], &LaunchEnv::default()), None);
    }
}
