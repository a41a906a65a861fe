//! `tether-agent`: serves the wire protocol for one target process or container.
mod cli;
mod env;
mod files;
mod netns;
mod runtime;
mod target;
fn main() {}
