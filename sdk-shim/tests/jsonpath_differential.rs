//! Differential test: sdk-shim's JSONPath engine against `jsonpath-rust` (a dev-dependency only).
//!
//! A seeded generator writes many paths of the subset of RFC 9535 the shim accepts (names, quoted
//! names with every escape, wildcards, indexes, slices with every sign of start, end and step,
//! descendant segments, blank space wherever the RFC allows it) and many nested documents; both
//! engines must accept every path and select the same nodes, compared as sorted lists of
//! Normalized Paths (RFC 9535, section 2.7) so duplicates count.
//!
//! Where jsonpath-rust departs from RFC 9535 itself the construct is left out of the generator
//! rather than followed. Its departures found so far (jsonpath-rust 1.0.12):
//!
//! - It trims Unicode white space (`str::trim`) off a dot-notation name, so `$.a\u{a0}` selects
//!   member `a`; RFC 9535 section 2.5.1.1 makes U+00A0 and every other non-ASCII character part
//!   of the name. The generator's dot-notation names never start or end with such a character.
//! - It accepts blank space inside a dot-notation name (`$.a b` selects member `a b`) and after
//!   the last segment (`$.a `); RFC 9535 sections 2.1.1 and 2.5.1.1 allow neither. The
//!   generator writes blank space only where the RFC allows it.
//! - It orders a segment's results selector by selector over all input nodes, where RFC 9535
//!   sections 2.5.1.2 and 2.5.2.2 order them node by node (`$..['a','d']`). The comparison
//!   sorts both nodelists, so it checks which nodes are selected and how often, not their order;
//!   the shim's unit tests check the order.

use jsonpath_rust::JsonPath;
use sdk_shim::extract::select_pointers;
use serde_json::{Map, Value};

const DOCUMENTS: usize = 400;
const PATHS_PER_DOCUMENT: usize = 60;

/// What a generated path uses, to check that the generator keeps covering every construct.
#[derive(Debug, Clone, Copy)]
enum Feature {
    Descendant,
    Wildcard,
    Shorthand,
    Quoted,
    Escape,
    UnicodeEscape,
    Index,
    NegativeIndex,
    Slice,
    PositiveStep,
    NegativeStep,
    ZeroStep,
    DefaultStep,
    NegativeStart,
    NegativeEnd,
    HugeInteger,
    Blank,
}

const FEATURES: [Feature; 17] = [
    Feature::Descendant,
    Feature::Wildcard,
    Feature::Shorthand,
    Feature::Quoted,
    Feature::Escape,
    Feature::UnicodeEscape,
    Feature::Index,
    Feature::NegativeIndex,
    Feature::Slice,
    Feature::PositiveStep,
    Feature::NegativeStep,
    Feature::ZeroStep,
    Feature::DefaultStep,
    Feature::NegativeStart,
    Feature::NegativeEnd,
    Feature::HugeInteger,
    Feature::Blank,
];

/// xorshift64*: small, deterministic, good enough to spread the cases.
/// It also notes the features of the path being generated.
struct Rng(u64, u32);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn note(&mut self, feature: Feature) {
        self.1 |= 1 << feature as u32;
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Member names of the documents. The first ones are also valid dot-notation names
/// (`member-name-shorthand`, RFC 9535 section 2.5.1.1), non-ASCII ones included.
const SHORTHAND_KEYS: &[&str] = &[
    "a", "b", "image", "x_1", "_", "é", "名前", "😀", "Z9", "a\u{a0}b",
];
const OTHER_KEYS: &[&str] = &[
    "",
    "0",
    "a b",
    "it's",
    "say \"hi\"",
    "back\\slash",
    "sl/ash",
    "ti~lde",
    "tab\there",
    "line\nbreak",
    "\u{8}\u{c}\r",
    "\u{1}\u{1f}",
    "del\u{7f}",
    "a-b",
    "\u{ffff}\u{e000}",
];

fn key(rng: &mut Rng) -> &'static str {
    if rng.chance(60) {
        rng.pick(SHORTHAND_KEYS)
    } else {
        rng.pick(OTHER_KEYS)
    }
}

fn document(rng: &mut Rng, depth: usize) -> Value {
    let container = depth < 4 && (depth == 0 || rng.chance(75));
    if !container {
        return match rng.below(5) {
            0 => Value::from(rng.below(100)),
            1 => Value::from(*rng.pick(&["nginx:1", "", "x"])),
            2 => Value::Bool(rng.chance(50)),
            3 => Value::Null,
            _ => Value::from(-1.5),
        };
    }
    // The root is an object, as a Kubernetes resource is; arrays are rarely empty.
    if depth > 0 && rng.chance(50) {
        let len = if rng.chance(10) { 0 } else { 1 + rng.below(6) };
        Value::Array((0..len).map(|_| document(rng, depth + 1)).collect())
    } else {
        let mut map = Map::new();
        for _ in 0..1 + rng.below(6) {
            map.insert(key(rng).to_string(), document(rng, depth + 1));
        }
        Value::Object(map)
    }
}

/// Optional blank space (`S`, RFC 9535 section 2.1.1): space, tab, line feed, carriage return.
fn blank(rng: &mut Rng) -> &'static str {
    if rng.chance(75) {
        ""
    } else {
        rng.note(Feature::Blank);
        rng.pick(&[" ", "  ", "\t", "\n", "\r", " \r\n\t"])
    }
}

/// An integer for an index or a slice bound: mostly around the length of the array the path is
/// looking at (`len`), sometimes at the ends of the I-JSON range RFC 9535 section 2.1 allows.
fn int(rng: &mut Rng, len: usize) -> i64 {
    const MAX: i64 = (1 << 53) - 1;
    if rng.chance(10) {
        rng.note(Feature::HugeInteger);
        *rng.pick(&[MAX, -MAX, MAX - 1, -MAX + 1, 1 << 32, -(1 << 32)])
    } else {
        let reach = len + 2;
        rng.below(2 * reach + 1) as i64 - reach as i64
    }
}

/// A string literal for `name`, quoted with `'` or `"`, each character written plainly or escaped
/// in one of the ways RFC 9535 section 2.3.1.1 allows.
fn quoted(rng: &mut Rng, name: &str) -> String {
    rng.note(Feature::Quoted);
    let quote = *rng.pick(&['\'', '"']);
    let mut out = String::from(quote);
    for c in name.chars() {
        let short = match c {
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '/' => Some("\\/"),
            '\\' => Some("\\\\"),
            _ => None,
        };
        let must_escape = c < ' ' || c == '\\' || c == quote;
        match rng.below(4) {
            // \uXXXX, either case, a surrogate pair beyond the BMP
            0 => {
                rng.note(Feature::UnicodeEscape);
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let hex = format!("{unit:04x}");
                    let hex = if rng.chance(50) {
                        hex.to_uppercase()
                    } else {
                        hex
                    };
                    out.push_str(&format!("\\u{hex}"));
                }
            }
            1 if short.is_some() => {
                rng.note(Feature::Escape);
                out.push_str(short.unwrap_or_default());
            }
            _ if c == quote => {
                rng.note(Feature::Escape);
                out.push('\\');
                out.push(c);
            }
            _ if must_escape => {
                rng.note(Feature::UnicodeEscape);
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            _ => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// The length of `value` if it is an array, else a small default.
fn array_len(value: Option<&Value>) -> usize {
    value.and_then(Value::as_array).map_or(3, Vec::len)
}

/// A random child of `value`, where the path goes on looking: mostly an array or object.
fn some_child<'d>(rng: &mut Rng, value: Option<&'d Value>) -> Option<&'d Value> {
    let children: Vec<&Value> = match value? {
        Value::Array(list) => list.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => return None,
    };
    let containers: Vec<&Value> = children
        .iter()
        .copied()
        .filter(|child| child.is_array() || child.is_object())
        .collect();
    match (containers.is_empty(), children.is_empty()) {
        (false, _) if rng.chance(80) => Some(*rng.pick(&containers)),
        (_, false) => Some(*rng.pick(&children)),
        _ => None,
    }
}

/// One selector, mostly one that selects something from `at` (the node the path is looking at,
/// when known), and where the path looks next.
fn selector<'d>(rng: &mut Rng, at: Option<&'d Value>) -> (String, Option<&'d Value>) {
    match rng.below(10) {
        0..=2 => {
            let existing = at.and_then(Value::as_object).filter(|map| !map.is_empty());
            let name = match existing {
                Some(map) if rng.chance(75) => {
                    map.keys().nth(rng.below(map.len())).unwrap().clone()
                }
                _ => key(rng).to_string(),
            };
            let next = existing.and_then(|map| map.get(&name));
            (quoted(rng, &name), next)
        }
        3 => {
            rng.note(Feature::Wildcard);
            ("*".to_string(), some_child(rng, at))
        }
        4 | 5 => {
            let index = int(rng, array_len(at));
            rng.note(Feature::Index);
            if index < 0 {
                rng.note(Feature::NegativeIndex);
            }
            (index.to_string(), some_child(rng, at))
        }
        _ => {
            // [start S] ":" S [end S] [":" [S step]], each part present or not, any sign
            rng.note(Feature::Slice);
            let len = array_len(at);
            let mut slice = String::new();
            if rng.chance(60) {
                let start = int(rng, len);
                if start < 0 {
                    rng.note(Feature::NegativeStart);
                }
                slice += &format!("{start}{}", blank(rng));
            }
            slice += ":";
            slice += blank(rng);
            if rng.chance(60) {
                let end = int(rng, len);
                if end < 0 {
                    rng.note(Feature::NegativeEnd);
                }
                slice += &format!("{end}{}", blank(rng));
            }
            let mut step = None;
            if rng.chance(70) {
                slice += ":";
                if rng.chance(80) {
                    let value = match rng.below(6) {
                        0 => 0,
                        1 => int(rng, len),
                        n => [1, 2, -1, -2][n - 2],
                    };
                    slice += &format!("{}{value}", blank(rng));
                    step = Some(value);
                }
            }
            rng.note(match step {
                None => Feature::DefaultStep,
                Some(0) => Feature::ZeroStep,
                Some(step) if step > 0 => Feature::PositiveStep,
                Some(_) => Feature::NegativeStep,
            });
            (slice, some_child(rng, at))
        }
    }
}

fn bracket<'d>(rng: &mut Rng, at: Option<&'d Value>) -> (String, Option<&'d Value>) {
    let mut next = None;
    let mut selectors = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let (selector, found) = selector(rng, at);
        next = next.or(found);
        selectors.push(format!("{}{selector}{}", blank(rng), blank(rng)));
    }
    (format!("[{}]", selectors.join(",")), next)
}

/// A path of up to four segments, walking down `document` so that most select something.
fn path(rng: &mut Rng, document: &Value) -> String {
    let mut path = String::from("$");
    let mut at = Some(document);
    let mut descendants = 0;
    let segments = if rng.chance(5) { 0 } else { 1 + rng.below(4) };
    for _ in 0..segments {
        path += blank(rng);
        // At most two descendant segments keep the nodelists small.
        let descendant = descendants < 2 && rng.chance(25);
        if descendant {
            rng.note(Feature::Descendant);
            descendants += 1;
            path += "..";
            // it selects from the node and all below it: look somewhere below
            for _ in 0..rng.below(3) {
                at = some_child(rng, at)
                    .filter(|v| v.is_object() || v.is_array())
                    .or(at);
            }
        }
        at = match rng.below(4) {
            0 => {
                let (bracket, next) = bracket(rng, at);
                path += &bracket;
                next
            }
            1 => {
                rng.note(Feature::Wildcard);
                path += if descendant { "*" } else { ".*" };
                some_child(rng, at)
            }
            _ => {
                rng.note(Feature::Shorthand);
                if !descendant {
                    path += ".";
                }
                let map = at.and_then(Value::as_object);
                let existing: Vec<&str> = SHORTHAND_KEYS
                    .iter()
                    .copied()
                    .filter(|k| map.is_some_and(|map| map.contains_key(*k)))
                    .collect();
                let name = if !existing.is_empty() && rng.chance(75) {
                    *rng.pick(&existing)
                } else {
                    rng.pick(SHORTHAND_KEYS)
                };
                path += name;
                map.and_then(|map| map.get(name))
            }
        };
    }
    path
}

/// A member name as a `normal-name-selector` (RFC 9535, section 2.7).
fn normal_name(name: &str) -> String {
    let mut out = String::from("['");
    for c in name.chars() {
        match c {
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push_str("']");
    out
}

/// The Normalized Path of the node a JSON pointer (RFC 6901) names in `document`.
fn normalized_path(document: &Value, pointer: &str) -> String {
    let mut path = String::from("$");
    let mut node = document;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        node = match node {
            Value::Array(list) => {
                let index: usize = token.parse().expect("an array index");
                path += &format!("[{index}]");
                &list[index]
            }
            Value::Object(map) => {
                path += &normal_name(&token);
                &map[&token]
            }
            _ => panic!("pointer {pointer} goes through a scalar"),
        };
    }
    path
}

#[test]
fn both_engines_select_the_same_nodes() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15, 0);
    let mut cases = 0;
    let mut selected = 0;
    // per feature: paths using it, and those of them that selected something
    let mut coverage = [(0, 0); FEATURES.len()];
    for _ in 0..DOCUMENTS {
        let document = document(&mut rng, 0);
        for _ in 0..PATHS_PER_DOCUMENT {
            rng.1 = 0;
            let path = path(&mut rng, &document);
            let ours = select_pointers(&path, &document)
                .unwrap_or_else(|e| panic!("sdk-shim refused {path:?}: {e}"));
            let mut ours: Vec<String> = ours
                .iter()
                .map(|pointer| normalized_path(&document, pointer))
                .collect();
            let theirs = document
                .query_with_path(&path)
                .unwrap_or_else(|e| panic!("jsonpath-rust refused {path:?}: {e}"));
            let mut theirs: Vec<String> = theirs.into_iter().map(|r| r.path).collect();
            ours.sort();
            theirs.sort();
            assert_eq!(ours, theirs, "path {path:?} in {document}");
            cases += 1;
            selected += ours.len();
            for (feature, (used, hit)) in FEATURES.iter().zip(&mut coverage) {
                if rng.1 & (1 << *feature as u32) != 0 {
                    *used += 1;
                    *hit += usize::from(!ours.is_empty());
                }
            }
        }
    }
    println!("{cases} paths compared, {selected} nodes selected");
    // Guard the generator: every construct must be tried often, and select something often
    // (a step of 0 never does).
    for (feature, &(used, hit)) in FEATURES.iter().zip(&coverage) {
        println!("{feature:?}: in {used} paths, {hit} of them selected nodes");
        let zero_step = matches!(feature, Feature::ZeroStep);
        assert!(
            used >= 500 && (zero_step || hit >= 100),
            "{feature:?}: in {used} paths, {hit} selecting"
        );
    }
}
