//! Each crate's top-level modules depend on each other one way only: no module reaches, through
//! others, back to itself. A circle means two modules are one concern split in two (or one holds
//! what belongs to a third), and it makes neither understandable alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Which top-level modules each top-level module names (`crate::x`, `crate::{x, y::z}`).
fn module_graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("source directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src");
            let first = relative.components().next().expect("a component");
            let module = first.as_os_str().to_string_lossy();
            let module = module.trim_end_matches(".rs").to_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source");
            let used = graph.entry(module.clone()).or_default();
            used.extend(named_modules(&text).into_iter().filter(|n| *n != module));
        }
    }
    graph
}

/// The top-level modules a source text names after `crate::`.
fn named_modules(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut named = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            named.insert(ident(rest));
            continue;
        };
        // Each top-level item of the group: `a`, `b::c`, `d::{e, f}` (nested braces skipped).
        let mut depth = 0;
        let mut starts = true;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => starts = true,
                _ if starts && !c.is_whitespace() => {
                    named.insert(ident(&group[i..]));
                    starts = false;
                }
                _ => {}
            }
        }
    }
    named.retain(|n| n.starts_with(|c: char| c.is_ascii_lowercase()));
    named
}

/// A circle of modules, if there is one: `[a, b, ..., a]`.
fn circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        module: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut found = path[at..].to_vec();
            found.push(module.to_owned());
            return Some(found);
        }
        if !done.insert(module.to_owned()) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if let Some(found) = visit(graph, next, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(graph, m, &mut Vec::new(), &mut done))
}

/// The module graph of one workspace crate's `src`.
fn crate_graph(name: &str) -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src");
    module_graph(&src)
}

#[test]
fn core_modules_form_no_circle() {
    let graph = crate_graph("core");
    assert!(graph["explore"].contains("usage"), "the graph was read");
    assert_eq!(circle(&graph), None, "modules that import each other");
}

#[test]
fn app_modules_form_no_circle() {
    let graph = crate_graph("app");
    assert!(graph["routes"].contains("portal"), "the graph was read");
    assert!(
        !graph["portal"].contains("routes"),
        "the portal contract knows no page"
    );
    assert_eq!(circle(&graph), None, "modules that import each other");
}

#[test]
fn server_modules_form_no_circle() {
    let graph = crate_graph("server");
    assert!(graph["api"].contains("auth"), "the graph was read");
    assert_eq!(circle(&graph), None, "modules that import each other");
}

#[test]
fn a_circle_is_found() {
    let graph: Graph = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a", "d"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(m, uses)| (m.to_owned(), uses.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(
        circle(&graph),
        Some(["a", "b", "c", "a"].map(str::to_owned).to_vec())
    );
}

#[test]
fn imports_are_read_from_paths_and_groups() {
    let text =
        "use crate::usage::{A, B};\nuse crate::{meter::{x, y}, time};\nlet x = crate::page::f();";
    assert_eq!(
        named_modules(text),
        ["meter", "page", "time", "usage"].map(str::to_owned).into()
    );
}
