//! Name resolution as the target would do it: its `/etc/hosts` first, then the name servers,
//! search list and options of its `/etc/resolv.conf`, with queries sent from its network
//! namespace. Both files are read through the target's root and re-read when they change.
//!
//! The search list is applied here, not by hickory, so that hosts entries are matched against
//! the same candidate names as DNS; hickory only ever sees fully qualified names.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RecordType;
use hickory_resolver::TokioResolver;
use tether_rpc_schema::wire::Family;
use tokio::sync::Mutex;

use crate::files::{Stamp, TargetFs};
use crate::netns::TargetNet;

const RESOLV_CONF: &[u8] = b"/etc/resolv.conf";
const HOSTS: &[u8] = b"/etc/hosts";

/// Why a lookup failed (as opposed to finding that the name does not exist).
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The target's resolver configuration could not be read.
    #[error("cannot read the target's {file}: {errno}")]
    Config { file: &'static str, errno: rustix::io::Errno },
    /// The agent's resolver itself failed.
    #[error("resolver failure: {0}")]
    Resolver(String),
    /// The name servers did not answer usefully (timeout, refusal, server failure).
    #[error("lookup of {name} failed: {reason}")]
    Lookup { name: String, reason: String },
}

/// A successful lookup; empty `addrs` means the name does not exist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    pub canonical_name: Option<String>,
    pub addrs: Vec<IpAddr>,
}

/// What the target's `/etc/resolv.conf` says, with glibc's defaults and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub ndots: usize,
    pub timeout: Duration,
    pub attempts: usize,
}

impl Default for ResolvConf {
    fn default() -> Self {
        ResolvConf {
            nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
        }
    }
}

impl ResolvConf {
    /// Parses resolv.conf like glibc: the last `search` or `domain` line wins, at most three
    /// name servers, no name server means the local one.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or_default();
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    let addr = words.next().and_then(|word| word.split('%').next()?.parse().ok());
                    if let (Some(addr), true) = (addr, conf.nameservers.len() < 3) {
                        conf.nameservers.push(addr);
                    }
                }
                Some("domain") => conf.search = words.take(1).filter_map(domain).collect(),
                Some("search") => conf.search = words.filter_map(domain).collect(),
                Some("options") => words.for_each(|option| conf.apply_option(option)),
                _ => {}
            }
        }
        if conf.nameservers.is_empty() {
            conf.nameservers.push(IpAddr::from([127, 0, 0, 1]));
        }
        conf
    }

    fn apply_option(&mut self, option: &str) {
        let Some((key, value)) = option.split_once(':') else {
            return;
        };
        let Ok(value) = value.parse::<usize>() else {
            return;
        };
        match key {
            "ndots" => self.ndots = value.min(15),
            "timeout" => self.timeout = Duration::from_secs(value.clamp(1, 30) as u64),
            "attempts" => self.attempts = value.clamp(1, 5),
            _ => {}
        }
    }

    /// The names to try for `name`, in order, without trailing dots.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(absolute) = name.strip_suffix('.') {
            return vec![absolute.to_owned()];
        }
        let searched = self.search.iter().map(|domain| format!("{name}.{domain}"));
        if name.matches('.').count() >= self.ndots {
            std::iter::once(name.to_owned()).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(name.to_owned())).collect()
        }
    }
}

fn domain(word: &str) -> Option<String> {
    let word = word.trim_end_matches('.');
    (!word.is_empty()).then(|| word.to_owned())
}

/// The target's `/etc/hosts`: lowercase name → (canonical name, address) in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosts {
    entries: HashMap<String, Vec<(String, IpAddr)>>,
}

impl Hosts {
    pub fn parse(text: &str) -> Hosts {
        let mut hosts = Hosts::default();
        for line in text.lines() {
            let mut words = line.split('#').next().unwrap_or_default().split_whitespace();
            let Some(Ok(addr)) = words.next().map(str::parse::<IpAddr>) else {
                continue;
            };
            let names: Vec<&str> = words.collect();
            let Some(canonical) = names.first() else {
                continue;
            };
            for name in &names {
                hosts
                    .entries
                    .entry(name.trim_end_matches('.').to_ascii_lowercase())
                    .or_default()
                    .push(((*canonical).to_owned(), addr));
            }
        }
        hosts
    }

    /// The addresses of `name` of the wanted family (v4 first for `Any`, before the target's
    /// own order is applied), if it is listed.
    pub fn lookup(&self, name: &str, family: Family) -> Option<Answer> {
        let entries = self.entries.get(&name.to_ascii_lowercase())?;
        let mut addrs: Vec<IpAddr> = entries.iter().map(|(_, addr)| *addr).filter(|a| wanted(*a, family)).collect();
        addrs.sort_by_key(IpAddr::is_ipv6);
        addrs.dedup();
        let canonical_name = entries.iter().find(|(_, addr)| wanted(*addr, family)).map(|(c, _)| c.clone());
        (!addrs.is_empty()).then_some(Answer { canonical_name, addrs })
    }
}

fn wanted(addr: IpAddr, family: Family) -> bool {
    match family {
        Family::Any => true,
        Family::V4 => addr.is_ipv4(),
        Family::V6 => addr.is_ipv6(),
    }
}

/// The configuration in force and the resolver built from it.
struct Loaded {
    stamps: (Option<Stamp>, Option<Stamp>),
    conf: ResolvConf,
    hosts: Hosts,
    resolver: TokioResolver,
}

/// Resolves names for the target.
pub struct TargetResolver {
    fs: Arc<TargetFs>,
    net: TargetNet,
    loaded: Mutex<Option<Loaded>>,
}

impl TargetResolver {
    pub fn new(fs: Arc<TargetFs>, net: TargetNet) -> TargetResolver {
        TargetResolver { fs, net, loaded: Mutex::new(None) }
    }

    /// Looks `name` up: hosts entries for every candidate name first, then DNS. Addresses of
    /// both families come in the order the target's own resolver gives them
    /// ([`crate::address_order`]).
    pub async fn lookup(&self, name: &str, family: Family) -> Result<Answer, DnsError> {
        let mut answer = self.find(name, family).await?;
        if answer.addrs.iter().any(IpAddr::is_ipv4) && answer.addrs.iter().any(IpAddr::is_ipv6) {
            let mut addrs = std::mem::take(&mut answer.addrs);
            answer.addrs = self
                .net
                .create(move || {
                    crate::address_order::sort(&mut addrs, crate::address_order::source_in_this_network);
                    Ok(addrs)
                })
                .await
                .map_err(|err| DnsError::Resolver(err.to_string()))?;
        }
        Ok(answer)
    }

    async fn find(&self, name: &str, family: Family) -> Result<Answer, DnsError> {
        if name.is_empty() || name == "." {
            return Ok(Answer::default());
        }
        if let Ok(addr) = name.parse::<IpAddr>() {
            let addrs = if wanted(addr, family) { vec![addr] } else { Vec::new() };
            return Ok(Answer { canonical_name: Some(name.to_owned()), addrs });
        }
        let (candidates, hosts, resolver) = {
            let mut loaded = self.loaded.lock().await;
            self.refresh(&mut loaded).await?;
            let loaded = loaded.as_ref().expect("refresh loads the configuration");
            (loaded.conf.candidates(name), loaded.hosts.clone(), loaded.resolver.clone())
        };
        if let Some(answer) = candidates.iter().find_map(|candidate| hosts.lookup(candidate, family)) {
            return Ok(answer);
        }
        let mut failure = None;
        for candidate in candidates {
            let resolver = resolver.clone();
            let fqdn = format!("{candidate}.");
            let outcome = self
                .net
                .spawn(async move { query(&resolver, &fqdn, family).await })
                .await
                .map_err(|err| DnsError::Resolver(err.to_string()))?;
            match outcome {
                Ok(Some(answer)) => return Ok(answer),
                Ok(None) => {}
                Err(reason) => failure = Some(DnsError::Lookup { name: candidate, reason }),
            }
        }
        match failure {
            None => Ok(Answer::default()),
            Some(err) => {
                // Start the next lookup with a fresh resolver: hickory keeps per-server state
                // (connections, failure statistics) that should not outlive a failing server.
                self.loaded.lock().await.take();
                Err(err)
            }
        }
    }

    /// Re-reads resolv.conf and hosts when either changed since the last lookup.
    async fn refresh(&self, loaded: &mut Option<Loaded>) -> Result<(), DnsError> {
        let fs = self.fs.clone();
        let known = loaded.as_ref().map(|loaded| loaded.stamps);
        let fresh = tokio::task::spawn_blocking(move || read_if_changed(&fs, known))
            .await
            .map_err(|err| DnsError::Resolver(err.to_string()))??;
        if let Some((stamps, conf, hosts)) = fresh {
            tracing::debug!(
                nameservers = conf.nameservers.len(),
                search_domains = conf.search.len(),
                hosts_names = hosts.entries.len(),
                "loaded the target's resolver configuration"
            );
            let resolver = build_resolver(&conf)?;
            *loaded = Some(Loaded { stamps, conf, hosts, resolver });
        }
        Ok(())
    }
}

type Stamps = (Option<Stamp>, Option<Stamp>);

/// Reads resolv.conf and hosts unless their stamps are still `known`. Blocking.
fn read_if_changed(fs: &TargetFs, known: Option<Stamps>) -> Result<Option<(Stamps, ResolvConf, Hosts)>, DnsError> {
    let stamp = |path, file| fs.stamp(path).map_err(|errno| DnsError::Config { file, errno });
    let stamps = (stamp(RESOLV_CONF, "/etc/resolv.conf")?, stamp(HOSTS, "/etc/hosts")?);
    if known == Some(stamps) {
        return Ok(None);
    }
    let read = |path, file, exists: Option<Stamp>| -> Result<String, DnsError> {
        match exists {
            None => Ok(String::new()),
            Some(_) => fs
                .read_small(path)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .map_err(|errno| DnsError::Config { file, errno }),
        }
    };
    let conf = ResolvConf::parse(&read(RESOLV_CONF, "/etc/resolv.conf", stamps.0)?);
    let hosts = Hosts::parse(&read(HOSTS, "/etc/hosts", stamps.1)?);
    Ok(Some((stamps, conf, hosts)))
}

/// A hickory resolver that asks the target's name servers and nothing else: no search list
/// (names arrive fully qualified), no hosts file of the agent's own system.
fn build_resolver(conf: &ResolvConf) -> Result<TokioResolver, DnsError> {
    let servers = conf.nameservers.iter().map(|ip| NameServerConfig::udp_and_tcp(*ip)).collect();
    let config = ResolverConfig::from_parts(None, Vec::new(), servers);
    let mut options = ResolverOpts::default();
    options.ndots = 0;
    options.timeout = conf.timeout;
    options.attempts = conf.attempts;
    options.use_hosts_file = ResolveHosts::Never;
    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(options)
        .build()
        .map_err(|err| DnsError::Resolver(format!("cannot build the resolver: {err}")))
}

/// Asks the name servers for the addresses of `fqdn`. `Ok(None)` when the name has none
/// (NXDOMAIN or no records), so the caller tries the next candidate. Runs in the target's
/// network namespace.
async fn query(resolver: &TokioResolver, fqdn: &str, family: Family) -> Result<Option<Answer>, String> {
    let v4 = async {
        match family {
            Family::V6 => None,
            _ => Some(resolver.lookup(fqdn, RecordType::A).await),
        }
    };
    let v6 = async {
        match family {
            Family::V4 => None,
            _ => Some(resolver.lookup(fqdn, RecordType::AAAA).await),
        }
    };
    let (v4, v6) = tokio::join!(v4, v6);
    let mut answer = Answer::default();
    let mut failure = None;
    for result in [v4, v6].into_iter().flatten() {
        match result {
            Ok(lookup) => {
                for record in lookup.answers() {
                    if let Some(addr) = record.data.ip_addr().filter(|addr| wanted(*addr, family)) {
                        answer.addrs.push(addr);
                        answer
                            .canonical_name
                            .get_or_insert_with(|| record.name.to_string().trim_end_matches('.').to_owned());
                    }
                }
            }
            Err(err) if err.is_no_records_found() => {}
            Err(err) => failure = Some(err.to_string()),
        }
    }
    match (answer.addrs.is_empty(), failure) {
        (false, _) => Ok(Some(answer)),
        (true, Some(reason)) => Err(reason),
        (true, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_parse_reads_servers_search_and_options() {
        let conf = ResolvConf::parse(
            "# kubelet\nnameserver 10.96.0.10\nnameserver fe80::1%eth0\nsearch shop.svc.cluster.local svc.cluster.local cluster.local.\noptions ndots:5 timeout:2 attempts:3 rotate\n",
        );
        assert_eq!(
            conf,
            ResolvConf {
                nameservers: vec!["10.96.0.10".parse().unwrap(), "fe80::1".parse().unwrap()],
                search: vec!["shop.svc.cluster.local".into(), "svc.cluster.local".into(), "cluster.local".into()],
                ndots: 5,
                timeout: Duration::from_secs(2),
                attempts: 3,
            }
        );
    }

    #[test]
    fn resolv_conf_parse_last_search_or_domain_wins_and_limits_apply() {
        let conf = ResolvConf::parse(
            "search a.example\ndomain b.example ignored\nnameserver 1.1.1.1\nnameserver 2.2.2.2\nnameserver 3.3.3.3\nnameserver 4.4.4.4\noptions ndots:99 attempts:0",
        );
        assert_eq!(conf.search, ["b.example"]);
        assert_eq!(conf.nameservers.len(), 3);
        assert_eq!((conf.ndots, conf.attempts), (15, 1));
    }

    #[test]
    fn resolv_conf_parse_without_nameserver_uses_local_one() {
        assert_eq!(ResolvConf::parse("").nameservers, [IpAddr::from([127, 0, 0, 1])]);
    }

    #[test]
    fn candidates_short_name_tries_search_list_first() {
        let conf = ResolvConf { search: vec!["shop.svc".into(), "svc".into()], ndots: 2, ..ResolvConf::default() };
        assert_eq!(conf.candidates("orders"), ["orders.shop.svc", "orders.svc", "orders"]);
        assert_eq!(conf.candidates("orders.shop"), ["orders.shop.shop.svc", "orders.shop.svc", "orders.shop"]);
    }

    #[test]
    fn candidates_name_with_enough_dots_is_tried_as_is_first() {
        let conf = ResolvConf { search: vec!["svc".into()], ndots: 1, ..ResolvConf::default() };
        assert_eq!(conf.candidates("example.com"), ["example.com", "example.com.svc"]);
    }

    #[test]
    fn candidates_absolute_name_skips_search_list() {
        let conf = ResolvConf { search: vec!["svc".into()], ..ResolvConf::default() };
        assert_eq!(conf.candidates("db.internal."), ["db.internal"]);
    }

    #[test]
    fn hosts_lookup_matches_any_name_case_insensitively_v4_first() {
        let hosts = Hosts::parse(
            "127.0.0.1 localhost\n::1 db.test db # comment\n10.0.0.5 db.test db\nbad line\n# 10.0.0.9 commented\n",
        );
        assert_eq!(
            hosts.lookup("DB", Family::Any),
            Some(Answer {
                canonical_name: Some("db.test".into()),
                addrs: vec!["10.0.0.5".parse().unwrap(), "::1".parse().unwrap()],
            })
        );
        assert_eq!(hosts.lookup("db", Family::V6).unwrap().addrs, ["::1".parse::<IpAddr>().unwrap()]);
        assert_eq!(hosts.lookup("localhost", Family::V6), None);
        assert_eq!(hosts.lookup("commented", Family::Any), None);
    }

    #[test]
    fn hosts_lookup_after_search_domain_finds_short_name() {
        let conf = ResolvConf { search: vec!["test.internal".into()], ..ResolvConf::default() };
        let hosts = Hosts::parse("10.9.8.7 hosty.test.internal\n");
        let found = conf.candidates("hosty").iter().find_map(|name| hosts.lookup(name, Family::V4));
        assert_eq!(found.unwrap().addrs, ["10.9.8.7".parse::<IpAddr>().unwrap()]);
    }
}
