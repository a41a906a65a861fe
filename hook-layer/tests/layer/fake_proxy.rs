//! A fake session proxy: serves the layer's wire requests from canned data on a Unix socket,
//! records every request, and plays the relay for outgoing TCP/UDP on loopback.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

use tether_rpc_schema::codec::{read_frame, write_frame};
use tether_rpc_schema::policy::LayerPolicy;
use tether_rpc_schema::wire::{DirEntry, Envelope, FileMeta, Message, Timestamp};

/// The real client the fake reports for connections accepted on a subscribed listener.
pub const INCOMING_CLIENT: &str = "10.1.2.3:4567";

/// How the fake answers `Hello`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Normal,
    /// Accept connections, never answer.
    Silent,
}

/// Canned target content.
#[derive(Default, Clone)]
pub struct Target {
    pub files: HashMap<String, Vec<u8>>,
    pub dirs: HashMap<String, Vec<(String, u8)>>,
    pub links: HashMap<String, String>,
    pub names: HashMap<String, Vec<IpAddr>>,
}

impl Target {
    /// The content most tests use.
    pub fn sample() -> Target {
        let mut target = Target::default();
        target.files.insert("/etc/app/config.yaml".into(), b"mode: target\nreplicas: 3\n".to_vec());
        target.files.insert("/etc/app/conf.d/a.conf".into(), b"a=1\n".to_vec());
        target.files.insert("/etc/hosts".into(), b"10.96.4.7 orders\n".to_vec());
        let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        target.files.insert("/srv/data/big.bin".into(), big);
        target.dirs.insert(
            "/etc/app".into(),
            vec![
                ("config.yaml".into(), libc::DT_REG),
                ("conf.d".into(), libc::DT_DIR),
                ("current".into(), libc::DT_LNK),
            ],
        );
        target.dirs.insert("/etc/app/conf.d".into(), vec![("a.conf".into(), libc::DT_REG)]);
        target.dirs.insert("/srv/data".into(), vec![("big.bin".into(), libc::DT_REG)]);
        target.links.insert("/etc/app/current".into(), "config.yaml".into());
        target.names.insert("orders.shop.svc".into(), vec!["10.96.4.7".parse().unwrap()]);
        target.names.insert("dual.shop.svc".into(), vec!["10.96.4.8".parse().unwrap(), "fd00::8".parse().unwrap()]);
        target
    }
}

/// A running fake proxy.
pub struct FakeProxy {
    pub socket: PathBuf,
    pub token: String,
    state: Arc<State>,
}

struct State {
    target: Mutex<Target>,
    policy: LayerPolicy,
    requests: Mutex<Vec<Message>>,
    /// `(local_port the layer announced, peer port the relay saw)` per TCP relay.
    tcp_peers: Arc<Mutex<Vec<(u16, u16)>>>,
    token: String,
    behaviour: Behaviour,
}

impl FakeProxy {
    /// Starts serving on `dir/proxy.sock`.
    pub fn start(dir: &Path, target: Target, policy: LayerPolicy, behaviour: Behaviour) -> FakeProxy {
        let socket = dir.join("proxy.sock");
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).expect("bind fake proxy socket");
        let token = format!("token-{}", std::process::id());
        let state = Arc::new(State {
            target: Mutex::new(target),
            policy,
            requests: Mutex::default(),
            tcp_peers: Arc::default(),
            token: token.clone(),
            behaviour,
        });
        let serving = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&serving);
                thread::spawn(move || serve(stream, &state));
            }
        });
        FakeProxy { socket, token, state }
    }

    /// Every request received so far (hellos excluded).
    pub fn requests(&self) -> Vec<Message> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Paths named by any file request so far.
    pub fn requested_paths(&self) -> Vec<String> {
        self.requests().iter().filter_map(request_path).collect()
    }

    /// TCP relays: `(announced local port, actual peer port)`.
    pub fn tcp_peers(&self) -> Vec<(u16, u16)> {
        self.state.tcp_peers.lock().unwrap().clone()
    }

    /// Content written to a target file.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.state.target.lock().unwrap().files.get(path).cloned()
    }
}

fn request_path(message: &Message) -> Option<String> {
    let path = match message {
        Message::FileRead { path, .. }
        | Message::FileStat { path, .. }
        | Message::FileAccess { path, .. }
        | Message::FileReadlink { path }
        | Message::FileRealpath { path }
        | Message::FileReadDir { path }
        | Message::FileWrite { path, .. }
        | Message::FileUnlink { path }
        | Message::FileMkdir { path, .. }
        | Message::FileRmdir { path } => path,
        _ => return None,
    };
    Some(String::from_utf8_lossy(path).into_owned())
}

fn serve(mut stream: UnixStream, state: &State) {
    while let Ok(request) = read_frame(&mut stream) {
        if state.behaviour == Behaviour::Silent {
            continue;
        }
        let response = match request.message {
            Message::Hello(hello) if hello.token == state.token => Message::HelloOk(tether_rpc_schema::wire::HelloOk {
                protocol_version: tether_rpc_schema::PROTOCOL_VERSION,
                capabilities: vec![],
                policy: Some(Box::new(state.policy.clone())),
                park: Vec::new(),
            }),
            Message::Hello(_) => Message::HelloRefused { reason: "bad token".into() },
            other => {
                state.requests.lock().unwrap().push(other.clone());
                answer(other, state)
            }
        };
        let reply = Envelope { id: request.id, message: response };
        if write_frame(&mut stream, &reply).is_err() {
            return;
        }
        let _ = stream.flush();
    }
}

fn meta(mode: u32, size: u64) -> FileMeta {
    FileMeta {
        ino: 4242,
        mode,
        nlink: 1,
        uid: 1234,
        gid: 1234,
        size,
        blksize: 4096,
        blocks: size.div_ceil(512),
        mtime: Timestamp { sec: 1_700_000_000, nsec: 0 },
        ..FileMeta::default()
    }
}

fn enoent() -> Message {
    Message::failure(libc::ENOENT, "no such file")
}

fn answer(request: Message, state: &State) -> Message {
    let mut target = state.target.lock().unwrap();
    let text = |path: &[u8]| String::from_utf8_lossy(path).into_owned();
    match request {
        Message::FileRead { path, offset, len } => {
            let path = text(&path);
            if target.dirs.contains_key(&path) {
                return Message::failure(libc::EISDIR, "is a directory");
            }
            let Some(content) = target.files.get(&path) else { return enoent() };
            let start = (offset as usize).min(content.len());
            let end = (start + len as usize).min(content.len());
            Message::FileData {
                meta: meta(libc::S_IFREG | 0o644, content.len() as u64),
                data: content[start..end].to_vec(),
                eof: end == content.len(),
            }
        }
        Message::FileStat { path, follow } => {
            let path = text(&path);
            if !follow && target.links.contains_key(&path) {
                return Message::FileStatus(meta(libc::S_IFLNK | 0o777, 11));
            }
            let resolved = resolve_link(&target, &path);
            if let Some(content) = target.files.get(&resolved) {
                Message::FileStatus(meta(libc::S_IFREG | 0o644, content.len() as u64))
            } else if target.dirs.contains_key(&resolved) {
                Message::FileStatus(meta(libc::S_IFDIR | 0o755, 4096))
            } else {
                enoent()
            }
        }
        Message::FileAccess { path, .. } => {
            let path = text(&path);
            if target.files.contains_key(&path) || target.dirs.contains_key(&path) {
                Message::Done
            } else {
                enoent()
            }
        }
        Message::FileReadlink { path } => match target.links.get(&text(&path)) {
            Some(link) => Message::Path(link.clone().into_bytes()),
            None => Message::failure(libc::EINVAL, "not a link"),
        },
        Message::FileRealpath { path } => {
            let resolved = resolve_link(&target, &text(&path));
            if target.files.contains_key(&resolved) || target.dirs.contains_key(&resolved) {
                Message::Path(resolved.into_bytes())
            } else {
                enoent()
            }
        }
        Message::FileReadDir { path } => match target.dirs.get(&text(&path)) {
            Some(entries) => Message::DirEntries(
                entries
                    .iter()
                    .enumerate()
                    .map(|(i, (name, kind))| DirEntry {
                        name: name.clone().into_bytes(),
                        ino: 100 + i as u64,
                        kind: *kind,
                    })
                    .collect(),
            ),
            None => enoent(),
        },
        Message::FileWrite { path, data, .. } => {
            target.files.insert(text(&path), data);
            Message::Done
        }
        Message::FileRename { from, to } => match target.files.remove(&text(&from)) {
            Some(content) => {
                target.files.insert(text(&to), content);
                Message::Done
            }
            None => enoent(),
        },
        Message::DnsLookup { name, family } => {
            let addrs = target.names.get(&name).cloned().unwrap_or_default();
            let addrs = addrs
                .into_iter()
                .filter(|a| match family {
                    tether_rpc_schema::wire::Family::V4 => a.is_ipv4(),
                    tether_rpc_schema::wire::Family::V6 => a.is_ipv6(),
                    tether_rpc_schema::wire::Family::Any => true,
                })
                .collect();
            Message::DnsAnswer { canonical_name: Some(format!("{name}.cluster.local")), addrs }
        }
        Message::OutgoingTcp { addr, local_port, .. } => {
            drop(target);
            if addr.port() == 1 {
                return Message::failure(libc::ECONNREFUSED, "connection refused");
            }
            tcp_relay(addr, local_port, state)
        }
        Message::OutgoingUdp { addr, .. } => udp_relay(addr),
        Message::IncomingListen { .. } | Message::IncomingUnlisten { .. } => Message::Done,
        Message::IncomingPeer { .. } => Message::IncomingPeerAddr { addr: INCOMING_CLIENT.parse().unwrap() },
        _ => Message::failure(libc::ENOSYS, "not in the fake"),
    }
}

fn resolve_link(target: &Target, path: &str) -> String {
    match target.links.get(path) {
        Some(link) if link.starts_with('/') => link.clone(),
        Some(link) => format!("{}/{link}", &path[..path.rfind('/').unwrap_or(0)]),
        None => path.to_string(),
    }
}

fn tcp_relay(addr: SocketAddr, local_port: u16, state: &State) -> Message {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    let peers = Arc::clone(&state.tcp_peers);
    thread::spawn(move || {
        if let Ok((mut conn, peer)) = listener.accept() {
            peers.lock().unwrap().push((local_port, peer.port()));
            // One write: the test program reads the greeting with a single read().
            let _ = conn.write_all(format!("hello from {addr}\n").as_bytes());
        }
    });
    Message::OutgoingReady { proxy_addr, local: None }
}

fn udp_relay(addr: SocketAddr) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let proxy_addr = socket.local_addr().unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 1500];
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let reply = format!("echo {} via {addr}", String::from_utf8_lossy(&buf[..n]));
            let _ = socket.send_to(reply.as_bytes(), from);
        }
    });
    Message::OutgoingReady { proxy_addr, local: None }
}
