//! The shape of `src/`, kept true by tests: imports point one way (no cycle between files, a
//! file and its own submodules aside, and none between the top-level modules), the layers
//! keep to their place (adapters below plan and render, `domain` at the bottom, `cli` read
//! only by `commands`), and every verb of `esk --help` has its file in `src/commands/`.
//!
//! Imports are read from the text: every `crate::…` and `super::…` path, `use` groups
//! expanded, comments and literals skipped. Test code (`#[cfg(test)]` modules, inline or in
//! their own files) is left out: tests may build their inputs through the CLI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::ESK;

type Module = Vec<String>;

/// Every module file of `src/` (test-only ones left out) → the modules it imports.
fn import_graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    collect(&src, &src, &mut files);
    let mut texts = BTreeMap::new();
    let mut test_only = BTreeSet::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).expect("a source file");
        let (code, test_children) = without_tests(&strip_comments_and_literals(&text));
        for child in test_children {
            let mut m = module.clone();
            m.push(child);
            test_only.insert(m);
        }
        texts.insert(module.clone(), code);
    }
    let known: BTreeSet<Module> = files.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, code) in &texts {
        if test_only.iter().any(|t| module.starts_with(t)) {
            continue;
        }
        let mut targets = BTreeSet::new();
        for path in paths(code) {
            if let Some(target) = resolve(module, &path, &known) {
                let related = target.starts_with(module) || module.starts_with(&target);
                if !related {
                    targets.insert(target);
                }
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<Module, PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .expect("below src/")
                .with_extension("");
            let mut module: Module = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|l| l == "mod") {
                module.pop();
            }
            if module == ["lib"] || module == ["main"] {
                module.clear();
            }
            out.insert(module, path);
        }
    }
}

/// The text with comments removed and string and char literals emptied, so neither a doc
/// example nor a message that mentions `crate::x` counts as an import.
fn strip_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let at = |i: usize, s: &str| {
        s.chars()
            .enumerate()
            .all(|(k, c)| chars.get(i + k) == Some(&c))
    };
    while i < chars.len() {
        let c = chars[i];
        if at(i, "//") {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if at(i, "/*") {
            let mut depth = 0;
            while i < chars.len() {
                if at(i, "/*") {
                    depth += 1;
                    i += 2;
                } else if at(i, "*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r'
            && (at(i + 1, "\"") || at(i + 1, "#"))
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
        {
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            let close: String = std::iter::once('"')
                .chain("#".repeat(hashes).chars())
                .collect();
            while j < chars.len() && !at(j, &close) {
                j += 1;
            }
            i = j + close.len();
            out.push_str("\"\"");
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            i = j + 1;
            out.push_str("\"\"");
        } else if c == '\'' && is_char_literal(&chars, i) {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '\'' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            i = j + 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `'x'` or `'\n'`, not a lifetime (`'a`).
fn is_char_literal(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some('\\') => true,
        Some(_) => chars.get(i + 2) == Some(&'\''),
        None => false,
    }
}

/// The code without its `#[cfg(test)]` modules, and the names of those kept in other files.
fn without_tests(code: &str) -> (String, Vec<String>) {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::new();
    let mut files = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let after = rest[at + MARK.len()..].trim_start();
        let item = after.strip_prefix("pub ").unwrap_or(after);
        let Some(module) = item.strip_prefix("mod ") else {
            // A test-only function or import: left in (it is rare, and it is still code).
            out.push_str(MARK);
            rest = &rest[at + MARK.len()..];
            continue;
        };
        let name: String = module
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let body = module[name.len()..].trim_start();
        if let Some(tail) = body.strip_prefix(';') {
            files.push(name);
            rest = tail;
        } else {
            let open = body.find('{').unwrap_or(0);
            let mut depth = 0;
            let mut end = body.len();
            for (k, ch) in body.char_indices().skip(open) {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = k + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            rest = &body[end..];
        }
    }
    out.push_str(rest);
    (out, files)
}

/// Every path that starts at `crate` or `super`, with `use` groups expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(pos) = code[from..].find(start) {
            let at = from + pos;
            from = at + start.len();
            let boundary = at == 0
                || !(bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':');
            if boundary {
                let root = start.trim_end_matches(':').to_string();
                expand(vec![root], &code[from..], &mut found);
            }
        }
    }
    found
}

/// Reads `a::b::{c, d::{e}}` after `prefix`, pushing each full path.
fn expand(prefix: Vec<String>, text: &str, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    let mut rest = text;
    loop {
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !ident.is_empty() {
            rest = &rest[ident.len()..];
            if ident != "self" {
                path.push(ident);
            }
        }
        if let Some(tail) = rest.strip_prefix("::") {
            rest = tail;
            if let Some(group) = rest.strip_prefix('{') {
                for item in split_group(group) {
                    expand(path.clone(), item.trim(), out);
                }
                return;
            }
            continue;
        }
        out.push(path);
        return;
    }
}

/// The top-level items of a `{…}` group (the text after its `{`).
fn split_group(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (k, ch) in text.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&text[start..k]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    items
}

/// The module file a path lands in: the longest known module the path starts with.
fn resolve(from: &Module, path: &[String], known: &BTreeSet<Module>) -> Option<Module> {
    let mut base: Module = Vec::new();
    let mut segments = path.iter().peekable();
    match segments.next().map(String::as_str) {
        Some("crate") => {}
        Some("super") => {
            // `super` of module a::b is a, whether a::b is `a/b.rs` or `a/b/mod.rs`.
            base = from.clone();
            base.pop();
            while segments.peek().map(|s| s.as_str()) == Some("super") {
                segments.next();
                base.pop();
            }
        }
        _ => return None,
    }
    let mut target = base.clone();
    for segment in segments {
        let mut next = target.clone();
        next.push(segment.clone());
        if !known.contains(&next) {
            break;
        }
        target = next;
    }
    Some(target)
}

/// The cycles of `graph`: its strongly connected parts with more than one member.
fn cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Tarjan<'g> {
        graph: &'g BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'g Module, usize>,
        low: BTreeMap<&'g Module, usize>,
        stack: Vec<&'g Module>,
        found: Vec<Vec<Module>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g Module) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let Some((w, _)) = self.graph.get_key_value(w) else {
                    continue;
                };
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut part = Vec::new();
                while let Some(w) = self.stack.pop() {
                    part.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if part.len() > 1 {
                    part.sort();
                    self.found.push(part);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.found
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// The edges inside each cycle, for a message that says what to cut.
fn describe(graph: &BTreeMap<Module, BTreeSet<Module>>, parts: &[Vec<Module>]) -> String {
    let mut lines = Vec::new();
    for part in parts {
        let members: BTreeSet<&Module> = part.iter().collect();
        lines.push(format!(
            "cycle: {}",
            part.iter().map(name).collect::<Vec<_>>().join(", ")
        ));
        for m in part {
            for t in graph.get(m).into_iter().flatten() {
                if members.contains(t) {
                    lines.push(format!("  {} -> {}", name(m), name(t)));
                }
            }
        }
    }
    lines.join("\n")
}

/// The graph between top-level modules (`adapters`, `plan`, …), a folder being one.
fn top_level(graph: &BTreeMap<Module, BTreeSet<Module>>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut top: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, targets) in graph {
        let Some(a) = from.first() else { continue };
        let entry = top.entry(vec![a.clone()]).or_default();
        for t in targets {
            if let Some(b) = t.first().filter(|b| *b != a) {
                entry.insert(vec![b.clone()]);
            }
        }
    }
    top
}

#[test]
fn no_file_of_src_imports_in_a_cycle() {
    let graph = import_graph();
    assert!(graph.len() > 50, "read only {} files of src/", graph.len());
    let found = cycles(&graph);
    assert!(found.is_empty(), "{}", describe(&graph, &found));
}

#[test]
fn the_top_level_modules_import_one_way() {
    let top = top_level(&import_graph());
    let found = cycles(&top);
    assert!(found.is_empty(), "{}", describe(&top, &found));
}

/// Who may import what: the layers the issue of the layout names.
#[test]
fn each_layer_imports_only_what_is_below_it() {
    let top = top_level(&import_graph());
    let imports = |m: &str| top.get(&vec![m.to_string()]).cloned().unwrap_or_default();
    for (module, targets) in &top {
        let cli = vec!["cli".to_string()];
        if targets.contains(&cli) {
            assert_eq!(name(module), "commands", "only commands may import cli");
        }
    }
    let above_adapters = [
        "backup", "cli", "commands", "doctor", "execute", "health", "lint", "lock", "plan",
        "render", "roll", "rotation",
    ];
    for m in imports("adapters") {
        assert!(
            !above_adapters.contains(&name(&m).as_str()),
            "adapters import {}, a layer above them",
            name(&m)
        );
    }
    let domain: Vec<String> = imports("domain").iter().map(name).collect();
    assert!(
        domain.iter().all(|m| m == "error"),
        "domain imports {domain:?}; it sits at the bottom"
    );
    assert!(!imports("plan").contains(&vec!["execute".into()]));
}

#[test]
fn the_graph_reader_sees_groups_super_and_skips_literals_and_tests() {
    let code = strip_comments_and_literals(
        "use crate::a::{b::{C, d}, e};\n// crate::commented\nlet s = \"crate::quoted\";\n\
         let c = '\"'; x = super::f::g();\n#[cfg(test)]\nmod tests { use crate::hidden; }\n",
    );
    let (code, _) = without_tests(&code);
    let found: Vec<String> = paths(&code).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        found,
        [
            "crate::a::b::C",
            "crate::a::b::d",
            "crate::a::e",
            "super::f::g"
        ]
    );
    let known: BTreeSet<Module> = [
        vec!["a".into()],
        vec!["a".into(), "b".into()],
        vec!["f".into()],
    ]
    .into_iter()
    .collect();
    let from: Module = vec!["x".into(), "y".into()];
    let target = |p: &str| {
        let segments: Vec<String> = p.split("::").map(str::to_string).collect();
        resolve(&from, &segments, &known).map(|m| name(&m))
    };
    assert_eq!(target("crate::a::b::C").as_deref(), Some("a::b"));
    assert_eq!(target("crate::a::e").as_deref(), Some("a"));
    assert_eq!(target("super::f::g").as_deref(), Some("x"));
    let mut g: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    g.insert(vec!["p".into()], [vec!["q".into()]].into_iter().collect());
    g.insert(vec!["q".into()], [vec!["p".into()]].into_iter().collect());
    g.insert(vec!["r".into()], [vec!["p".into()]].into_iter().collect());
    assert_eq!(
        cycles(&g),
        vec![vec![vec!["p".to_string()], vec!["q".to_string()]]]
    );
}

#[test]
fn every_verb_of_the_help_has_its_file_in_src_commands() {
    let out = std::process::Command::new(ESK)
        .arg("--help")
        .output()
        .expect("esk runs");
    let help = String::from_utf8_lossy(&out.stdout);
    let verbs: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|v| *v != "help")
        .map(str::to_string)
        .collect();
    assert!(verbs.len() >= 13, "read verbs {verbs:?} from:\n{help}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
    let missing: Vec<&String> = verbs
        .iter()
        .filter(|v| !dir.join(format!("{}.rs", v.replace('-', "_"))).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "verbs without a file in src/commands/: {missing:?}"
    );
}

#[test]
fn every_folder_of_src_is_on_the_readme_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let map = readme
        .split("## Where things are")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a \"Where things are\" section");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("src")).expect("src/").flatten() {
        if entry.path().is_dir() {
            let folder = format!("`src/{}/`", entry.file_name().to_string_lossy());
            if !map.contains(&folder) {
                missing.push(folder);
            }
        }
    }
    assert!(missing.is_empty(), "not on README's map: {missing:?}");
}
