//! The terminal rendering of a [`DiffReport`]: verdict first, then each file and its edits.
//!
//! Pure string building, so tests can read it; the caller decides on colour (only when the output
//! is a terminal and `NO_COLOR` is unset).

use std::fmt::Write;

use super::diff::{Agreement, DiffReport, FileReport, FileStatus, Mode, Unit};
use super::measure::{ChangeClass, Edit, EditOp, LineRange};

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        crate::term::paint(self.on, code, s)
    }
    fn red(&self, s: &str) -> String {
        self.wrap("1;31", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("1;32", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
}

fn lines(r: Option<LineRange>) -> String {
    match r {
        None => "-".into(),
        Some(r) if r.start == r.end => format!("{}", r.start),
        Some(r) => format!("{}-{}", r.start, r.end),
    }
}

fn edit_line(e: &Edit, single: bool, p: &Paint) -> String {
    let op = match e.op {
        EditOp::Insert => p.green("insert"),
        EditOp::Delete => p.red("delete"),
        EditOp::Update => p.yellow("update"),
        EditOp::Move => p.yellow("move  "),
    };
    let (l, r) = if single { ("base", "head") } else { ("A", "B") };
    let mut s = format!(
        "    {op}  {kind:<22} {where_:<28} {l} {la:<9} {r} {rb:<9}",
        kind = e.kind,
        where_ = e.entity.as_deref().unwrap_or("(top level)"),
        la = lines(e.a),
        rb = lines(e.b),
    );
    if let (Some(from), Some(to)) = (&e.from, &e.to) {
        let _ = write!(s, " {} → {}", p.dim(from), to);
    } else if e.nodes > 1 {
        let _ = write!(
            s,
            " {}",
            p.dim(&format!(
                "({} {})",
                e.nodes,
                if e.kind == "line" { "lines" } else { "nodes" }
            ))
        );
    }
    s.trim_end().to_string()
}

fn file_block(f: &FileReport, single: bool, p: &Paint, out: &mut String) {
    let lang = f.language.as_deref().unwrap_or("-");
    let head = match (f.status, f.variance_percent) {
        (FileStatus::Binary, _) => p.dim("binary file: reported, not diffed"),
        (_, Some(v)) => format!("{v:>7.2} %"),
        (_, None) => match f.class {
            Some(ChangeClass::Cosmetic) => p.dim("cosmetic (formatting or comments only)"),
            Some(ChangeClass::Semantic) => "semantic".to_string(),
            None => String::new(),
        },
    };
    let _ = writeln!(out, "  {:<40} {:<11} {}", p.bold(&f.path), lang, head);
    if let Some(why) = &f.fallback {
        let _ = writeln!(out, "    {} {}", p.yellow("line diff:"), why);
    }
    for e in &f.entities {
        let class = match e.class {
            ChangeClass::Cosmetic => p.dim("cosmetic"),
            ChangeClass::Semantic => p.yellow("semantic"),
        };
        let _ = writeln!(
            out,
            "    {class:<8}  {:<8} {:<36} base {:<9} head {}",
            e.status,
            e.entity,
            lines(e.base),
            lines(e.head)
        );
    }
    for e in &f.edits {
        let _ = writeln!(out, "{}", edit_line(e, single, p));
    }
    if f.edits_omitted > 0 {
        let _ = writeln!(
            out,
            "    … {} more edits (`--max-edits all` lists every one)",
            f.edits_omitted
        );
    }
}

/// Render the report for a terminal.
pub fn render_text(r: &DiffReport, color: bool) -> String {
    let p = Paint { on: color };
    let single = r.mode == Mode::Single;
    let mut out = String::new();
    match (r.mode, r.variance_percent) {
        (Mode::Dual, Some(v)) => {
            let verdict = match r.verdict {
                Agreement::Agreed => p.green("AGREED"),
                Agreement::Escalate => p.red("ESCALATE"),
            };
            let _ = writeln!(
                out,
                "{verdict}  variance {v:.2} % (threshold {:.2} %), similarity {:.2} %",
                r.threshold_percent,
                100.0 - v
            );
            let _ = writeln!(
                out,
                "{}",
                p.dim(&format!(
                    "render A: {}   render B: {}   base: {}",
                    r.a,
                    r.b.as_deref().unwrap_or("-"),
                    r.base.as_deref().unwrap_or("none (whole files compared)")
                ))
            );
            for why in &r.escalations {
                let _ = writeln!(out, "{} {why}", p.red("escalate:"));
            }
        }
        _ => {
            let semantic = r.semantic_files();
            let _ = writeln!(
                out,
                "{}  {} file(s) changed, {} with semantic changes",
                p.bold("SINGLE RENDER"),
                r.files.len(),
                semantic
            );
            let _ = writeln!(
                out,
                "{}",
                p.dim(&format!(
                    "base: {}   head: {}",
                    r.base.as_deref().unwrap_or("-"),
                    r.a
                ))
            );
        }
    }
    if r.files.is_empty() {
        let _ = writeln!(out, "\n  no changed files");
    } else {
        let _ = writeln!(out);
    }
    for f in &r.files {
        file_block(f, single, &p, &mut out);
    }
    if !r.differences.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold("what differs between the renders:"));
        for d in &r.differences {
            let _ = writeln!(
                out,
                "  {} {}  A {}  B {}",
                d.path,
                d.entity.as_deref().unwrap_or("(top level)"),
                lines(d.a),
                lines(d.b)
            );
            for l in &d.a_lines {
                let _ = writeln!(out, "    {} {l}", p.red("A│"));
            }
            for l in &d.b_lines {
                let _ = writeln!(out, "    {} {l}", p.green("B│"));
            }
        }
    }
    if !r.excluded.is_empty() {
        let _ = writeln!(out, "\n{}", p.dim("not counted (exclude list):"));
        for e in &r.excluded {
            let _ = writeln!(
                out,
                "  {:<40} {}",
                e.path,
                p.dim(&format!(
                    "{}{}",
                    e.pattern,
                    if e.renders_differ {
                        ", differs between the renders"
                    } else {
                        ""
                    }
                ))
            );
        }
    }
    for f in r.files.iter().filter(|f| !f.error_regions.is_empty()) {
        let regions: Vec<String> = f
            .error_regions
            .iter()
            .map(|g| format!("{} {}", g.side, lines(Some(g.lines))))
            .collect();
        let _ = writeln!(
            out,
            "{}",
            p.dim(&format!(
                "{}: compared as a syntax tree except {} region(s) tree-sitter could not parse, compared by tokens: {}",
                f.path,
                regions.len(),
                regions.join(", ")
            ))
        );
    }
    let fallbacks = r.files.iter().filter(|f| f.unit == Unit::Lines).count();
    if fallbacks > 0 {
        let _ = writeln!(
            out,
            "\n{}",
            p.dim(&format!(
                "{fallbacks} file(s) compared as lines, not syntax (see above why)"
            ))
        );
    }
    out
}
