//! Keeps the layer's modules in layers: a module uses only modules of its own layer or below,
//! and the decisions stay in `tether-hook-core`, which has no process-wide state at all (the
//! supervisor uses it too).

use std::collections::BTreeSet;
use std::path::Path;

/// The layers, from the bottom. Within a layer, modules may use each other.
const LAYERS: &[(&str, &[&str])] = &[
    ("plumbing", &["originals", "errno", "cwd", "fds", "log", "launch", "guard"]),
    ("session", &["session", "proxy"]),
    ("logic", &["dirs", "files", "memfds", "writeback", "net", "incoming", "dns", "hostent", "exec", "linkage"]),
    ("process", &["forks", "start"]),
    ("shims", &["shims"]),
];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
        .unwrap_or_else(|| panic!("module {module} is in no layer of layering.rs"))
}

/// The code of `source`, without comments (a doc link to a module above is no use of it).
fn code(source: &str) -> String {
    source.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The crate modules `source` names (`crate::x`, `use crate::{x, y}`).
fn uses(source: &str) -> BTreeSet<String> {
    let source = code(source);
    let mut found = BTreeSet::new();
    for (at, _) in source.match_indices("crate::") {
        let rest = &source[at + "crate::".len()..];
        let names = match rest.strip_prefix('{') {
            Some(list) => list[..list.find('}').unwrap_or(0)].split(',').map(str::trim).collect(),
            None => vec![rest],
        };
        for name in names {
            let module: String = name.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !module.is_empty() {
                found.insert(module);
            }
        }
    }
    found
}

fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
    }
    files
}

#[test]
fn every_module_uses_only_its_own_layer_and_those_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (file, source) in sources(&src) {
        let relative = file.strip_prefix(&format!("{}/", src.display())).unwrap().trim_end_matches(".rs");
        let module = relative.split('/').next().unwrap();
        if matches!(module, "lib" | "layering") || module.ends_with("_tests") {
            continue;
        }
        let own = layer_of(module);
        for used in uses(&source) {
            if used != module && layer_of(&used) > own {
                wrong.push(format!("{relative} ({}) uses {used} ({})", LAYERS[own].0, LAYERS[layer_of(&used)].0));
            }
        }
    }
    assert!(wrong.is_empty(), "uses against the layering:\n{}", wrong.join("\n"));
}

#[test]
fn the_core_has_no_exported_symbols_and_no_process_wide_state() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hook-core/src");
    for (file, source) in sources(&core) {
        let code = code(&source);
        for forbidden in ["no_mangle", "extern \"C\"", "\nstatic ", " static ", "thread_local!"] {
            assert!(!code.contains(forbidden), "{file} has {forbidden:?}");
        }
    }
}

#[test]
fn uses_finds_single_and_grouped_imports() {
    let source = "use crate::guard::Outcome;\nuse crate::{errno, fds};\ncrate::log!(\"x\");\ncrate::log::line(a);";
    assert_eq!(uses(source).into_iter().collect::<Vec<_>>(), ["errno", "fds", "guard", "log"]);
}
