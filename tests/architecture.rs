//! The architecture, enforced: the library's top-level modules ("rooms") depend on each other
//! only along the edges of [`ALLOWED`], a DAG, and the core files ([`CORE`]) use none of the
//! I/O crates and reach only other core files. Mirrored in `docs/architecture.md` (checked
//! below), which says why this is a test and not a workspace of crates.
//!
//! How it reads the code: every `src/**/*.rs` of the library, with comments, string and char
//! literals removed; each `crate::…`, `super::…` and `self::…` path (in `use` declarations and
//! in expressions, `use` groups included) is resolved to an absolute module path, and its first
//! segment is the room it reaches. Module declarations (`mod x;`) are not references. The
//! binary (`src/main.rs` and the modules it declares) is the outer shell and may use any room.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every room of the library and the rooms it may use directly. Must stay acyclic (checked).
/// A new room, or a new edge, is a design decision: add it here and in
/// `docs/architecture.md`, never an edge that points back up.
const ALLOWED: &[(&str, &[&str])] = &[
    // Leaves: helpers shared by several rooms.
    ("util", &[]),
    ("term", &[]),
    ("gitcmd", &[]),
    // The core: diff engine, policy rules, audit rules, decision records.
    ("astdiff", &["term", "util"]),
    ("webhook", &[]),
    ("policy", &["util", "webhook"]),
    ("audit", &["astdiff", "term", "util"]),
    ("meta", &["astdiff", "audit", "util"]),
    // Configuration, storage and the GitHub client.
    ("config", &["astdiff", "audit", "meta", "policy", "util"]),
    ("store", &["audit", "meta", "policy", "util"]),
    ("github", &["meta", "util", "webhook"]),
    // The gate and the rollback flow, over ports.
    (
        "gate",
        &[
            "astdiff", "audit", "config", "meta", "policy", "term", "util", "webhook",
        ],
    ),
    (
        "rollback",
        &["github", "gitcmd", "meta", "policy", "store", "util"],
    ),
    // Render B on demand: builders run over the audit's budget and model clients.
    ("builder", &["audit", "config", "gitcmd", "meta", "util"]),
    // The pages people read: records and the web view, rendered from data handed in.
    ("view", &["meta"]),
    // The service: wires everything together.
    (
        "server",
        &[
            "astdiff", "audit", "builder", "config", "gate", "github", "meta", "policy",
            "rollback", "store", "term", "util", "view", "webhook",
        ],
    ),
    // The generated configuration reference reads the defaults of every layer.
    (
        "config_doc",
        &["config", "gate", "policy", "server", "term", "util"],
    ),
];

/// The core: files (or folders, ending in `/`) relative to `src/`, free of I/O crates. A core
/// file may reach only other core files.
const CORE: &[&str] = &[
    "util.rs",
    "term.rs",
    "astdiff/",
    "policy/",
    "audit/vote.rs",
    "audit/decide.rs",
    "audit/rule_guard/",
    "meta/canonical.rs",
    "meta/hash.rs",
    "meta/chain.rs",
    "meta/record.rs",
    "meta/record/",
    "meta/ledger.rs",
    "meta/similarity.rs",
    "meta/texts.rs",
    "meta/decision.rs",
    "meta/decision/",
    "github/commands.rs",
    "webhook/",
];

/// Inside the core folders, the adapters that do I/O (files, or folders ending in `/`).
const NOT_CORE: &[&str] = &[
    // Reads files, directories and git revisions (git2).
    "astdiff/input/",
    // Sends signed policy events over HTTP (reqwest).
    "policy/send.rs",
    // GitHub's check-run and status payloads into policy events: an edge, not a rule.
    "policy/ci.rs",
];

/// Crates the core must not name.
const IO_CRATES: &[&str] = &["tokio", "sqlx", "octocrab", "git2", "reqwest", "axum"];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, relative to `src/`, with `/` separators.
fn rust_files(dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(src_dir()).unwrap();
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The names `mod x;` / `pub mod x;` declares in `text` (top level of a crate root).
fn declared_modules(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in strip_comments_and_literals(text).lines() {
        let mut words = line.split_whitespace().peekable();
        if words.peek().is_some_and(|w| w.starts_with("pub")) {
            words.next();
        }
        if words.next() == Some("mod") {
            if let Some(name) = words.next() {
                if let Some(name) = name.strip_suffix(';') {
                    out.insert(name.to_string());
                }
            }
        }
    }
    out
}

/// The library's files: `(path relative to src/, module path)`.
fn library_files() -> Vec<(String, Vec<String>)> {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    let rooms = declared_modules(&lib);
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    files
        .into_iter()
        .filter(|f| f != "lib.rs" && f != "main.rs")
        .filter_map(|f| {
            let module = module_path(&f);
            rooms.contains(&module[0]).then_some((f, module))
        })
        .collect()
}

/// `a/b.rs` → `[a, b]`, `a/mod.rs` → `[a]`, `a.rs` → `[a]`.
fn module_path(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// `text` with comments, string literals and char literals blanked (lines kept, lifetimes
/// kept), so that only code is searched.
fn strip_comments_and_literals(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !(b[i - 1].is_alphanumeric() || b[i - 1] == '_'))
        {
            // Raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                blank(&mut out, b[j]);
                j += 1;
            }
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a) kept as is.
            let close = if next == Some('\\') {
                (i + 2..b.len().min(i + 12)).find(|&j| b[j] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(j) => i = j + 1,
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Identifiers and `::`/`{`/`}`/`,` tokens of `code` (everything else is a separator).
fn tokens(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else {
            if matches!(c, '{' | '}' | ',' | ';') {
                out.push(c.to_string());
            } else if !c.is_whitespace() {
                out.push(" ".into());
            }
            i += 1;
        }
    }
    out
}

/// The absolute module paths that `code`, in module `module`, names through `crate::`,
/// `$crate::`, `super::` and `self::` paths; a `use` group gives one path per item.
fn resolved_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let t = tokens(code);
    let mut out = Vec::new();
    // Inline modules (`mod tests { … }`) open here: (name, brace depth inside them).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < t.len() {
        match t[i].as_str() {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d > depth) {
                    inline.pop();
                }
            }
            "mod" if t.get(i + 2).map(String::as_str) == Some("{") => {
                inline.push((t[i + 1].clone(), depth + 1));
            }
            _ => {}
        }
        let after_path_sep = i > 0 && t[i - 1] == "::";
        let here = || {
            let mut m = module.to_vec();
            m.extend(inline.iter().map(|(n, _)| n.clone()));
            m
        };
        let mut base = match t[i].as_str() {
            "crate" | "$crate" if !after_path_sep => Vec::new(),
            "super" | "self" if !after_path_sep => here(),
            _ => {
                i += 1;
                continue;
            }
        };
        let mut items: Vec<Vec<String>> = Vec::new();
        let mut j = i;
        loop {
            match t[j].as_str() {
                "super" => {
                    base.pop();
                }
                "self" | "crate" | "$crate" => {}
                "{" => {
                    for w in first_words_of_group(&t[j..]) {
                        items.push(if w == "self" {
                            vec![]
                        } else {
                            vec![w.to_string()]
                        });
                    }
                    break;
                }
                w if is_ident(w) => base.push(w.to_string()),
                _ => break,
            }
            if j + 2 < t.len() && t[j + 1] == "::" {
                j += 2;
            } else {
                break;
            }
        }
        if j == i && !matches!(t.get(i + 1).map(String::as_str), Some("::")) {
            // `pub(crate)`, `self.field`: not a path.
            i += 1;
            continue;
        }
        if items.is_empty() {
            items.push(Vec::new());
        }
        for tail in items {
            let mut full = base.clone();
            full.extend(tail);
            out.push(full);
        }
        // A brace is left to the depth count.
        i = if matches!(t[j].as_str(), "{" | "}") {
            j
        } else {
            j + 1
        };
    }
    out
}

/// The rooms (first segments of the absolute paths) that `code`, in module `module`, reaches.
fn rooms_reached(code: &str, module: &[String]) -> BTreeSet<String> {
    resolved_paths(code, module)
        .into_iter()
        .filter_map(|p| p.into_iter().next())
        .collect()
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The first identifier of each top-level item of the `{ … }` group that starts `t`.
fn first_words_of_group(t: &[String]) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut expect = true;
    for tok in t {
        match tok.as_str() {
            "{" => {
                depth += 1;
                if depth == 1 {
                    expect = true;
                }
            }
            "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            "," if depth == 1 => expect = true,
            w if depth == 1 && expect && is_ident(w) => {
                out.push(w);
                expect = false;
            }
            _ => {}
        }
    }
    out
}

fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    ALLOWED
        .iter()
        .map(|(room, deps)| (*room, deps.iter().copied().collect()))
        .collect()
}

/// Every room's dependencies as the code has them: room → (room it uses → files using it).
fn actual_edges() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (file, module) in library_files() {
        let text = std::fs::read_to_string(src_dir().join(&file)).unwrap();
        let code = strip_comments_and_literals(&text);
        for room in rooms_reached(&code, &module) {
            if room != module[0] {
                edges
                    .entry(module[0].clone())
                    .or_default()
                    .entry(room)
                    .or_default()
                    .insert(file.clone());
            }
        }
    }
    edges
}

#[test]
fn the_table_is_a_dag_of_every_room() {
    let table = allowed();
    assert_eq!(table.len(), ALLOWED.len(), "a room is listed twice");
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    let rooms = declared_modules(&lib);
    let listed: BTreeSet<String> = table.keys().map(|r| r.to_string()).collect();
    assert_eq!(
        rooms, listed,
        "src/lib.rs's modules and the rooms of ALLOWED (tests/architecture.rs) differ: \
         give a new room its place in the table and in docs/architecture.md"
    );
    for (room, deps) in &table {
        for d in deps {
            assert!(
                table.contains_key(d),
                "{room} may use {d}, which is not a room"
            );
        }
    }
    // Kahn's algorithm: every room must come out, or the table has a cycle.
    let mut left: BTreeMap<&str, BTreeSet<&str>> = table.clone();
    while !left.is_empty() {
        let ready: Vec<&str> = left
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| !left.contains_key(d)))
            .map(|(r, _)| *r)
            .collect();
        assert!(
            !ready.is_empty(),
            "the allowed dependencies have a cycle among {:?}",
            left.keys().collect::<Vec<_>>()
        );
        for r in ready {
            left.remove(r);
        }
    }
}

#[test]
fn rooms_depend_only_along_the_allowed_edges() {
    let table = allowed();
    let edges = actual_edges();
    assert!(
        edges.get("server").is_some_and(|d| d.contains_key("store")),
        "the reader found no server → store edge: it is not reading the code"
    );
    let mut wrong = Vec::new();
    for (room, uses) in &edges {
        let may = table.get(room.as_str()).cloned().unwrap_or_default();
        for (used, files) in uses {
            if !may.contains(used.as_str()) {
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                wrong.push(format!(
                    "{room} → {used} (in {}) is not an allowed dependency",
                    files.join(", ")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "module dependencies against the direction of docs/architecture.md:\n  {}\n\
         Move the shared item down (to the lower room, or to `util`), or turn the call around \
         with a port the lower room defines.",
        wrong.join("\n  ")
    );
}

fn is_core(file: &str) -> bool {
    let listed = |c: &&str| match c.strip_suffix('/') {
        Some(dir) => file.starts_with(&format!("{dir}/")),
        None => file == *c,
    };
    !NOT_CORE.iter().any(listed) && CORE.iter().any(listed)
}

/// `code` (comments and literals already stripped) without its `#[cfg(test)]` items: unit
/// tests may use a runtime. Everything else, before or after them, is kept.
fn without_tests(code: &str) -> String {
    let mut out = code.to_string();
    while let Some(start) = out.find("#[cfg(test)]") {
        let rest = &out[start..];
        let brace = rest.find('{');
        let semi = rest.find(';');
        let end = match (brace, semi) {
            (Some(b), Some(s)) if s < b => start + s + 1,
            (None, Some(s)) => start + s + 1,
            (Some(b), _) => {
                let mut depth = 0usize;
                let mut end = out.len();
                for (k, c) in out[start + b..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = start + b + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, None) => out.len(),
        };
        out.replace_range(start..end, "");
    }
    out
}

/// The library files a core file's paths resolve to (`crate::a::b::C` → `a/b.rs` or
/// `a/b/mod.rs`: the longest prefix that is a file).
fn files_reached(code: &str, module: &[String], all: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for mut full in resolved_paths(code, module) {
        while !full.is_empty() {
            let stem = full.join("/");
            let hit = [format!("{stem}.rs"), format!("{stem}/mod.rs")]
                .into_iter()
                .find(|f| all.contains(f));
            if let Some(f) = hit {
                out.insert(f);
                break;
            }
            full.pop();
        }
    }
    out
}

#[test]
fn the_core_is_free_of_io_and_reaches_only_the_core() {
    let files = library_files();
    let all: BTreeSet<String> = files.iter().map(|(f, _)| f.clone()).collect();
    for c in CORE.iter().chain(NOT_CORE) {
        let exists = match c.strip_suffix('/') {
            Some(dir) => all.iter().any(|f| f.starts_with(&format!("{dir}/"))),
            None => all.contains(*c),
        };
        assert!(
            exists,
            "{c} is listed in tests/architecture.rs but is not in src/"
        );
    }
    let mut wrong = Vec::new();
    let mut core_files = 0;
    for (file, module) in &files {
        if !is_core(file) {
            continue;
        }
        core_files += 1;
        let text = std::fs::read_to_string(src_dir().join(file)).unwrap();
        let stripped = strip_comments_and_literals(&text);
        let code = without_tests(&stripped);
        let toks = tokens(&code);
        for krate in IO_CRATES {
            let named = toks.iter().enumerate().any(|(k, w)| {
                w == krate
                    && (toks.get(k + 1).map(String::as_str) == Some("::")
                        || (k > 0 && toks[k - 1] == "use"))
                    && (k == 0 || toks[k - 1] != "::")
            });
            if named {
                wrong.push(format!("{file} uses {krate}"));
            }
        }
        for reached in files_reached(&code, module, &all) {
            if &reached != file && !is_core(&reached) {
                wrong.push(format!("{file} reaches {reached}, which is not core"));
            }
        }
    }
    assert!(core_files > 30, "only {core_files} core files found");
    assert!(
        wrong.is_empty(),
        "the core (tests/architecture.rs, CORE) must stay free of I/O:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn the_reader_sees_through_groups_supers_and_literals() {
    let m = |s: &str| s.split('/').map(str::to_string).collect::<Vec<_>>();
    let code = strip_comments_and_literals(
        "use crate::{astdiff::diff, meta::{canonical, hash}};\n\
         // use crate::server::app;\n\
         let s = \"crate::store::Store\"; let c = '\\''; fn f<'a>(x: &'a str) {}\n\
         use super::super::policy::Decision;\n\
         let r = r#\"crate::github\"#;\n\
         crate::rollback::sink::Applied { };",
    );
    let reached = rooms_reached(&code, &m("gate/repo_config/check"));
    let want: BTreeSet<String> = ["astdiff", "meta", "gate", "rollback"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // `super::super::policy` from gate/repo_config/check is gate::policy: inside gate.
    assert_eq!(reached, want);
    // `super::super` from a `mod tests` inside rollback/revert is rollback itself.
    let reached = rooms_reached(
        "fn f() {} mod tests { use crate::{a, b::{c}}; fn g() { super::super::X; } }\n\
         fn h() { super::Y; }",
        &m("rollback/revert"),
    );
    assert_eq!(
        reached,
        ["a", "b", "rollback"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let code = without_tests("fn a() {}\n#[cfg(test)]\nmod tests { fn t() { tokio::x(); } }\nfn b() { git2::y(); }\n#[cfg(test)]\nmod more;\n");
    assert!(!code.contains("tokio") && code.contains("git2") && !code.contains("more"));
    let reached = rooms_reached("use super::{store, util};", &m("audit"));
    assert_eq!(
        reached,
        ["store", "util"].iter().map(|s| s.to_string()).collect()
    );
}

#[test]
fn the_document_mirrors_the_table() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/architecture.md");
    // The table between the markers; rows "| `room` | `a`, `b` | … |" (a dash for none).
    let start = doc
        .find("<!-- rooms-table -->")
        .expect("the rooms-table marker");
    let end = doc
        .find("<!-- /rooms-table -->")
        .expect("the /rooms-table marker");
    let mut rows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in doc[start..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let room = cells[1].trim_matches('`').to_string();
        let deps: BTreeSet<String> = cells[2]
            .split(',')
            .map(|d| d.trim().trim_matches('`').to_string())
            .filter(|d| !d.is_empty() && d != "—" && d != "-")
            .collect();
        rows.insert(room, deps);
    }
    let table: BTreeMap<String, BTreeSet<String>> = ALLOWED
        .iter()
        .map(|(r, d)| (r.to_string(), d.iter().map(|x| x.to_string()).collect()))
        .collect();
    assert_eq!(
        rows, table,
        "docs/architecture.md's table of rooms differs from ALLOWED in tests/architecture.rs"
    );
}
