//! Decision tables for [`super::Policy`]: path precedence, DNS names, outgoing destinations.

use super::*;
use tether_rpc_schema::policy::{DnsPolicy, FsPolicy, OutgoingPolicy};

fn compile(policy: LayerPolicy) -> Policy {
    let dirs = HostDirs::new(Some(b"/home/dev/app"), Some(b"/home/dev"), &[]);
    Policy::compile(&policy, dirs, Some("devbox".into()), &mut |p| panic!("invalid {p}"))
}

fn fs(mode: FsMode) -> FsPolicy {
    FsPolicy {
        mode,
        not_found: vec!["^/etc/app/secret".into(), "^/srv/hidden".into()],
        local: vec!["^/etc/app/".into(), "^/etc/hosts$".into()],
        read_write: vec!["^/etc/app/".into(), "^/srv/".into(), "^/usr/share/target/".into()],
        read_only: vec!["^/srv/".into(), "^/var/data/".into()],
    }
}

#[test]
fn classify_follows_the_precedence_table() {
    use PathClass::*;
    let policy = compile(LayerPolicy { fs: fs(FsMode::Read), ..LayerPolicy::default() });
    let cases = [
        ("/etc/app/secret.yaml", NotFound), // not_found beats local and read_write
        ("/etc/app/config.yaml", Host),     // local beats read_write
        ("/etc/hosts", Host),               // user local beats built-in target
        ("/srv/data", TargetReadWrite),     // read_write beats read_only
        ("/srv/hidden/x", NotFound),
        ("/var/data/x", TargetRead),              // read_only
        ("/usr/share/target/x", TargetReadWrite), // user rule beats built-in host
        ("/etc/resolv.conf", TargetRead),         // built-in target, mode read
        ("/run/secrets/token", TargetRead),
        ("/usr/lib/libc.so", Host),          // built-in host
        ("/home/dev/app/src/main.rs", Host), // cwd at start
        ("/etc/other.conf", TargetRead),     // mode
    ];
    for (path, want) in cases {
        assert_eq!(policy.classify(path.as_bytes()), want, "{path}");
    }
}

#[test]
fn classify_mode_write_and_local() {
    let write =
        compile(LayerPolicy { fs: FsPolicy { mode: FsMode::Write, ..FsPolicy::default() }, ..LayerPolicy::default() });
    assert_eq!(write.classify(b"/etc/other.conf"), PathClass::TargetReadWrite);
    assert_eq!(write.classify(b"/etc/resolv.conf"), PathClass::TargetReadWrite);
    assert_eq!(write.classify(b"/tmp/x"), PathClass::Host);
    let local = compile(LayerPolicy { fs: fs(FsMode::Local), ..LayerPolicy::default() });
    assert_eq!(local.classify(b"/etc/other.conf"), PathClass::Host);
    assert_eq!(local.classify(b"/etc/resolv.conf"), PathClass::Host);
    assert_eq!(local.classify(b"/var/data/x"), PathClass::TargetRead);
}

#[test]
fn compile_skips_invalid_patterns() {
    let policy = LayerPolicy {
        fs: FsPolicy { not_found: vec!["(".into(), "^/x$".into()], ..FsPolicy::default() },
        ..LayerPolicy::default()
    };
    let mut invalid = Vec::new();
    let compiled = Policy::compile(&policy, HostDirs::default(), None, &mut |p| invalid.push(p.to_string()));
    assert_eq!(invalid, ["ignoring invalid file rule pattern \"(\""]);
    assert_eq!(compiled.classify(b"/x"), PathClass::NotFound);
}

#[test]
fn dns_local_names_and_patterns_stay_on_the_host() {
    let policy = compile(LayerPolicy {
        dns: DnsPolicy { enabled: true, local: vec!["registry.example.com".into(), "*.corp.lan".into()] },
        ..LayerPolicy::default()
    });
    let dns = &policy.dns;
    for name in
        ["localhost", "LOCALHOST.", "app.localhost", "devbox", "registry.example.com", "build.corp.lan", "a.b.corp.lan"]
    {
        assert!(!dns.is_target_name(name), "{name}");
    }
    for name in ["orders.shop.svc", "corp.lan", "example.com", "xcorp.lan", "orders"] {
        assert!(dns.is_target_name(name), "{name}");
    }
    let disabled = compile(LayerPolicy { dns: DnsPolicy { enabled: false, local: vec![] }, ..LayerPolicy::default() });
    assert!(!disabled.dns.is_target_name("orders.shop.svc"));
}

#[test]
fn outgoing_local_matches_cidr_ports_names_and_mapped_v6() {
    let policy = compile(LayerPolicy {
        outgoing: OutgoingPolicy {
            tcp: true,
            udp: false,
            local: vec![
                "10.1.0.0/16".into(),
                "192.0.2.7:5432".into(),
                "fd00::/8".into(),
                "[2001:db8::1]:443".into(),
                "db.host.lan".into(),
                "cache.host.lan:6379".into(),
                "198.51.100.9".into(),
            ],
        },
        ..LayerPolicy::default()
    });
    let resolve = |name: &str| -> Vec<IpAddr> {
        match name {
            "db.host.lan" => vec!["203.0.113.5".parse().unwrap()],
            "cache.host.lan" => vec!["203.0.113.6".parse().unwrap()],
            _ => vec![],
        }
    };
    let target = |addr: &str, transport| policy.outgoing.is_target(addr.parse().unwrap(), transport, &resolve);
    use Transport::*;
    let host = [
        "10.1.2.3:80",
        "[::ffff:10.1.2.3]:80",
        "192.0.2.7:5432",
        "[fd12::1]:1",
        "[2001:db8::1]:443",
        "203.0.113.5:1",
        "203.0.113.6:6379",
        "198.51.100.9:22",
        "127.0.0.1:80",
        "[::1]:80",
        "0.0.0.0:80",
        "[::ffff:127.0.0.1]:80",
    ];
    for addr in host {
        assert!(!target(addr, Tcp), "{addr}");
    }
    let remote =
        ["10.2.0.1:80", "192.0.2.7:5433", "[2001:db8::1]:80", "203.0.113.6:1", "[::ffff:10.96.0.10]:53", "[fe80::1]:1"];
    for addr in remote {
        assert!(target(addr, Tcp), "{addr}");
    }
    assert!(!target("10.96.0.10:53", Udp), "udp disabled");
}

#[test]
fn outgoing_names_are_resolved_once() {
    let policy = compile(LayerPolicy {
        outgoing: OutgoingPolicy { local: vec!["db.host.lan".into()], ..OutgoingPolicy::default() },
        ..LayerPolicy::default()
    });
    let calls = std::cell::Cell::new(0);
    let resolve = |_: &str| {
        calls.set(calls.get() + 1);
        vec!["203.0.113.5".parse().unwrap()]
    };
    for _ in 0..3 {
        assert!(!policy.outgoing.is_target("203.0.113.5:80".parse().unwrap(), Transport::Tcp, &resolve));
    }
    assert_eq!(calls.get(), 1);
}
