//! Integration tests of `libtether_layer.so`: small C programs (and real tools: `sh`, `cat`,
//! `getent`, `python3`, `node`) run with `LD_PRELOAD` against a fake session proxy, asserting what
//! they print and what the proxy was asked.

mod fake_proxy;
mod harness;

mod dns;
mod exec;
mod files;
mod incoming;
mod net;
mod robustness;
mod writeback;
