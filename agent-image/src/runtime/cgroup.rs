//! Finds a container's main process without asking its runtime: every process of a container
//! sits in a cgroup whose path names the container's id (`/kubepods/…/<id>`,
//! `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`), whatever the runtime
//! and cgroup version. Needs the host's pid namespace (a Kubernetes agent pod has `hostPID`).

use super::RuntimeError;

/// Where the processes are listed.
const PROC: &str = "/proc";

/// The container's main process: the one of its processes whose parent is not one of them.
/// Blocking (reads `/proc`).
pub fn container_pid(id: &str) -> Result<u32, RuntimeError> {
    if id.len() < 12 || !id.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(RuntimeError::NotFound {
            query: id.to_string(),
            searched: "cgroups (a container id of at least 12 hex digits is needed)".to_string(),
        });
    }
    let members: Vec<(u32, u32)> = std::fs::read_dir(PROC)
        .map_err(|err| RuntimeError::unreachable("cgroups", std::path::Path::new(PROC), err))?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("{PROC}/{pid}/cgroup")).is_ok_and(|cgroups| names_container(&cgroups, id))
        })
        .filter_map(|pid| Some((pid, parent(pid)?)))
        .collect();
    main_process(&members).ok_or_else(|| RuntimeError::NotFound {
        query: id.to_string(),
        searched: "the cgroups of this node's processes (is the container running on this node?)".to_string(),
    })
}

/// Whether a `/proc/<pid>/cgroup` text puts the process in container `id`: some line's path has
/// a component that is the id itself or ends in `-<id>.scope` / `-<id>`.
pub fn names_container(cgroups: &str, id: &str) -> bool {
    cgroups.lines().filter_map(|line| line.splitn(3, ':').nth(2)).any(|path| {
        path.split('/').any(|component| {
            let component = component.strip_suffix(".scope").unwrap_or(component);
            component.len() >= id.len()
                && component.ends_with(id)
                && (component.len() == id.len() || component.as_bytes()[component.len() - id.len() - 1] == b'-')
                && (id.len() == 64 || component.len() == id.len())
        })
    })
}

/// Of (pid, parent) pairs, the lowest pid whose parent is not in the set.
pub fn main_process(members: &[(u32, u32)]) -> Option<u32> {
    members.iter().filter(|(_, parent)| !members.iter().any(|(pid, _)| pid == parent)).map(|(pid, _)| *pid).min()
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("{PROC}/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last `)`.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "12315906689235567d4521fc8404639f291a8c8c752162c78ba3fa02d373604d";

    #[test]
    fn cgroup_paths_of_every_runtime_name_the_container() {
        let v1 = format!("9:name=systemd:/k8s.io/{ID}\n8:pids:/k8s.io/{ID}\n");
        let v2_systemd = format!("0::/kubepods.slice/kubepods-besteffort.slice/cri-containerd-{ID}.scope\n");
        let crio = format!("0::/../crio-{ID}.scope\n");
        let cgroupfs = format!("0::/kubepods/besteffort/pod1234/{ID}\n");
        for text in [v1, v2_systemd, crio, cgroupfs] {
            assert!(names_container(&text, ID), "{text}");
        }
    }

    #[test]
    fn another_container_or_a_longer_name_is_not_this_one() {
        let other = ID.replace('1', "2");
        assert!(!names_container(&format!("0::/k8s.io/{other}\n"), ID));
        assert!(!names_container(&format!("0::/k8s.io/x{ID}\n"), ID));
        assert!(!names_container("0::/user.slice\n", ID));
        // A short prefix must be a whole component, not the start of one.
        assert!(!names_container(&format!("0::/k8s.io/{ID}\n"), &ID[..12]));
        assert!(names_container(&format!("0::/k8s.io/{}\n", &ID[..12]), &ID[..12]));
    }

    #[test]
    fn the_main_process_is_the_one_whose_parent_is_outside() {
        // 900 is the shim (outside); 1000 the container's init, 1001 and 1002 its children.
        assert_eq!(main_process(&[(1001, 1000), (1000, 900), (1002, 1001)]), Some(1000));
        assert_eq!(main_process(&[]), None);
    }

    #[test]
    fn a_malformed_id_is_refused_before_reading_proc() {
        assert!(matches!(container_pid("../etc"), Err(RuntimeError::NotFound { .. })));
    }
}
