//! The namespace-harness tier (needs root): runs the fixture programs under `tether exec`
//! against stand-in pods (`fixtures/harness/pod`) and containerd containers
//! (`fixtures/harness/container`) and asserts what they see.

mod allocators;
mod api;
mod bounds;
mod cluster;
mod cluster_incoming;
mod cluster_probes;
mod config;
mod context;
mod daemon;
mod developers;
mod faults;
mod file_metadata;
mod hostile;
mod hostname;
mod incoming;
mod linkage;
mod lsp;
mod misuse;
mod outcomes;
mod outdated;
mod own_address;
mod support;
mod transcripts;
mod watching;
