//! The shape of the code, checked on every run: imports point one way down the
//! data path, and files and functions stay short enough to read in one sitting.
//! (ARCHITECTURE.md states the rules; this test keeps them true.)

use std::fs;
use std::path::{Path, PathBuf};

/// Layers from the bottom up; a file may import its own layer and those below it,
/// never one above. `crate::x` names the module a `use` reaches into.
const LAYERS: &[(&str, &[&str])] = &[
    ("foundation", &["error", "task", "workers", "metrics", "config"]),
    // The key -> slot rule is pure arithmetic on bytes: below the command table that
    // uses it, though it lives beside the topology.
    ("wire", &["protocol", "net", "cluster::slot"]),
    ("config file", &["config_file"]),
    ("meaning", &["command", "users"]),
    ("observing", &["observe"]),
    ("nodes", &["backend"]),
    ("cluster", &["cluster", "pubsub"]),
    ("routing", &["route"]),
    ("shared state", &["proxy"]),
    ("clients", &["client", "admin", "listener", "reload", "startup"]),
];

const MAX_FILE_LINES: usize = 500;
const MAX_FN_LINES: usize = 100;
const MAX_PARAMS: usize = 6;

fn src_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The module a file belongs to as LAYERS names it: `src/backend/pool.rs` ->
/// `backend`, `src/cluster/slot.rs` -> `cluster::slot` (listed on its own).
fn module_of(path: &Path) -> String {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let rel = path.strip_prefix(&src).unwrap().with_extension("");
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    placed(&parts)
}

/// `a::b` when LAYERS lists it, else `a`.
fn placed(parts: &[String]) -> String {
    match parts {
        [a, b, ..] if layer_of(&format!("{a}::{b}")).is_some() => format!("{a}::{b}"),
        [a, ..] => a.clone(),
        [] => String::new(),
    }
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

/// Every `crate::<module>` a file names, with its line number (comments and the
/// unit tests at the file's end skipped: a test may reach anywhere).
fn crate_refs(text: &str) -> Vec<(usize, String)> {
    let mut refs = Vec::new();
    for (n, line) in text.lines().enumerate().take_while(|(_, l)| !l.starts_with("#[cfg(test)]")) {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            let parts: Vec<String> = path.split("::").filter(|p| !p.is_empty()).map(String::from).collect();
            refs.push((n + 1, placed(&parts)));
        }
    }
    refs
}

#[test]
fn imports_point_down_the_data_path() {
    let mut upward = Vec::new();
    for path in src_files() {
        let module = module_of(&path);
        let Some(own) = layer_of(&module) else { continue }; // lib.rs, main.rs: the top
        let text = fs::read_to_string(&path).unwrap();
        for (line, target) in crate_refs(&text) {
            if let Some(theirs) = layer_of(&target)
                && theirs > own
            {
                upward.push(format!(
                    "{}:{line}: {module} ({}) uses crate::{target} ({})",
                    path.display(),
                    LAYERS[own].0,
                    LAYERS[theirs].0
                ));
            }
        }
    }
    assert!(upward.is_empty(), "imports that point up the data path:\n{}", upward.join("\n"));
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<String> = src_files()
        .iter()
        .map(|p| module_of(p))
        .filter(|m| !matches!(m.as_str(), "lib" | "main") && layer_of(m).is_none())
        .collect();
    assert!(unplaced.is_empty(), "modules missing from LAYERS (tests/structure.rs): {unplaced:?}");
}

#[test]
fn files_are_short() {
    let long: Vec<String> = src_files()
        .iter()
        .filter_map(|p| {
            let lines = fs::read_to_string(p).unwrap().lines().count();
            (lines > MAX_FILE_LINES).then(|| format!("{}: {lines} lines", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_FILE_LINES} lines:\n{}", long.join("\n"));
}

/// A function found in a file: name, first line, length in lines, parameters.
struct Function {
    name: String,
    line: usize,
    lines: usize,
    params: usize,
}

/// Functions by their `fn` line and the closing brace at the same indentation
/// (rustfmt's layout, which CI enforces).
fn functions(text: &str) -> Vec<Function> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((indent, name)) = fn_start(lines[i]) else {
            i += 1;
            continue;
        };
        let mut signature = String::new();
        let mut end_of_sig = i;
        for (j, line) in lines.iter().enumerate().skip(i) {
            signature.push_str(line);
            end_of_sig = j;
            let t = line.trim_end();
            if t.ends_with('{') || t.ends_with(';') {
                break;
            }
        }
        let closing = format!("{}}}", " ".repeat(indent));
        let end = if signature.trim_end().ends_with(';') || signature.trim_end().ends_with("{}") {
            end_of_sig
        } else {
            (end_of_sig..lines.len()).find(|&k| lines[k].trim_end() == closing).unwrap_or(end_of_sig)
        };
        found.push(Function { name, line: i + 1, lines: end - i + 1, params: count_params(&signature) });
        i = end_of_sig + 1;
    }
    found
}

/// `(indentation, name)` when `line` starts a function.
fn fn_start(line: &str) -> Option<(usize, String)> {
    let indent = line.len() - line.trim_start().len();
    let mut words = line.trim_start();
    for prefix in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe "] {
        words = words.strip_prefix(prefix).unwrap_or(words);
    }
    let rest = words.strip_prefix("async ").unwrap_or(words).strip_prefix("fn ")?;
    let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some((indent, name))
}

/// Parameters other than `self` in a signature: commas at the parameter list's own depth.
fn count_params(signature: &str) -> usize {
    let Some(open) = signature.find('(') else { return 0 };
    let (mut depth, mut params, mut current) = (0i32, Vec::new(), String::new());
    for c in signature[open + 1..].chars() {
        match c {
            '(' | '<' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => break,
            ')' | '>' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                params.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    params.push(current);
    params
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty() && !p.trim_start_matches(['&', '\'']).contains("self"))
        .count()
}

#[test]
fn functions_are_short_and_take_few_parameters() {
    let mut over = Vec::new();
    for path in src_files() {
        let text = fs::read_to_string(&path).unwrap();
        for f in functions(&text) {
            if f.lines > MAX_FN_LINES || f.params > MAX_PARAMS {
                over.push(format!(
                    "{}:{} fn {}: {} lines, {} parameters",
                    path.display(),
                    f.line,
                    f.name,
                    f.lines,
                    f.params
                ));
            }
        }
    }
    assert!(
        over.is_empty(),
        "functions over {MAX_FN_LINES} lines or {MAX_PARAMS} parameters (give them a struct):\n{}",
        over.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_check() {
    // The scanners themselves, on code whose answer is known, so a broken scanner
    // cannot pass the checks above by finding nothing.
    let code = "fn a(x: u8, y: Vec<(u8, u8)>) -> u8 {\n    x\n}\n\n    pub async fn b(&self) {\n    }\n";
    let fs = functions(code);
    assert_eq!(fs.len(), 2);
    assert_eq!((fs[0].name.as_str(), fs[0].lines, fs[0].params), ("a", 3, 2));
    assert_eq!((fs[1].name.as_str(), fs[1].lines, fs[1].params), ("b", 2, 0));
    assert_eq!(
        crate_refs("use crate::route::x; // crate::client\nlet a = crate::proxy::P(crate::cluster::slot::f);"),
        vec![(1, "route".to_string()), (2, "proxy".to_string()), (2, "cluster::slot".to_string())]
    );
    assert!(layer_of("backend") < layer_of("route"));
    assert!(src_files().len() > 50);
}
