//! The registry is data; these tests hold it to the grammars. Each language has realistic
//! samples that must parse cleanly, and every kind the registry names must occur in them —
//! a kind the grammar knows but never produces (an alias, a hidden rule) would silently
//! switch a rule off. A small reference reading of the schema (`canon`) checks that the
//! normalisation rules make the formatter variants they target compare equal.

use super::*;
use std::collections::{BTreeMap, BTreeSet};
use tree_sitter::Node;

/// A realistic source of `lang`, under a path that must resolve to `lang`.
struct Sample {
    lang: &'static str,
    path: &'static str,
    src: &'static str,
}

const fn sample(lang: &'static str, path: &'static str, src: &'static str) -> Sample {
    Sample { lang, path, src }
}

const LANGUAGES: &[&str] = &[
    "rust",
    "python",
    "javascript",
    "typescript",
    "tsx",
    "go",
    "java",
    "c",
    "cpp",
    "csharp",
    "ruby",
    "bash",
    "json",
    "yaml",
    "toml",
];

/// TypeScript shared by the `typescript` and `tsx` samples (no `<T>x` casts: not TSX).
macro_rules! ts_sample {
    () => {
        r##"#!/usr/bin/env ts-node
import { b, a } from "./mod";
import type { Options } from './types';
<!-- legacy html comment
// Line comment.
/* Block comment. */
export { a, b };

export interface Shape {
  name: string;
  area(): number;
}

export type Id = string | (number);

enum Color { Red = 0xFF, Green }

declare module "ambient" {
  export function helper(x: number): void;
}

namespace Geometry {
  export const PI = 3.14E0;
}

function pick(x: string): string;
function pick(x: any) { return x; }

function* ids() { yield `id-${1}`; }

abstract class Base {
  abstract size(): number;
}

class Square extends Base implements Shape {
  name = 'square';
  constructor(private side: number) { super(); }
  size() { return (this.side) * this.side; }
  area(): number { return this.size(); }
}

const double = (x) => x * 2;
const triple = x => x * 3;
let opts: Options | undefined;

for (let i = 0; i < 3; i++) { opts = undefined; }
for (const k in opts) { if (k) { break; } else { continue; } }
while (opts) { opts = undefined; }
"##
    };
}

const SAMPLES: &[Sample] = &[
    sample(
        "rust",
        "src/geometry.rs",
        r##"#!/usr/bin/env run-cargo-script
//! Crate docs.
use std::collections::{HashMap, BTreeMap};
use std::fmt;

/* Block comment. */
pub const LIMIT: u32 = 0xFF;
static GREETING: &str = "hi";
pub type Pairs = Vec<(u8, char)>;

#[derive(Debug)]
#[allow(dead_code)]
pub struct Point {
x: f64,
y: f64,
}

pub enum Shape {
Dot(Point),
Empty,
}

#[repr(C)]
pub union Bits {
i: u32,
f: f32,
}

pub trait Area {
type Unit;
fn area(&self) -> f64;
}

impl Area for Point {
type Unit = f64;
fn area(&self) -> f64 {
    let raw = r"raw";
    let c = 'c';
    (self.x * self.y).abs() + 1.5e3 + raw.len() as f64 + c as u8 as f64
}
}

mod geometry {
pub fn origin() -> super::Point {
    super::Point { x: 0.0, y: 0.0 }
}
}

macro_rules! square {
($x:expr) => {
    $x * $x
};
}

fn classify(n: i32) -> &'static str {
match n {
    0 => { "zero" }
    _ => "many",
}
}
"##,
    ),
    sample(
        "python",
        "pkg/greeter.py",
        r##"#!/usr/bin/env python3
"""Module docstring."""
from __future__ import annotations

import os, sys
from typing import (
Any,
Optional,
)

MASK = 0xFF
RATE = 1.5E3


# A class comment.
class Greeter:
def greet(self, name: str) -> str:
    total = (1 + 2) * 3 + \
        4
    return f"hello {name}" 'and' "more" + str(total)


def main() -> None:
print(Greeter().greet("x"), os.sep, sys.argv, Any, Optional)
"##,
    ),
    sample(
        "javascript",
        "web/app.jsx",
        r##"#!/usr/bin/env node
import { b, a } from "./mod.js";
import def from './def.js';
<!-- legacy html comment
// Line comment.
/* Block comment. */
export { a, b };

const add = (x) => x + 0xFF;
const inc = x => x + 1.5e3;

function* gen() { yield `tpl ${add(1)}`; }

function main() { return (1 + 2) * inc(def); }

class Counter {
  count = 0;
  increment() { this.count += 1; }
}

const view = <div className="x">Hello   {"world"}</div>;

for (let i = 0; i < 3; i++) { if (i) { main(); } else { gen(); } }
for (const k of [a, b]) { add(k); }
while (view) { break; }
"##,
    ),
    sample("typescript", "src/shapes.ts", ts_sample!()),
    sample(
        "tsx",
        "src/View.tsx",
        concat!(
            ts_sample!(),
            r##"
export function View({ title }: { title: string }) {
  return <section className="view">Hello   {title}</section>;
}
"##
        ),
    ),
    sample(
        "go",
        "demo/demo.go",
        r##"// Package demo shows every Go entity kind.
package demo

import (
	"strings"
	"fmt"
)

import "os"

/* Block comment. */
const Mask = 0xFF

var (
	rate  = 1.5E3
	phase = 2.5i
	ptr   *(int)
)

type Point struct{ X, Y float64 }

type Alias = Point

type Shape interface {
	Area() float64
}

func (p Point) Area() float64 { return (p.X * p.Y) }

func Greet(name string) string {
	r := 'x'
	raw := `raw`
	fmt.Println(strings.ToUpper(name), r, raw, os.Args, rate, phase, ptr)
	return "hello " + name
}
"##,
    ),
    sample(
        "java",
        "src/main/java/demo/Demo.java",
        r##"package demo;

import java.util.function.Function;
import java.util.List;

/** Doc comment. */
public final class Demo {
// Line comment.
static final int MASK = 0xFF;
static final int OCT = 017;
static final int BIN = 0b1010;
static final double RATE = 1.5E3;
static final double HEX = 0x1.8p1;
private final String text = """
    block
    """;

public Demo() { }

public int twice(int x) { return (x + 1) * 2; }

interface Shape { double area(); }

enum Color { RED, GREEN }

record Point(int x, int y) {
    Point {
        if (x < 0) throw new IllegalArgumentException("x");
    }
}

@interface Marker { }

void lambdas(List<Integer> xs) {
    Function<Integer, Integer> f = (y) -> y + 1;
    Function<Integer, Integer> g = y -> y + 'c';
    for (int i = 0; i < 3; i++) { if (i > 1) { break; } }
    for (int x : xs) { twice(x); }
    while (xs.isEmpty()) { return; }
}
}
"##,
    ),
    sample(
        "c",
        "src/point.c",
        r##"/* Block comment. */
#include <stdio.h>
#include "local.h"

// Line comment.
#define MASK 0xFFu
#define SQUARE(x) ((x) * (x))

typedef unsigned long size_type;

struct point { int x; int y; };
union bits { int i; float f; };
enum color { RED, GREEN = 2 };

static int add(int a, int b) { return (a + b) * 1; }

int main(void) {
const char *s = "hi";
char c = 'c';
double d = 1.5E3;
printf("%s %c %f %d\n", s, c, d, add(1, 2));
for (int i = 0; i < 3; i++) { if (i) { continue; } else { break; } }
while (c) { c--; }
return 0;
}
"##,
    ),
    sample(
        "cpp",
        "src/shape.cpp",
        r##"// Line comment.
#include <vector>
#include <string>

using std::vector;
using std::string;

/* Block comment. */
#define VERSION 2
#define MAX(a, b) ((a) > (b) ? (a) : (b))

namespace geo {

typedef double real;
using Id = unsigned long;

template <typename T>
concept Small = sizeof(T) <= 0xFF;

struct Point { real x, y; };
union Bits { int i; float f; };
enum class Color { Red, Green };

class Shape {
public:
virtual ~Shape() = default;
double area() const { return (w * h); }
private:
double w = 1.5e3, h = 2.0;
};

int add(int a, int b) {
for (int i = 0; i < b; i++) { if (i) { a++; } else { a--; } }
for (int x : {1, 2}) { a += x; }
while (a > 0xFF) { a /= 2; }
return a + b;
}

}  // namespace geo

std::string greet() { return std::string(R"(raw)") + "x" + 'c'; }
"##,
    ),
    sample(
        "csharp",
        "src/Demo.cs",
        r##"// Line comment.
using System.Text;
using System;

namespace Demo
{
/* Block comment. */
public delegate int Op(int a, int b);

public interface IShape { double Area(); }

public enum Color { Red, Green }

public record Point(int X, int Y);

public struct Pair { public int A; }

public static class Util
{
    static public int Mask = 0xFF;
    public static string Name { get; set; } = "x";
    public static double Rate() => 1.5E3;
    public static bool Small(int x) => x is (> 0 and < 10);
}

public class Counter : IDisposable
{
    public Counter() { }
    ~Counter() { }
    public void Dispose()
    {
        int Local(int x) => (x + 1) * 2;
        var s = @"verbatim" + $"interp {Local(1)}" + """raw""" + 'c';
        for (int i = 0; i < 3; i++) { if (i > 1) { break; } }
        foreach (var ch in s) { Local(ch); }
        while (s.Length > 0) { return; }
    }
}
}
"##,
    ),
    sample(
        "csharp",
        "src/Scoped.cs",
        r##"namespace Demo.Scoped;

// A file-scoped namespace.
public class Other { }
"##,
    ),
    sample(
        "ruby",
        "lib/shapes.rb",
        r##"# frozen_string_literal: true
require "json"

module Shapes
  class Circle < Base
RADIUS = 0xFF

def initialize(r = 1.5E3)
  @r = (r)
end

def self.unit
  new(1)
end

def label
  "circle #{@r}" + 'x' + ?c + :"sym bol".to_s
end
  end
end
"##,
    ),
    sample(
        "ruby",
        "Gemfile",
        r##"# Gems.
source "https://rubygems.org"
gem 'rails', '~> 7.1'
"##,
    ),
    sample(
        "ruby",
        "Rakefile",
        r##"# Tasks.
task default: :test
"##,
    ),
    sample(
        "bash",
        "scripts/build.sh",
        r##"#!/usr/bin/env bash
# Build everything.
set -euo pipefail

greet() {
  local name="$1"
  echo "hello ${name}" 'raw' $'ansi\n'
}

function count {
  echo $(( (1 + 2) * 0xFF ))
}

greet "$(whoami)"
"##,
    ),
    sample(
        "json",
        "package.json",
        r##"{
  // A comment (JSON with comments).
  "name": "patchgate",
  "version": 1.5E3,
  "nested": {"a": [1, 2, true, null]}
}
"##,
    ),
    sample(
        "yaml",
        ".github/workflows/ci.yml",
        r##"# CI workflow.
---
name: ci
on: {push: {branches: [main]}}
jobs:
  test:
runs-on: 'ubuntu-latest'
timeout: 0x1F
ratio: 1.5E3
enabled: True
skip: null
steps:
  - run: "cargo test"
"##,
    ),
    sample(
        "toml",
        "Cargo.toml",
        r##"# Manifest.
title = "patchgate"
"quoted key" = 'literal'
mask = 0xFF
rate = 1.5E3

[package]
name = "x"

[[bin]]
name = "y"
"##,
    ),
    // Kinds that only formatters' output shows: a closure body in a block (rustfmt), a
    // parenthesised unpacking target (black), an empty statement (prettier `semi: false`).
    sample(
        "rust",
        "src/closure.rs",
        "fn g() -> u8 {\n    let f = |x: u8| { x };\n    f(1)\n}\n",
    ),
    sample("python", "unpack.py", "(a, b) = pair\n"),
    sample("javascript", "empty.js", "f();;\n"),
    sample("typescript", "empty.ts", "f();;\n"),
    sample("tsx", "empty.tsx", "f();;\n"),
    // Escapes, adjacent literals, heredocs, generator arguments, object keys.
    sample("rust", "src/esc.rs", "const E: &str = \"tab\\t\\x41\";\n"),
    sample(
        "python",
        "esc.py",
        "from a import c, b\nE = '\\x1b[0m' 'done'\nany((x for x in y))\n",
    ),
    sample(
        "javascript",
        "esc.js",
        "const e = \"a\\x41\";\nconst o = { b: 1, a: 2 };\nconst f = (a,) => a;\n",
    ),
    sample(
        "typescript",
        "esc.ts",
        "const e = \"a\\x41\";\nconst o = { b: 1, a: 2 };\n",
    ),
    sample(
        "tsx",
        "esc.tsx",
        "const e = \"a\\x41\";\nconst o = { b: 1, a: 2 };\n",
    ),
    sample("go", "esc.go", "package esc\n\nvar E = \"a\\x41\\n\"\n"),
    sample("java", "Esc.java", "class Esc { String e = \"a\\tb\"; }\n"),
    sample("c", "esc.c", "const char *e = \"a\\x41\" \"b\";\n"),
    sample("cpp", "esc.cpp", "const char *e = \"a\\n\" \"b\";\n"),
    sample("csharp", "Esc.cs", "class Esc { string e = \"a\\tb\"; }\n"),
    sample(
        "ruby",
        "esc.rb",
        "x = \"a\\x41\"\ny = <<~TEXT\n  hi #{x}\nTEXT\n",
    ),
    sample("json", "esc.json", "{\"e\": \"caf\\u00e9\"}\n"),
    sample("toml", "esc.toml", "e = \"caf\\u00E9\"\n"),
];

/// (language, entity kind, expected name): each must be found in the language's samples,
/// and every entity kind the registry names must be listed here.
const ENTITIES: &[(&str, &str, &str)] = &[
    ("rust", "function_item", "area"),
    ("rust", "function_item", "origin"),
    ("rust", "function_item", "classify"),
    ("rust", "function_signature_item", "area"),
    ("rust", "struct_item", "Point"),
    ("rust", "enum_item", "Shape"),
    ("rust", "union_item", "Bits"),
    ("rust", "trait_item", "Area"),
    ("rust", "impl_item", "Point"),
    ("rust", "mod_item", "geometry"),
    ("rust", "const_item", "LIMIT"),
    ("rust", "static_item", "GREETING"),
    ("rust", "type_item", "Pairs"),
    ("rust", "type_item", "Unit"),
    ("rust", "associated_type", "Unit"),
    ("rust", "macro_definition", "square"),
    ("python", "class_definition", "Greeter"),
    ("python", "function_definition", "greet"),
    ("python", "function_definition", "main"),
    ("javascript", "function_declaration", "main"),
    ("javascript", "generator_function_declaration", "gen"),
    ("javascript", "class_declaration", "Counter"),
    ("javascript", "method_definition", "increment"),
    ("typescript", "function_declaration", "pick"),
    ("typescript", "generator_function_declaration", "ids"),
    ("typescript", "function_signature", "pick"),
    ("typescript", "function_signature", "helper"),
    ("typescript", "class_declaration", "Square"),
    ("typescript", "abstract_class_declaration", "Base"),
    ("typescript", "method_definition", "constructor"),
    ("typescript", "method_definition", "size"),
    ("typescript", "method_signature", "area"),
    ("typescript", "abstract_method_signature", "size"),
    ("typescript", "interface_declaration", "Shape"),
    ("typescript", "type_alias_declaration", "Id"),
    ("typescript", "enum_declaration", "Color"),
    ("typescript", "internal_module", "Geometry"),
    ("typescript", "module", "\"ambient\""),
    ("tsx", "function_declaration", "pick"),
    ("tsx", "function_declaration", "View"),
    ("tsx", "generator_function_declaration", "ids"),
    ("tsx", "function_signature", "pick"),
    ("tsx", "class_declaration", "Square"),
    ("tsx", "abstract_class_declaration", "Base"),
    ("tsx", "method_definition", "area"),
    ("tsx", "method_signature", "area"),
    ("tsx", "abstract_method_signature", "size"),
    ("tsx", "interface_declaration", "Shape"),
    ("tsx", "type_alias_declaration", "Id"),
    ("tsx", "enum_declaration", "Color"),
    ("tsx", "internal_module", "Geometry"),
    ("tsx", "module", "\"ambient\""),
    ("go", "function_declaration", "Greet"),
    ("go", "method_declaration", "Area"),
    ("go", "method_elem", "Area"),
    ("go", "type_spec", "Point"),
    ("go", "type_spec", "Shape"),
    ("go", "type_alias", "Alias"),
    ("java", "class_declaration", "Demo"),
    ("java", "interface_declaration", "Shape"),
    ("java", "enum_declaration", "Color"),
    ("java", "record_declaration", "Point"),
    ("java", "annotation_type_declaration", "Marker"),
    ("java", "method_declaration", "twice"),
    ("java", "method_declaration", "area"),
    ("java", "constructor_declaration", "Demo"),
    ("java", "compact_constructor_declaration", "Point"),
    // C keeps a function's name inside its declarator: the whole declarator names it.
    ("c", "function_definition", "add(int a, int b)"),
    ("c", "function_definition", "main(void)"),
    ("c", "struct_specifier", "point"),
    ("c", "union_specifier", "bits"),
    ("c", "enum_specifier", "color"),
    ("c", "type_definition", "size_type"),
    ("c", "preproc_def", "MASK"),
    ("c", "preproc_function_def", "SQUARE"),
    ("cpp", "function_definition", "add(int a, int b)"),
    ("cpp", "function_definition", "area() const"),
    ("cpp", "function_definition", "greet()"),
    ("cpp", "class_specifier", "Shape"),
    ("cpp", "struct_specifier", "Point"),
    ("cpp", "union_specifier", "Bits"),
    ("cpp", "enum_specifier", "Color"),
    ("cpp", "namespace_definition", "geo"),
    ("cpp", "alias_declaration", "Id"),
    ("cpp", "concept_definition", "Small"),
    ("cpp", "type_definition", "real"),
    ("cpp", "preproc_def", "VERSION"),
    ("cpp", "preproc_function_def", "MAX"),
    ("csharp", "namespace_declaration", "Demo"),
    ("csharp", "file_scoped_namespace_declaration", "Demo.Scoped"),
    ("csharp", "class_declaration", "Util"),
    ("csharp", "class_declaration", "Other"),
    ("csharp", "struct_declaration", "Pair"),
    ("csharp", "interface_declaration", "IShape"),
    ("csharp", "enum_declaration", "Color"),
    ("csharp", "record_declaration", "Point"),
    ("csharp", "delegate_declaration", "Op"),
    ("csharp", "method_declaration", "Rate"),
    ("csharp", "method_declaration", "Dispose"),
    ("csharp", "constructor_declaration", "Counter"),
    ("csharp", "destructor_declaration", "Counter"),
    ("csharp", "property_declaration", "Name"),
    ("csharp", "local_function_statement", "Local"),
    ("ruby", "module", "Shapes"),
    ("ruby", "class", "Circle"),
    ("ruby", "method", "initialize"),
    ("ruby", "method", "label"),
    ("ruby", "singleton_method", "unit"),
    ("bash", "function_definition", "greet"),
    ("bash", "function_definition", "count"),
    ("json", "pair", "\"name\""),
    ("json", "pair", "\"a\""),
    ("yaml", "block_mapping_pair", "jobs"),
    ("yaml", "block_mapping_pair", "runs-on"),
    ("yaml", "flow_pair", "push"),
];

fn registry() -> Registry {
    Registry::embedded().expect("the embedded registry loads")
}

fn parse(lang: &Language, src: &str) -> tree_sitter::Tree {
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&lang.ts).expect("grammar loads");
    parser.parse(src, None).expect("tree-sitter returns a tree")
}

/// Every node of a tree, pre-order.
fn nodes(tree: &tree_sitter::Tree) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(n) = stack.pop() {
        out.push(n);
        let mut c = n.walk();
        let kids: Vec<Node<'_>> = n.children(&mut c).collect();
        stack.extend(kids.into_iter().rev());
    }
    out
}

/// The first ERROR or MISSING node, as `line: text`.
fn first_error(tree: &tree_sitter::Tree, src: &str) -> Option<String> {
    nodes(tree)
        .into_iter()
        .find(|n| n.is_error() || n.is_missing())
        .map(|n| {
            format!(
                "line {}: {} {:?}",
                n.start_position().row + 1,
                n.kind(),
                &src[n.byte_range()]
            )
        })
}

/// An entity's name as the schema documents it: the name field (`name` unless
/// `name_field` says otherwise), or, when the node has no such field, the first
/// identifier-like named child.
fn entity_name<'s>(lang: &Language, node: Node<'_>, src: &'s str) -> Option<&'s str> {
    let (_, field) = lang.entity(node.kind_id())?;
    let named = field.and_then(|f| node.child_by_field_id(f)).or_else(|| {
        let mut c = node.walk();
        let found = node.named_children(&mut c).find(|n| {
            let k = n.kind();
            k.contains("identifier") || k.contains("name")
        });
        found
    })?;
    Some(&src[named.byte_range()])
}

fn samples_of(lang: &str) -> impl Iterator<Item = &'static Sample> + '_ {
    SAMPLES.iter().filter(move |s| s.lang == lang)
}

/// Every kind the registry names for a language, with the field that names it.
fn named_kinds(spec: &LanguageSpec) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    for (field, kinds) in [
        ("comment_kinds", &spec.comment_kinds),
        ("ignore_kinds", &spec.ignore_kinds),
        ("string_kinds", &spec.string_kinds),
        ("case_insensitive_kinds", &spec.case_insensitive_kinds),
        ("leaf_kinds", &spec.leaf_kinds),
        ("sorted_kinds", &spec.sorted_kinds),
        ("sorted_children", &spec.sorted_children),
        ("escape_kinds", &spec.escape_kinds),
        ("concat_kinds", &spec.concat_kinds),
        ("macro_kinds", &spec.macro_kinds),
        ("value_kinds", &spec.value_kinds),
        ("space_kinds", &spec.space_kinds),
    ] {
        out.extend(kinds.iter().map(|k| (field, k.as_str())));
    }
    for group in &spec.sorted_groups {
        out.extend(group.iter().map(|k| ("sorted_groups", k.as_str())));
    }
    for sf in &spec.sorted_fields {
        out.push(("sorted_fields.kind", sf.kind.as_str()));
    }
    if let Some(h) = &spec.heredoc {
        out.push(("heredoc.content", h.content.as_str()));
        out.push(("heredoc.end", h.end.as_str()));
    }
    for u in &spec.unwrap {
        out.push(("unwrap.kind", u.kind.as_str()));
        if let Some(p) = &u.parent {
            out.push(("unwrap.parent", p.as_str()));
        }
        if let Some(c) = &u.child {
            out.push(("unwrap.child", c.as_str()));
        }
    }
    for e in &spec.entities {
        out.push(("entities.kind", e.kind.as_str()));
    }
    out
}

/// `Registry::embedded` compiles each language on first use; this is what keeps that from ever
/// failing at run time: every embedded language compiles, validated as a whole.
#[test]
fn every_embedded_language_compiles() {
    let reg = Registry::from_toml(EMBEDDED_REGISTRY).expect("the embedded registry validates");
    assert_eq!(reg.languages().len(), LANGUAGES.len());
}

#[test]
fn the_embedded_registry_compiles_only_what_is_asked_for() {
    let reg = registry();
    assert!(reg.slots.iter().all(|s| s.lang.get().is_none()));
    let py = reg.for_path(Path::new("src/m.py")).expect("python");
    assert_eq!(py.name(), "python");
    let compiled: Vec<&str> = reg
        .slots
        .iter()
        .filter(|s| s.lang.get().is_some())
        .map(|s| s.spec.name.as_str())
        .collect();
    assert_eq!(compiled, ["python"]);
}

/// `Registry::embedded` reads each language from the part of the registry `build.rs` split off
/// (`embedded.rs`): the same entries, in the same order, found by the same extensions and file
/// names, as parsing the whole file.
#[test]
fn the_embedded_parts_are_the_whole_registry() {
    let parts = registry();
    let whole = Registry::parse(EMBEDDED_REGISTRY).expect("the embedded registry parses");
    assert_eq!(parts.slots.len(), whole.slots.len());
    for (p, w) in parts.slots.iter().zip(&whole.slots) {
        assert_eq!(p.spec.name, w.spec.name);
        let (Entry::Embedded(text), Entry::Parsed(spec)) = (&p.spec.entry, &w.spec.entry) else {
            panic!(
                "{}: embedded must be text, the whole file parsed",
                p.spec.name
            );
        };
        assert_eq!(format!("{:?}", embedded_spec(text)), format!("{spec:?}"));
    }
    assert_eq!(parts.by_extension, whole.by_extension);
    assert_eq!(parts.by_filename, whole.by_filename);
}

#[test]
fn embedded_registry_loads_with_every_language() {
    let reg = registry();
    let names: Vec<&str> = reg.languages().iter().map(|l| l.name()).collect();
    assert_eq!(names, LANGUAGES);
    for lang in reg.languages() {
        let spec = &lang.spec;
        assert!(
            !spec.extensions.is_empty() || !spec.filenames.is_empty(),
            "{}: no files",
            spec.name
        );
        assert!(!spec.comment_kinds.is_empty(), "{}: no comments", spec.name);
        assert!(
            !spec.string_kinds.is_empty(),
            "{}: no string kinds",
            spec.name
        );
        assert!(
            !spec.case_insensitive_kinds.is_empty(),
            "{}: no number kinds",
            spec.name
        );
        assert!(reg.by_name(&spec.name).is_some());
    }
}

#[test]
fn samples_parse_without_errors() {
    let reg = registry();
    for s in SAMPLES {
        let lang = reg.by_name(s.lang).expect("sample language registered");
        let tree = parse(lang, s.src);
        assert!(
            !tree.root_node().has_error(),
            "{} sample {} does not parse: {}",
            s.lang,
            s.path,
            first_error(&tree, s.src).unwrap_or_default()
        );
    }
    for lang in LANGUAGES {
        assert!(samples_of(lang).next().is_some(), "{lang}: no sample");
    }
}

#[test]
fn every_registered_kind_occurs_in_the_samples() {
    let reg = registry();
    for lang in reg.languages() {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for s in samples_of(lang.name()) {
            let tree = parse(lang, s.src);
            seen.extend(nodes(&tree).iter().map(|n| n.kind().to_string()));
        }
        for (field, kind) in named_kinds(&lang.spec) {
            assert!(
                seen.contains(kind),
                "{}: `{kind}` ({field}) never occurs in the samples",
                lang.name()
            );
        }
        // Comments in particular are what the samples must show.
        for kind in &lang.spec.comment_kinds {
            assert!(seen.contains(kind.as_str()), "{}: {kind}", lang.name());
        }
    }
}

#[test]
fn entities_occur_and_are_named_by_their_field() {
    let reg = registry();
    for lang in reg.languages() {
        // (kind, name) of every entity node in the samples.
        let mut found: BTreeSet<(String, String)> = BTreeSet::new();
        for s in samples_of(lang.name()) {
            let tree = parse(lang, s.src);
            for node in nodes(&tree) {
                if lang.entity(node.kind_id()).is_none() {
                    continue;
                }
                assert!(lang.flags(node.kind_id()) & flag::ENTITY != 0);
                let name = entity_name(lang, node, s.src).unwrap_or_else(|| {
                    panic!(
                        "{}: {} at line {} has no name",
                        lang.name(),
                        node.kind(),
                        node.start_position().row + 1
                    )
                });
                found.insert((node.kind().to_string(), name.to_string()));
            }
        }
        let expected: Vec<(&str, &str)> = ENTITIES
            .iter()
            .filter(|(l, _, _)| *l == lang.name())
            .map(|(_, k, n)| (*k, *n))
            .collect();
        for e in &lang.spec.entities {
            assert!(
                expected.iter().any(|(k, _)| *k == e.kind),
                "{}: entity kind `{}` has no expected name in ENTITIES",
                lang.name(),
                e.kind
            );
        }
        for (kind, name) in expected {
            assert!(
                found.contains(&(kind.to_string(), name.to_string())),
                "{}: no {kind} named {name:?}; found {found:?}",
                lang.name()
            );
        }
    }
}

#[test]
fn entity_labels_are_short_reader_words() {
    let reg = registry();
    for lang in reg.languages() {
        for e in &lang.spec.entities {
            assert!(
                !e.label.is_empty() && e.label.len() <= 12 && !e.label.contains(' '),
                "{}: label {:?}",
                lang.name(),
                e.label
            );
        }
    }
}

#[test]
fn lookup_by_extension_and_file_name() {
    let reg = registry();
    let cases: &[(&str, Option<&str>)] = &[
        ("src/main.rs", Some("rust")),
        ("SRC/MAIN.RS", Some("rust")),
        ("a/b.py", Some("python")),
        ("stubs/x.pyi", Some("python")),
        ("x.pyw", Some("python")),
        ("x.js", Some("javascript")),
        ("x.mjs", Some("javascript")),
        ("x.cjs", Some("javascript")),
        ("x.jsx", Some("javascript")),
        ("x.ts", Some("typescript")),
        ("x.mts", Some("typescript")),
        ("x.cts", Some("typescript")),
        ("types/x.d.ts", Some("typescript")),
        ("x.tsx", Some("tsx")),
        ("x.go", Some("go")),
        ("Main.java", Some("java")),
        ("x.c", Some("c")),
        ("x.h", Some("c")),
        ("x.cc", Some("cpp")),
        ("x.cpp", Some("cpp")),
        ("x.cxx", Some("cpp")),
        ("x.hpp", Some("cpp")),
        ("x.hh", Some("cpp")),
        ("x.hxx", Some("cpp")),
        ("X.CPP", Some("cpp")),
        ("x.cs", Some("csharp")),
        ("lib/x.rb", Some("ruby")),
        ("Gemfile", Some("ruby")),
        ("sub/dir/Rakefile", Some("ruby")),
        ("x.sh", Some("bash")),
        ("x.bash", Some("bash")),
        ("package.json", Some("json")),
        ("ci.yml", Some("yaml")),
        ("ci.yaml", Some("yaml")),
        ("Cargo.toml", Some("toml")),
        // Misses: no extension, an unknown one, file names are exact.
        ("README", None),
        ("notes.txt", None),
        ("Gemfile.lock", None),
        ("gemfile", None),
        ("Makefile", None),
    ];
    for (path, want) in cases {
        let got = reg.for_path(Path::new(path)).map(|l| l.name());
        assert_eq!(got, *want, "{path}");
    }
    // Every registered extension and file name resolves to its own language, and no two
    // languages claim the same one (the later would silently win).
    let mut owner: BTreeMap<String, &str> = BTreeMap::new();
    for lang in reg.languages() {
        for ext in &lang.spec.extensions {
            let key = format!("*.{}", ext.to_ascii_lowercase());
            assert!(
                owner.insert(key, lang.name()).is_none(),
                "{ext} claimed twice"
            );
            let path = format!("dir/file.{ext}");
            assert_eq!(
                reg.for_path(Path::new(&path)).map(|l| l.name()),
                Some(lang.name())
            );
        }
        for name in &lang.spec.filenames {
            assert!(
                owner.insert(name.clone(), lang.name()).is_none(),
                "{name} claimed twice"
            );
            let path = format!("dir/{name}");
            assert_eq!(
                reg.for_path(Path::new(&path)).map(|l| l.name()),
                Some(lang.name())
            );
        }
    }
    // Each sample's path resolves to the sample's language.
    for s in SAMPLES {
        assert_eq!(
            reg.for_path(Path::new(s.path)).map(|l| l.name()),
            Some(s.lang),
            "{}",
            s.path
        );
    }
}

#[test]
fn explicit_drop_tokens_are_tokens_of_the_grammar() {
    // drop_tokens are not validated at load (the default list spans all grammars), so an
    // explicit list is checked here: each entry must be an anonymous token of the grammar.
    let reg = registry();
    for lang in reg.languages() {
        let Some(drop) = &lang.spec.drop_tokens else {
            continue;
        };
        for tok in drop {
            let known = (0..lang.ts.node_kind_count() as u16).any(|id| {
                lang.ts.node_kind_for_id(id) == Some(tok.as_str())
                    && !lang.ts.node_kind_is_named(id)
                    && lang.flags(id) & flag::DROP != 0
            });
            assert!(
                known,
                "{}: drop token {tok:?} is not a token of the grammar",
                lang.name()
            );
        }
    }
}

/// The normalised tree the engine builds, as its root hash and its node count (so two
/// texts compare equal exactly when `patchgate diff` finds nothing between them).
fn canonical(reg: &Registry, lang: &str, src: &str) -> String {
    use crate::astdiff::tree::{Limits, SyntaxTree, TreeOptions};
    let lang = reg.by_name(lang).unwrap();
    let tree = SyntaxTree::parse(lang, src, &Limits::default(), TreeOptions::default())
        .unwrap_or_else(|e| panic!("{}: {src:?}: {e}", lang.name()));
    let root = tree.node(tree.root());
    format!("{:016x}/{}", root.hash, tree.len())
}

#[test]
fn formatter_variants_normalise_to_the_same_tree() {
    let reg = registry();
    let same: &[(&str, &str, &str)] = &[
        // Rust: a block around a lone match-arm expression; use order and use lists.
        (
            "rust",
            "fn f(x: u8) -> u8 { match x { 0 => { 1 } _ => 2, } }",
            "fn f(x: u8) -> u8 {\n    match x {\n        0 => 1,\n        _ => 2,\n    }\n}\n",
        ),
        (
            "rust",
            "use b::{y, x};\nuse a;\n",
            "use a;\nuse b::{x, y};\n",
        ),
        ("rust", "const X: u8 = (0xFF);", "const X: u8 = 0xff;"),
        // Python: import order, redundant parentheses, backslash continuation.
        (
            "python",
            "import sys, os\nx = (1)\n",
            "import os, sys\nx = 1\n",
        ),
        ("python", "y = 1 + \\\n    2\n", "y = 1 + 2\n"),
        (
            "python",
            "from a import b\nimport c\n",
            "from a import (\n    b,\n)\nimport c\n",
        ),
        // JavaScript: prettier's arrow parentheses, import and specifier order, semicolons.
        ("javascript", "const f = (x) => x;", "const f = x => x"),
        (
            "javascript",
            "import { b, a } from \"m\";\nimport c from \"n\";\n",
            "import c from \"n\"\nimport { a, b } from \"m\"\n",
        ),
        ("javascript", "let n = (0XFF + 1);", "let n = 0xff + 1"),
        // TypeScript / TSX: the same, through required_parameter; redundant type parens.
        ("typescript", "const f = (x) => x;", "const f = x => x;"),
        ("typescript", "type T = (string);", "type T = string;"),
        (
            "tsx",
            "const f = (x) => <b>{x}</b>;",
            "const f = x => <b>{x}</b>;",
        ),
        // Go: a lone import in parentheses, import order.
        (
            "go",
            "package p\nimport \"fmt\"\n",
            "package p\n\nimport (\n\t\"fmt\"\n)\n",
        ),
        (
            "go",
            "package p\nimport (\n\t\"os\"\n\t\"fmt\"\n)\n",
            "package p\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n",
        ),
        // Java: lambda parentheses, modifier order, import order.
        (
            "java",
            "class A { Object f = (y) -> y; }",
            "class A {\n  Object f = y -> y;\n}",
        ),
        (
            "java",
            "import b.B;\nimport a.A;\nclass C { static public final int X = 0XFF; }",
            "import a.A;\nimport b.B;\nclass C { public static final int X = 0xff; }",
        ),
        // C / C++: include and using-declaration order, redundant parentheses.
        (
            "c",
            "#include <stdio.h>\n#include \"a.h\"\nint f(int x) { return (x); }\n",
            "#include \"a.h\"\n#include <stdio.h>\nint f(int x)\n{\n    return x;\n}\n",
        ),
        (
            "cpp",
            "using std::vector;\nusing std::string;\nint x = (1);\n",
            "using std::string;\nusing std::vector;\nint x = 1;\n",
        ),
        // C#: using order, modifier order.
        (
            "csharp",
            "using System.Text;\nusing System;\nstatic public class A { }\n",
            "using System;\nusing System.Text;\npublic static class A\n{\n}\n",
        ),
        // Ruby: redundant parentheses, call parentheses.
        ("ruby", "x = (1 + 2)\nputs(x)\n", "x = 1 + 2\nputs x\n"),
        // Bash: `function` keyword, backquotes.
        (
            "bash",
            "function f { echo hi; }\nx=`date`\n",
            "f() {\n  echo hi\n}\nx=$(date)\n",
        ),
        // Braces around a lone statement under if/else/for/while.
        (
            "c",
            "void f() { if (x) { y(); } else { z(); } while (x) { y(); } }",
            "void f() { if (x) y(); else z(); while (x) y(); }",
        ),
        (
            "cpp",
            "void f() { for (int i : v) { g(i); } }",
            "void f() { for (int i : v) g(i); }",
        ),
        (
            "java",
            "class A { void f() { if (x) { y(); } for (int i : v) { g(i); } } }",
            "class A { void f() { if (x) y(); for (int i : v) g(i); } }",
        ),
        (
            "csharp",
            "class A { void F() { if (x) { Y(); } foreach (var i in v) { G(i); } } }",
            "class A { void F() { if (x) Y(); foreach (var i in v) G(i); } }",
        ),
        (
            "javascript",
            "if (x) { y(); } else { z(); }\nfor (const k of v) { g(k); }\n",
            "if (x) y(); else z();\nfor (const k of v) g(k);\n",
        ),
        ("typescript", "while (x) { y(); }", "while (x) y();"),
        // Data: member order of objects and mappings; structural punctuation.
        (
            "json",
            "{\"a\": 1, \"b\": [1, 2]}",
            "{\n  \"b\": [1, 2],\n  \"a\": 1\n}\n",
        ),
        ("yaml", "a: 1\nb: [x, y]\n", "---\nb:\n  [x, y]\na: 1\n"),
        ("yaml", "m: {k: 1, j: 2}\n", "m: {j: 2, k: 1}\n"),
        (
            "toml",
            "b = 1\na = 0xFF\n[t]\nx = 1\n",
            "a = 0xff\nb = 1\n\n[t]\nx = 1\n",
        ),
        (
            "toml",
            "[b]\nx = 1\n[a]\ny = 2\n",
            "[a]\ny = 2\n[b]\nx = 1\n",
        ),
    ];
    for (lang, a, b) in same {
        assert_eq!(
            canonical(&reg, lang, a),
            canonical(&reg, lang, b),
            "{lang}: {a:?} vs {b:?}"
        );
    }
    // And what must stay apart: precedence, sequence order, multi-parameter lists.
    let differ: &[(&str, &str, &str)] = &[
        (
            "rust",
            "fn f() -> u8 { (1 + 2) * 3 }",
            "fn f() -> u8 { 1 + 2 * 3 }",
        ),
        ("python", "x = (a + b) * c\n", "x = a + b * c\n"),
        (
            "javascript",
            "const f = (x, y) => x;",
            "const f = (y, x) => x;",
        ),
        (
            "go",
            "package p\nvar x = (a + b) * c\n",
            "package p\nvar x = a + b*c\n",
        ),
        ("json", "[1, 2]", "[2, 1]"),
        ("yaml", "- x\n- y\n", "- y\n- x\n"),
        ("yaml", "a: 1\n", "a: \"1\"\n"),
        (
            "toml",
            "[[bin]]\nname = \"a\"\n[[bin]]\nname = \"b\"\n",
            "[[bin]]\nname = \"b\"\n[[bin]]\nname = \"a\"\n",
        ),
        ("bash", "echo \"$x\"\n", "echo '$x'\n"),
        ("bash", "echo \"$x\"\n", "echo $x\n"),
        // What only a kept token tells apart: slice bounds, repeat vs list, for-loop slots,
        // an expansion operator.
        ("python", "y = x[1:]\n", "y = x[:1]\n"),
        (
            "rust",
            "fn f() { let v = vec![0; n]; }",
            "fn f() { let v = vec![0, n]; }",
        ),
        (
            "rust",
            "fn f() { let a = [0; 3]; }",
            "fn f() { let a = [0, 3]; }",
        ),
        (
            "c",
            "void f() { for (;; i++) g(); }",
            "void f() { for (i++;;) g(); }",
        ),
        (
            "cpp",
            "void f() { for (;; i++) g(); }",
            "void f() { for (i++;;) g(); }",
        ),
        (
            "java",
            "class A { void f() { for (;; i++) g(); } }",
            "class A { void f() { for (i++;;) g(); } }",
        ),
        (
            "csharp",
            "class A { void F() { for (;; i++) G(); } }",
            "class A { void F() { for (i++;;) G(); } }",
        ),
        ("javascript", "for (; x;) f();", "for (x;;) f();"),
        ("javascript", "for (;; x) f();", "for (x;;) f();"),
        ("bash", "echo ${x,}\n", "echo ${x}\n"),
        // Unwrapped braces keep a dangling else where it belongs.
        (
            "c",
            "void f() { if (a) { if (b) x(); } else y(); }",
            "void f() { if (a) if (b) x(); else y(); }",
        ),
    ];
    for (lang, a, b) in differ {
        assert_ne!(
            canonical(&reg, lang, a),
            canonical(&reg, lang, b),
            "{lang}: {a:?} vs {b:?}"
        );
    }
}

#[test]
fn rules_name_nodes_not_keyword_tokens() {
    // `class`, `module`, `string`, … are both node kinds and keyword tokens in several
    // grammars; a rule is about the node. An anonymous token carries no flag but DROP.
    let reg = registry();
    for lang in reg.languages() {
        for id in 0..lang.ts.node_kind_count() as u16 {
            if lang.ts.node_kind_is_named(id) {
                continue;
            }
            assert_eq!(
                lang.flags(id) & !flag::DROP,
                0,
                "{}: token {:?} carries a rule",
                lang.name(),
                lang.ts.node_kind_for_id(id)
            );
            assert!(lang.entity(id).is_none());
        }
    }
    // The keyword in `class Circle` is not a second, nameless entity.
    let ruby = reg.by_name("ruby").unwrap();
    let src = "class Circle
end
";
    let tree = parse(ruby, src);
    let entities: Vec<&str> = nodes(&tree)
        .into_iter()
        .filter(|n| ruby.entity(n.kind_id()).is_some())
        .map(|n| n.kind())
        .collect();
    assert_eq!(entities, ["class"]);
}

fn load_err(text: &str) -> String {
    match Registry::from_toml(text) {
        Ok(_) => panic!("this registry must be refused:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const MINIMAL: &str = "[[language]]\nname = \"mini\"\ngrammar = \"tree_sitter_rust::LANGUAGE\"\n";

#[test]
fn a_minimal_registry_loads() {
    let reg = Registry::from_toml(MINIMAL).unwrap();
    assert_eq!(reg.languages().len(), 1);
    // No extensions: nothing resolves to it.
    assert!(reg.for_path(Path::new("a.rs")).is_none());
}

#[test]
fn unknown_kinds_and_grammars_are_refused_by_name() {
    // A typo in the shipped registry is caught, naming the kind, the field and the language.
    let typo = EMBEDDED_REGISTRY.replacen("\"html_comment\"", "\"htm_comment\"", 1);
    assert_ne!(typo, EMBEDDED_REGISTRY);
    let err = load_err(&typo);
    assert!(
        err.contains("`htm_comment`")
            && err.contains("comment_kinds")
            && err.contains("`javascript`"),
        "{err}"
    );

    let err =
        load_err("[[language]]\nname = \"cobol\"\ngrammar = \"tree_sitter_cobol::LANGUAGE\"\n");
    assert!(
        err.contains("`tree_sitter_cobol::LANGUAGE`") && err.contains("`cobol`"),
        "{err}"
    );

    for (extra, kind, field) in [
        ("string_kinds = [\"strng\"]", "strng", "string_kinds"),
        (
            "case_insensitive_kinds = [\"integr\"]",
            "integr",
            "case_insensitive_kinds",
        ),
        ("leaf_kinds = [\"nope\"]", "nope", "leaf_kinds"),
        ("ignore_kinds = [\"nope\"]", "nope", "ignore_kinds"),
        ("sorted_kinds = [\"imprt\"]", "imprt", "sorted_kinds"),
        (
            "sorted_children = [\"uselist\"]",
            "uselist",
            "sorted_children",
        ),
        ("unwrap = [{ kind = \"paren\" }]", "paren", "unwrap.kind"),
        (
            "unwrap = [{ kind = \"block\", parent = \"match_arn\" }]",
            "match_arn",
            "unwrap.parent",
        ),
        (
            "entities = [{ kind = \"fn_item\", label = \"fn\" }]",
            "fn_item",
            "entities.kind",
        ),
        (
            "entities = [{ kind = \"function_item\", label = \"fn\", name_field = \"title\" }]",
            "title",
            "entities.name_field",
        ),
    ] {
        let err = load_err(&format!("{MINIMAL}{extra}\n"));
        assert!(
            err.contains(&format!("`{kind}`")) && err.contains(field) && err.contains("`mini`"),
            "{extra}: {err}"
        );
    }
}

#[test]
fn malformed_registries_are_refused() {
    // Unknown fields are refused, not ignored (a misspelt rule would be silently off).
    let err = load_err(&format!("{MINIMAL}comments = [\"line_comment\"]\n"));
    assert!(err.contains("comments"), "{err}");
    let err = load_err(&format!("{MINIMAL}{MINIMAL}"));
    assert!(err.contains("`mini`") && err.contains("twice"), "{err}");
    let err = load_err("[[language]]\nname = \"x\"\n");
    assert!(err.contains("grammar"), "{err}");
}

/// tree-sitter-ruby 0.23.1 wrote a heredoc word's length in one byte and aborted the process on
/// reading the state back (`assert(size == length)` in its scanner's deserialize): two Ruby
/// files with a 300-character heredoc identifier took `patchgate diff` down with SIGABRT. The
/// vendored, patched grammar (grammars/vendor/tree-sitter-ruby/PATCHGATE.md) keeps no scanner
/// state it cannot write whole. Parsed fresh and incrementally, as the diff does, and diffed.
#[test]
fn a_ruby_heredoc_identifier_over_255_bytes_does_not_abort() {
    let reg = registry();
    let ruby = reg.by_name("ruby").expect("ruby is registered");
    let limits = crate::astdiff::tree::Limits::default();
    for len in [255, 256, 300, 1000, 1100] {
        let word = "E".repeat(len);
        let a = format!("x = <<~{word}\n  hi\n{word}\ny = 1\n");
        let b = format!("x = <<~{word}\n  hi\n{word}\ny = 2\n");
        let ta = crate::astdiff::tree::parse_ts(ruby, &a, None, &limits).expect("parses");
        let tb =
            crate::astdiff::tree::parse_ts(ruby, &b, Some((&ta, &a)), &limits).expect("reparses");
        assert_eq!(tb.root_node().end_byte(), b.len(), "{len}");
        let fresh = parse(ruby, &b);
        assert_eq!(
            fresh.root_node().to_sexp(),
            tb.root_node().to_sexp(),
            "{len}"
        );
    }
}
