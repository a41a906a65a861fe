//! Harness tests of `tether-agent` (tier: local harness, needs root). Each test builds a real
//! target, a process in its own network and mount namespaces with a private root, runs the
//! real agent binary against it and talks the wire protocol to it.

mod bounds;
mod containerd;
mod dns;
mod files;
mod harness;
mod incoming;
mod network;
mod nftables;
mod probes;
mod startup;
