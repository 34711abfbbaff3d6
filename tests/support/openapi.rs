//! GitHub's REST description, as the judge of every request the fake GitHub receives.
//!
//! The fake answers like GitHub, but an answer alone would let a client that sends the wrong
//! shape pass its tests against a lenient fake and fail against the real thing. So every
//! request is checked against the operations vendored in `fixtures/github/openapi-subset.json`
//! (GitHub's own description, via `@octokit/openapi`): the method and path must name an
//! operation, required query parameters must be there, and a JSON body must fit the
//! operation's request schema (required properties, types, enums, lengths, item counts). The
//! same schema walker checks the fake's own answers in its self-tests.
//!
//! The JSON-Schema dialect is OpenAPI 3.0's, handled pragmatically: `$ref` into `components`,
//! `nullable`, `type`, `enum`, `required`, `properties`, `additionalProperties`, `items`,
//! `minItems`/`maxItems`, `minLength`/`maxLength`, `minimum`/`maximum`, `format: date-time`,
//! `allOf`, `oneOf` and `anyOf`.
//!
//! Requests are judged [`Strictness::Strict`]ly: GitHub's description almost never says
//! `additionalProperties: false`, so read as written it would let a misspelled optional field
//! (`action` for `actions`) or an unknown query key through, and GitHub would silently ignore
//! it. Strictly, a body property or query key the operation does not describe is a violation
//! (as if every object schema said `unevaluatedProperties: false`), and `oneOf` means exactly
//! one branch. Answers (the fake's own, in its self-tests) are judged
//! [`Strictness::Lenient`]ly, as written: GitHub adds fields to its answers over time.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

/// Where the vendored description lives.
pub fn spec_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/github/openapi-subset.json")
}

/// One path segment of an operation's template.
#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    /// `{name}`; `ref` and `path` parameters may span several segments (`heads/main`,
    /// `.github/patchgate.yml`), as they do on GitHub.
    Param(String),
}

/// One operation of the description.
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    /// Upper case: `GET`, `POST`, ...
    pub method: String,
    /// The path template, e.g. `/repos/{owner}/{repo}/pulls/{pull_number}`.
    pub template: String,
    segments: Vec<Segment>,
    /// Parameters with `$ref`s resolved.
    parameters: Vec<Value>,
    body_schema: Option<Value>,
    body_required: bool,
}

/// A request matched to its operation.
#[derive(Debug, Clone)]
pub struct Matched<'a> {
    pub operation: &'a Operation,
    /// Path parameters, percent-decoded (`ref` = `heads/main`).
    pub params: BTreeMap<String, String>,
}

/// What the description says about one request.
#[derive(Debug, Clone)]
pub enum Verdict<'a> {
    /// No operation has this path (or not with this method).
    Unknown(String),
    /// An operation matched; `problems` lists every way the request departs from it
    /// (empty: the request is fine).
    Matched {
        matched: Matched<'a>,
        problems: Vec<String>,
    },
}

/// How a value is judged against a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// JSON Schema as written: an unknown property is refused only under
    /// `additionalProperties: false`, and `oneOf` is satisfied by any branch (like `anyOf`).
    /// For answers, which GitHub extends over time.
    Lenient,
    /// For requests a client sends: an object property that no applicable schema declares is
    /// refused (unless `additionalProperties` is itself a schema, i.e. the object is a map;
    /// `additionalProperties: true` opens nothing: GitHub writes it on branches that only add
    /// a constraint), an unknown query key is refused, and `oneOf` needs exactly one fitting
    /// branch.
    Strict,
}

/// The loaded description.
#[derive(Debug)]
pub struct Spec {
    doc: Value,
    operations: Vec<Operation>,
}

impl Spec {
    /// The description, loaded once per test binary.
    pub fn get() -> &'static Spec {
        static SPEC: OnceLock<Spec> = OnceLock::new();
        SPEC.get_or_init(|| {
            let path = spec_path();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let doc: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            Spec::from_document(doc)
        })
    }

    /// A description from a document of the same shape (`paths`, `components`); the
    /// validator's self-tests use small hand-written ones.
    pub fn from_document(doc: Value) -> Spec {
        let mut operations = Vec::new();
        let paths = doc["paths"].as_object().expect("paths");
        for (template, item) in paths {
            let item = item.as_object().expect("path item");
            let shared: Vec<Value> = item
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (method, op) in item {
                let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                    continue;
                };
                let mut parameters: Vec<Value> = Vec::new();
                for p in shared
                    .iter()
                    .chain(op["parameters"].as_array().into_iter().flatten())
                {
                    parameters.push(resolve(&doc, p).clone());
                }
                let body = op.get("requestBody").map(|b| resolve(&doc, b));
                let body_schema = body
                    .and_then(|b| b.pointer("/content/application~1json/schema"))
                    .cloned();
                let body_required = body
                    .and_then(|b| b.get("required"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let segments = template
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| {
                        if s.starts_with('{') && s.ends_with('}') {
                            Segment::Param(s[1..s.len() - 1].to_string())
                        } else {
                            Segment::Literal(s.to_string())
                        }
                    })
                    .collect();
                operations.push(Operation {
                    id: id.to_string(),
                    method: method.to_uppercase(),
                    template: template.clone(),
                    segments,
                    parameters,
                    body_schema,
                    body_required,
                });
            }
        }
        Spec { doc, operations }
    }

    /// Every operation of the description.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The raw document.
    pub fn document(&self) -> &Value {
        &self.doc
    }

    /// GitHub's own example `components/examples/<name>` (its `value`), for answers shaped
    /// like GitHub's.
    pub fn example(&self, name: &str) -> Value {
        self.doc["components"]["examples"][name]["value"].clone()
    }

    /// The schema of `components/schemas/<name>`.
    pub fn schema(&self, name: &str) -> &Value {
        &self.doc["components"]["schemas"][name]
    }

    /// The JSON schema of an operation's answer with this status, if the description has one.
    pub fn response_schema(&self, operation_id: &str, status: u16) -> Option<&Value> {
        let op = self.operation_doc(operation_id)?;
        let response = resolve(&self.doc, op.get("responses")?.get(status.to_string())?);
        response.pointer("/content/application~1json/schema")
    }

    fn operation_doc(&self, operation_id: &str) -> Option<&Value> {
        let op = self.operations.iter().find(|o| o.id == operation_id)?;
        self.doc["paths"][op.template.as_str()].get(op.method.to_lowercase())
    }

    /// The operation that `method path` names. `ref` and `path` parameters may span several
    /// segments; where several templates fit, the one with the most literal segments wins
    /// (`commits/{ref}/check-runs` over `commits/{ref}`).
    pub fn match_path(&self, method: &str, path: &str) -> Result<Matched<'_>, String> {
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .split('/')
            .map(percent_decode)
            .collect();
        let mut best: Option<(usize, Matched<'_>)> = None;
        let mut other_methods = Vec::new();
        for op in &self.operations {
            let mut params = BTreeMap::new();
            if !match_segments(&op.segments, &segments, &mut params) {
                continue;
            }
            if !op.method.eq_ignore_ascii_case(method) {
                other_methods.push(format!("{} {}", op.method, op.template));
                continue;
            }
            let literals = op
                .segments
                .iter()
                .filter(|s| matches!(s, Segment::Literal(_)))
                .count();
            if best.as_ref().is_none_or(|(n, _)| literals > *n) {
                best = Some((
                    literals,
                    Matched {
                        operation: op,
                        params,
                    },
                ));
            }
        }
        match best {
            Some((_, m)) => Ok(m),
            None if !other_methods.is_empty() => Err(format!(
                "{method} {path}: no such operation; the path only has {}",
                other_methods.join(", ")
            )),
            None => Err(format!(
                "{method} {path}: no operation of the REST description has this path"
            )),
        }
    }

    /// Judge one request, [`Strictness::Strict`]ly: its operation, its query parameters, its
    /// body. This is how the fake judges every request it receives.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Verdict<'_> {
        self.check_request_with(Strictness::Strict, method, path, query, body)
    }

    /// Judge one request with the given strictness.
    pub fn check_request_with(
        &self,
        mode: Strictness,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Verdict<'_> {
        let matched = match self.match_path(method, path) {
            Ok(m) => m,
            Err(why) => return Verdict::Unknown(why),
        };
        let op = matched.operation;
        let mut problems = Vec::new();
        for p in &op.parameters {
            let name = p["name"].as_str().unwrap_or_default();
            let schema = p.get("schema").cloned().unwrap_or(Value::Null);
            let required = p["required"].as_bool().unwrap_or(false);
            let value = match p["in"].as_str() {
                Some("path") => matched.params.get(name).cloned(),
                Some("query") => query
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone()),
                _ => continue,
            };
            match value {
                None if required => problems.push(format!(
                    "{}: required {} parameter `{name}` is missing",
                    op.id, p["in"]
                )),
                None => {}
                Some(v) => {
                    let mut errs = Vec::new();
                    self.validate_with(
                        mode,
                        &schema,
                        &parameter_value(&schema, &v),
                        name,
                        &mut errs,
                    );
                    for e in errs {
                        problems.push(format!("{}: parameter {e}", op.id));
                    }
                }
            }
        }
        if mode == Strictness::Strict {
            let unknown: std::collections::BTreeSet<&str> = query
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| {
                    !op.parameters
                        .iter()
                        .any(|p| p["in"] == "query" && p["name"].as_str() == Some(*k))
                })
                .collect();
            for k in unknown {
                problems.push(format!(
                    "{}: unknown query parameter `{k}` (the operation describes none of that name)",
                    op.id
                ));
            }
        }
        match (body, &op.body_schema) {
            (None, Some(_)) if op.body_required => {
                problems.push(format!("{}: the request body is required", op.id))
            }
            (Some(body), Some(schema)) => {
                let mut errs = Vec::new();
                self.validate_with(mode, schema, body, "body", &mut errs);
                for e in errs {
                    problems.push(format!("{}: {e}", op.id));
                }
            }
            (Some(body), None) if !body.is_null() => problems.push(format!(
                "{}: the operation takes no request body, got {}",
                op.id,
                short(body)
            )),
            _ => {}
        }
        Verdict::Matched { matched, problems }
    }

    /// Check `value` against `schema` [`Strictness::Lenient`]ly (as the schema is written),
    /// pushing one line per problem onto `errors`, each starting with where it is
    /// (`body.output.annotations[3].start_line`).
    pub fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        self.validate_with(Strictness::Lenient, schema, value, at, errors)
    }

    /// [`validate`](Self::validate) with the given strictness.
    pub fn validate_with(
        &self,
        mode: Strictness,
        schema: &Value,
        value: &Value,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        self.node(mode, schema, value, at, errors);
        if mode == Strictness::Strict {
            if let Value::Object(map) = value {
                let mut known = Known::default();
                self.known_properties(schema, value, &mut known);
                if known.described && !known.open {
                    for key in map.keys() {
                        if !known.names.contains(key.as_str()) {
                            errors.push(format!(
                                "{at}: unknown property `{key}` (not in the description)"
                            ));
                        }
                    }
                }
            }
        }
    }

    /// The properties the schemas that apply to `value` declare: `schema`'s own, its `allOf`
    /// branches', and those of its `oneOf`/`anyOf` branches that `value` fits (all of them
    /// when none fits; that is reported anyway).
    fn known_properties<'s>(&'s self, schema: &'s Value, value: &Value, known: &mut Known<'s>) {
        let schema = resolve(&self.doc, schema);
        let Some(obj) = schema.as_object() else {
            known.open = true; // `true`: anything goes
            return;
        };
        if matches!(obj.get("additionalProperties"), Some(Value::Object(_))) {
            known.open = true; // a map: its values are judged by that schema
        }
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            known.described = true;
            known.names.extend(props.keys().map(String::as_str));
        }
        for branch in obj
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.known_properties(branch, value, known);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(branches) = obj.get(key).and_then(Value::as_array) {
                let fitting: Vec<&Value> = branches
                    .iter()
                    .filter(|b| {
                        let mut e = Vec::new();
                        self.node(Strictness::Strict, b, value, "", &mut e);
                        e.is_empty()
                    })
                    .collect();
                let chosen = if fitting.is_empty() {
                    branches.iter().collect()
                } else {
                    fitting
                };
                for b in chosen {
                    self.known_properties(b, value, known);
                }
            }
        }
    }

    /// Check `value` against `schema` itself, without the strict unknown-property check at
    /// this level (a `oneOf`/`anyOf`/`allOf` branch often declares only the properties it
    /// constrains); values inside (properties, items) are checked in full.
    fn node(
        &self,
        mode: Strictness,
        schema: &Value,
        value: &Value,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let schema = resolve(&self.doc, schema);
        let Some(obj) = schema.as_object() else {
            return; // `true`, `{}` or nothing: anything goes
        };
        if value.is_null() {
            let nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true)
                || obj.get("type").and_then(Value::as_str) == Some("null")
                || obj
                    .get("enum")
                    .and_then(Value::as_array)
                    .is_some_and(|e| e.contains(&Value::Null));
            let typed = obj.contains_key("type")
                || obj.contains_key("properties")
                || obj.contains_key("enum");
            if nullable {
                return;
            }
            if typed {
                errors.push(format!("{at}: null is not allowed here"));
                return;
            }
        }
        for branch in obj
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.node(mode, branch, value, at, errors);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(branches) = obj.get(key).and_then(Value::as_array) {
                let mut first_errors = None;
                let mut fitting = Vec::new();
                for (i, b) in branches.iter().enumerate() {
                    let mut e = Vec::new();
                    self.node(mode, b, value, at, &mut e);
                    if e.is_empty() {
                        fitting.push(i);
                    } else if first_errors.is_none() {
                        first_errors = Some(e);
                    }
                }
                if fitting.is_empty() {
                    let detail = first_errors.unwrap_or_default().join("; ");
                    errors.push(format!(
                        "{at}: fits none of the {} `{key}` alternatives (first: {detail})",
                        branches.len()
                    ));
                } else if key == "oneOf" && mode == Strictness::Strict && fitting.len() > 1 {
                    let which: Vec<String> = fitting.iter().map(|i| format!("#{i}")).collect();
                    errors.push(format!(
                        "{at}: fits {} of the {} `oneOf` alternatives ({}); exactly one must fit",
                        fitting.len(),
                        branches.len(),
                        which.join(", ")
                    ));
                }
            }
        }
        if let Some(ty) = obj.get("type").and_then(Value::as_str) {
            let fits = match ty {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "boolean" => value.is_boolean(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "null" => value.is_null(),
                _ => true,
            };
            if !fits {
                errors.push(format!("{at}: expected {ty}, got {}", short(value)));
                return;
            }
        }
        if let Some(allowed) = obj.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                errors.push(format!(
                    "{at}: {} is not one of {}",
                    short(value),
                    Value::Array(allowed.clone())
                ));
            }
        }
        match value {
            Value::String(s) => {
                let len = s.chars().count() as u64;
                if let Some(max) = obj.get("maxLength").and_then(Value::as_u64) {
                    if len > max {
                        errors.push(format!("{at}: {len} characters, at most {max} allowed"));
                    }
                }
                if let Some(min) = obj.get("minLength").and_then(Value::as_u64) {
                    if len < min {
                        errors.push(format!("{at}: {len} characters, at least {min} needed"));
                    }
                }
                if obj.get("format").and_then(Value::as_str) == Some("date-time")
                    && chrono::DateTime::parse_from_rfc3339(s).is_err()
                {
                    errors.push(format!("{at}: {s:?} is not an ISO 8601 date-time"));
                }
            }
            Value::Number(n) => {
                let n = n.as_f64().unwrap_or_default();
                if let Some(max) = obj.get("maximum").and_then(Value::as_f64) {
                    if n > max {
                        errors.push(format!("{at}: {n} is above the maximum {max}"));
                    }
                }
                if let Some(min) = obj.get("minimum").and_then(Value::as_f64) {
                    if n < min {
                        errors.push(format!("{at}: {n} is below the minimum {min}"));
                    }
                }
            }
            Value::Array(items) => {
                let len = items.len() as u64;
                if let Some(max) = obj.get("maxItems").and_then(Value::as_u64) {
                    if len > max {
                        errors.push(format!("{at}: {len} items, at most {max} allowed"));
                    }
                }
                if let Some(min) = obj.get("minItems").and_then(Value::as_u64) {
                    if len < min {
                        errors.push(format!("{at}: {len} items, at least {min} needed"));
                    }
                }
                if let Some(item_schema) = obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.validate_with(mode, item_schema, item, &format!("{at}[{i}]"), errors);
                    }
                }
            }
            Value::Object(map) => {
                for name in obj
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = name.as_str().unwrap_or_default();
                    if !map.contains_key(name) {
                        errors.push(format!("{at}: required property `{name}` is missing"));
                    }
                }
                let props = obj.get("properties").and_then(Value::as_object);
                for (key, v) in map {
                    match props.and_then(|p| p.get(key)) {
                        Some(s) => self.validate_with(mode, s, v, &format!("{at}.{key}"), errors),
                        None => match obj.get("additionalProperties") {
                            Some(Value::Bool(false)) => {
                                errors.push(format!("{at}: unknown property `{key}`"))
                            }
                            Some(s @ Value::Object(_)) => {
                                self.validate_with(mode, s, v, &format!("{at}.{key}"), errors)
                            }
                            _ => {}
                        },
                    }
                }
            }
            _ => {}
        }
    }
}

/// What [`Spec::known_properties`] found: the declared names, whether any schema declared
/// `properties` at all (a bare `type: object` is a free-form object), and whether one is a
/// map or `true` (anything goes).
#[derive(Debug, Default)]
struct Known<'s> {
    names: std::collections::BTreeSet<&'s str>,
    described: bool,
    open: bool,
}

/// Follow `$ref`s (`#/components/...`) until a value that is not one.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                v = doc
                    .pointer(r.trim_start_matches('#'))
                    .unwrap_or_else(|| panic!("unresolved $ref {r}"));
            }
            None => return v,
        }
    }
    panic!("$ref chain too long")
}

fn match_segments(
    template: &[Segment],
    path: &[String],
    params: &mut BTreeMap<String, String>,
) -> bool {
    match template.split_first() {
        None => path.is_empty(),
        Some((Segment::Literal(l), rest)) => {
            path.first().is_some_and(|p| p == l) && match_segments(rest, &path[1..], params)
        }
        Some((Segment::Param(name), rest)) => {
            let spans = matches!(name.as_str(), "ref" | "path");
            let max = if spans { path.len() } else { 1.min(path.len()) };
            // Prefer the shortest span that lets the rest match.
            for take in 1..=max {
                if path[..take].iter().any(|s| s.is_empty()) {
                    break;
                }
                let mut inner = params.clone();
                inner.insert(name.clone(), path[..take].join("/"));
                if match_segments(rest, &path[take..], &mut inner) {
                    *params = inner;
                    return true;
                }
            }
            false
        }
    }
}

/// A query or path parameter as the JSON value its schema expects (`"30"` as `30` for an
/// integer), so the same validator judges it; what cannot be converted stays a string and
/// fails the type check.
fn parameter_value(schema: &Value, raw: &str) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") => raw
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(raw.to_string())),
        Some("number") => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(raw.to_string())),
        Some("boolean") => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(raw.to_string()),
        },
        _ => Value::String(raw.to_string()),
    }
}

/// `%2F` → `/` and friends (path segments as the client encoded them).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            ) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A value, shortened for a message.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}
