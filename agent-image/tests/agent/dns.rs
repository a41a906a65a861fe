//! Name resolution with the target's resolv.conf, hosts file and network namespace, against
//! a dnsmasq that listens only inside the target's network namespace.

use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tether_rpc_schema::wire::{Family, Message};

use crate::harness::{Agent, Client, Target};

/// dnsmasq serving `svc.test.internal` on the target's 127.0.0.1:53.
struct Dnsmasq(Child);

impl Dnsmasq {
    fn start(target: &Target) -> Dnsmasq {
        let child = Command::new("nsenter")
            .arg(format!("--net=/proc/{}/ns/net", target.pid))
            .args([
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--port=53",
                "--user=root",
                "--local=/test.internal/",
                "--host-record=svc.test.internal,10.1.2.3",
            ])
            .arg(format!("--pid-file={}", target.scratch().join("dnsmasq.pid").display()))
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot start dnsmasq ({err}); the dns test needs it: apt-get install -y dnsmasq")
            });
        Dnsmasq(child)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn addrs(text: &[&str]) -> Vec<IpAddr> {
    text.iter().map(|addr| addr.parse().unwrap()).collect()
}

async fn lookup(client: &mut Client, id: u64, name: &str, family: Family) -> Message {
    client.request(id, Message::DnsLookup { name: name.into(), family }).await
}

#[tokio::test]
async fn dns_lookup_short_name_resolves_through_target_search_list() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    // A lookup while no name server runs fails and must not poison later lookups.
    assert!(matches!(lookup(&mut client, 1, "svc", Family::V4).await, Message::Failure { errno: libc::EAGAIN, .. }));
    let _dnsmasq = Dnsmasq::start(&target);
    // dnsmasq needs a moment to bind; the first lookups may fail with EAGAIN.
    let mut answer = lookup(&mut client, 2, "svc", Family::V4).await;
    for id in 3..40 {
        if !matches!(answer, Message::Failure { .. }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        answer = lookup(&mut client, id, "svc", Family::V4).await;
    }
    assert_eq!(
        answer,
        Message::DnsAnswer { canonical_name: Some("svc.test.internal".into()), addrs: addrs(&["10.1.2.3"]) }
    );
    assert_eq!(
        lookup(&mut client, 50, "svc.test.internal", Family::Any).await,
        Message::DnsAnswer { canonical_name: Some("svc.test.internal".into()), addrs: addrs(&["10.1.2.3"]) }
    );
    assert_eq!(
        lookup(&mut client, 51, "nothere.test.internal.", Family::Any).await,
        Message::DnsAnswer { canonical_name: None, addrs: Vec::new() }
    );
}

#[tokio::test]
async fn dns_lookup_consults_target_hosts_file_with_search_list_and_rereads_it() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    assert_eq!(
        lookup(&mut client, 2, "hosty", Family::Any).await,
        Message::DnsAnswer { canonical_name: Some("hosty.test.internal".into()), addrs: addrs(&["10.9.8.7"]) }
    );
    let hosts = b"10.9.8.8 hosty.test.internal\nfd00::8 hosty.test.internal\n".to_vec();
    let write = Message::FileWrite { path: b"/etc/hosts".to_vec(), data: hosts, append: false, mode: 0o644 };
    assert_eq!(client.request(3, write).await, Message::Done);
    assert_eq!(
        lookup(&mut client, 4, "hosty", Family::Any).await,
        // In the order the target's own getaddrinfo gives: neither is reachable from its
        // network (loopback only), so glibc's precedence puts IPv6 first.
        Message::DnsAnswer {
            canonical_name: Some("hosty.test.internal".into()),
            addrs: addrs(&["fd00::8", "10.9.8.8"])
        }
    );
}
