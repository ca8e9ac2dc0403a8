//! JSONPath image extractors for custom resources (the shared `customResources` setting).
//!
//! ```yaml
//! customResources:
//!   - apiVersion: argoproj.io/v1alpha1
//!     kind: Rollout
//!     paths: ["$.spec.template.spec.containers[*]", "$.spec.template.spec.initContainers[*]"]
//!   - apiVersion: example.com/v1
//!     kind: Scanner
//!     paths: ["$.spec.scannerImage"]
//! ```
//!
//! A path may select container objects (then `image`, `name` and `imagePullPolicy` are read from
//! them, and a container that sits in a `containers`/`initContainers`/`ephemeralContainers` list
//! belongs to the pod spec holding that list) or image strings. Every match carries its JSON
//! pointer, so rejections name it and mutations patch it.
//!
//! Paths use the JSONPath syntax of RFC 9535, without filters:
//!
//! ```text
//! path     := "$" ( S segment )*
//! segment  := ".." ( name | "*" | bracket ) | "." ( name | "*" ) | bracket
//! name     := ( ALPHA | "_" | non-ASCII ) ( ALPHA | "_" | non-ASCII | DIGIT )*
//! bracket  := "[" S selector ( S "," S selector )* S "]"
//! selector := 'quoted' | "quoted" | "*" | int | [ int S ] ":" S [ int S ] [ ":" [ S int ] ]
//! int      := "0" | [ "-" ] DIGIT1 DIGIT*      (from -(2^53)+1 to (2^53)-1)
//! S        := ( " " | "\t" | "\n" | "\r" )*
//! ```
//!
//! Quoted names escape `\b \f \n \r \t \/ \\`, their own quote and `\uXXXX`. Slices and
//! negative indexes select as RFC 9535 section 2.3 says (`[::-1]` walks an array backwards).
//!
//! Filter expressions (`[?…]`) are refused when the settings are validated. The grammar is parsed
//! here rather than with `jsonpath-rust`, whose parser alone added 167 KB to every `.wasm`.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawExtractor")]
pub struct ImageExtractor {
    pub api_version: String,
    pub kind: String,
    paths: Vec<(String, Vec<Segment>)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawExtractor {
    api_version: String,
    kind: String,
    paths: Vec<String>,
}

impl TryFrom<RawExtractor> for ImageExtractor {
    type Error = String;

    fn try_from(raw: RawExtractor) -> Result<Self, String> {
        if raw.api_version.is_empty() || raw.kind.is_empty() {
            return Err("apiVersion and kind must not be empty".to_string());
        }
        if raw.paths.is_empty() {
            return Err(format!(
                "paths for {}/{} must list at least one JSONPath",
                raw.api_version, raw.kind
            ));
        }
        let mut paths = Vec::with_capacity(raw.paths.len());
        for path in raw.paths {
            let segments = parse_path(&path)
                .map_err(|e| format!("path '{path}' is not valid JSONPath: {e}"))?;
            paths.push((path, segments));
        }
        Ok(ImageExtractor {
            api_version: raw.api_version,
            kind: raw.kind,
            paths,
        })
    }
}

impl ImageExtractor {
    pub fn applies_to(&self, api_version: &str, kind: &str) -> bool {
        self.api_version == api_version && self.kind == kind
    }

    /// Every image string and container object the paths select in `object`, in order, with
    /// its JSON pointer (a node two paths select is listed twice). Anything else is an error.
    pub fn select<'a>(&self, object: &'a Value) -> Result<Vec<Selected<'a>>, String> {
        let mut selected = Vec::new();
        for (path, segments) in &self.paths {
            let mut found = Vec::new();
            select(segments, object, String::new(), &mut found);
            for (pointer, value) in found {
                selected.push(match value {
                    Value::String(image) => Selected::Image(pointer, image),
                    Value::Object(_) => Selected::Container(pointer, value),
                    other => {
                        return Err(format!(
                            "JSONPath '{path}' selected {} at {pointer}; expected an image string or a container object",
                            type_name(other)
                        ))
                    }
                });
            }
        }
        Ok(selected)
    }
}

/// A node an extractor's path selected, with its JSON pointer.
#[derive(Debug, PartialEq)]
pub enum Selected<'a> {
    Image(String, &'a str),
    Container(String, &'a Value),
}

/// The name of a JSON value's type, for messages (`a list`, `an object`).
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// One step of a path: its selectors, applied to the node or (descendant) to every node below it.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    descendant: bool,
    selectors: Vec<Selector>,
}

#[derive(Debug, Clone, PartialEq)]
enum Selector {
    Name(String),
    Wildcard,
    Index(i64),
    Slice(Option<i64>, Option<i64>, Option<i64>),
}

/// The largest magnitude an integer in a path may have: RFC 9535 (section 2.1) keeps indexes and
/// slice bounds within the exact integers of I-JSON, [-(2^53)+1, (2^53)-1].
const MAX_INTEGER: u64 = (1 << 53) - 1;

/// Skips blank space (`S`: space, tab, line feed, carriage return; RFC 9535, section 2.1.1).
fn skip_blank(text: &str) -> &str {
    text.trim_start_matches([' ', '\t', '\n', '\r'])
}

/// Parses a path of the grammar above.
fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let mut rest = path.strip_prefix('$').ok_or("it must start with '$'")?;
    let mut segments = Vec::new();
    loop {
        let text = skip_blank(rest);
        if text.is_empty() {
            if text.len() != rest.len() {
                return Err("blank space may not end a path".to_string());
            }
            return Ok(segments);
        }
        let (descendant, selectors, after) = if let Some(after) = text.strip_prefix("..") {
            let (selectors, after) = match after.strip_prefix('[') {
                Some(inner) => parse_bracket(inner)?,
                None => parse_dotted(after)?,
            };
            (true, selectors, after)
        } else if let Some(after) = text.strip_prefix('.') {
            let (selectors, after) = parse_dotted(after)?;
            (false, selectors, after)
        } else if let Some(inner) = text.strip_prefix('[') {
            let (selectors, after) = parse_bracket(inner)?;
            (false, selectors, after)
        } else {
            return Err(format!("unexpected '{text}'"));
        };
        segments.push(Segment {
            descendant,
            selectors,
        });
        rest = after;
    }
}

/// What follows `.` or `..` without brackets: `*` or a member name.
fn parse_dotted(text: &str) -> Result<(Vec<Selector>, &str), String> {
    if let Some(after) = text.strip_prefix('*') {
        return Ok((vec![Selector::Wildcard], after));
    }
    let (name, after) = parse_name(text)?;
    Ok((vec![Selector::Name(name.to_string())], after))
}

/// A `member-name-shorthand` (RFC 9535, section 2.5.1.1): an ASCII letter, `_` or any non-ASCII
/// character, then also ASCII digits.
fn parse_name(text: &str) -> Result<(&str, &str), String> {
    let end = text
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphabetic() || c == '_' || !c.is_ascii() || (i > 0 && c.is_ascii_digit()))
        })
        .map_or(text.len(), |(i, _)| i);
    if end == 0 {
        return Err(format!("expected a member name or '*' at '{text}'"));
    }
    let (name, after) = text.split_at(end);
    if after.starts_with('-') {
        return Err(format!(
            "a member name after '.' may hold only letters, digits and '_' (at '{text}'); quote other names, as in ['{name}-…']"
        ));
    }
    Ok((name, after))
}

/// Parses the inside of `[...]`, returning the selectors and what follows `]`.
fn parse_bracket(mut text: &str) -> Result<(Vec<Selector>, &str), String> {
    let mut selectors = Vec::new();
    loop {
        let (selector, after) = parse_selector(skip_blank(text))?;
        selectors.push(selector);
        let after = skip_blank(after);
        if let Some(after) = after.strip_prefix(',') {
            text = after;
        } else if let Some(after) = after.strip_prefix(']') {
            return Ok((selectors, after));
        } else {
            return Err(format!("expected ',' or ']' at '{after}'"));
        }
    }
}

/// One selector inside brackets: a quoted name, `*`, an index or a slice `[start S] ":" S [end S]
/// [":" [S step]]` (RFC 9535, sections 2.3.1 to 2.3.4).
fn parse_selector(text: &str) -> Result<(Selector, &str), String> {
    if text.starts_with('?') {
        return Err("filter expressions ([?...]) are not supported".to_string());
    }
    if let Some(after) = text.strip_prefix('*') {
        return Ok((Selector::Wildcard, after));
    }
    if text.starts_with(['\'', '"']) {
        let (name, after) = parse_string(text)?;
        return Ok((Selector::Name(name), after));
    }
    let (start, after) = parse_int(text)?;
    let Some(after_colon) = skip_blank(after).strip_prefix(':') else {
        return match start {
            Some(index) => Ok((Selector::Index(index), after)),
            None => Err(format!(
                "expected a quoted name, '*', an index or a slice at '{text}'"
            )),
        };
    };
    let (end, after) = parse_int(skip_blank(after_colon))?;
    let Some(after_colon) = skip_blank(after).strip_prefix(':') else {
        return Ok((Selector::Slice(start, end, None), after));
    };
    let (step, after) = parse_int(skip_blank(after_colon))?;
    Ok((Selector::Slice(start, end, step), after))
}

/// An optional `int` (RFC 9535, section 2.3.3.1: `"0" / ["-"] DIGIT1 *DIGIT`, so neither `-0`
/// nor leading zeros) within the I-JSON range of section 2.1.
fn parse_int(text: &str) -> Result<(Option<i64>, &str), String> {
    let negative = text.starts_with('-');
    let digits_start = usize::from(negative);
    let digits_end = text[digits_start..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(text.len(), |i| digits_start + i);
    let (number, after) = text.split_at(digits_end);
    let digits = &number[digits_start..];
    if digits.is_empty() {
        if negative {
            return Err(format!("expected digits after '-' at '{text}'"));
        }
        return Ok((None, text));
    }
    if digits.starts_with('0') && number != "0" {
        return Err(format!(
            "'{number}' is not a valid integer (no leading zeros, no -0)"
        ));
    }
    let magnitude = digits
        .parse::<u64>()
        .ok()
        .filter(|m| *m <= MAX_INTEGER)
        .ok_or_else(|| {
            format!("{number} is outside the integer range of JSONPath, -{MAX_INTEGER} to {MAX_INTEGER}")
        })?;
    let value = magnitude as i64; // at most 2^53 - 1
    Ok((Some(if negative { -value } else { value }), after))
}

/// A `string-literal` (RFC 9535, section 2.3.1.1) starting at `text`: the name it spells and what
/// follows the closing quote. Escapes are `\b \f \n \r \t \/ \\`, the enclosing quote and `\uXXXX`
/// (a surrogate pair as two); control characters must be escaped.
fn parse_string(text: &str) -> Result<(String, &str), String> {
    let quote = if text.starts_with('"') { '"' } else { '\'' };
    let mut name = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        let unescaped = match c {
            c if c == quote => return Ok((name, &text[i + 1..])),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('b') => '\u{8}',
                Some('f') => '\u{c}',
                Some('n') => '\n',
                Some('r') => '\r',
                Some('t') => '\t',
                Some(c @ ('/' | '\\')) => c,
                Some(c) if c == quote => c,
                Some('u') => parse_unicode_escape(&mut chars)
                    .ok_or_else(|| format!("invalid \\u escape in the string at '{text}'"))?,
                Some(c) => {
                    return Err(format!(
                        "'\\{c}' is not a valid escape in {quote}{}",
                        &text[1..i]
                    ))
                }
                None => break,
            },
            c if c < ' ' => {
                return Err(format!(
                    "control character U+{:04X} must be escaped in {quote}{}",
                    u32::from(c),
                    &text[1..i]
                ))
            }
            c => c,
        };
        name.push(unescaped);
    }
    Err(format!("unterminated string at '{text}'"))
}

/// The `XXXX` of `\uXXXX` (either case), joined with a following `\uXXXX` when it is a high
/// surrogate; `None` for anything else, a lone surrogate included.
fn parse_unicode_escape(chars: &mut impl Iterator<Item = (usize, char)>) -> Option<char> {
    fn hex4(chars: &mut impl Iterator<Item = (usize, char)>) -> Option<u32> {
        (0..4).try_fold(0u32, |code, _| {
            Some(code * 16 + chars.next()?.1.to_digit(16)?)
        })
    }
    match hex4(chars)? {
        high @ 0xD800..=0xDBFF => {
            if chars.next()?.1 != '\\' || chars.next()?.1 != 'u' {
                return None;
            }
            let low = hex4(chars).filter(|low| (0xDC00..=0xDFFF).contains(low))?;
            char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        }
        code => char::from_u32(code), // None for a lone low surrogate
    }
}

/// A node reached while evaluating a path: its entry in the trail, and its value.
type Node<'a> = (usize, &'a Value);

/// How the path reached a node: the trail entry of its parent, and the member name or array
/// index that leads from there. Entry 0 is the root. JSON pointers are spelled out from the trail
/// only for the nodes finally selected, so evaluation stays linear in the document size however
/// deep or wide it is.
type Step<'a> = (usize, Token<'a>);

#[derive(Debug, Clone, Copy)]
enum Token<'a> {
    Key(&'a str),
    Index(usize),
}

/// Collects `(JSON pointer, value)` for every node the segments select (RFC 9535, section 2.5:
/// each segment applies its selectors to each node the previous one selected, in order), in
/// document order. `pointer` is the pointer of `value` itself.
fn select<'a>(
    segments: &[Segment],
    value: &'a Value,
    pointer: String,
    out: &mut Vec<(String, &'a Value)>,
) {
    use std::fmt::Write as _;
    let mut trail: Vec<Step<'a>> = vec![(0, Token::Index(0))]; // the root's token is never read
    let mut nodes: Vec<Node<'a>> = vec![(0, value)];
    for segment in segments {
        let mut next = Vec::new();
        // Several input nodes may nest (`$..*..image`): each subtree is then walked once.
        let mut walked = (segment.descendant && nodes.len() > 1).then(Walked::new);
        for &node in &nodes {
            if segment.descendant {
                descendants(
                    &segment.selectors,
                    node,
                    &mut trail,
                    &mut next,
                    walked.as_mut(),
                );
            } else {
                for selector in &segment.selectors {
                    apply(selector, node, &mut trail, &mut next);
                }
            }
        }
        nodes = next;
    }
    out.reserve(nodes.len());
    let mut tokens = Vec::new();
    for (mut at, value) in nodes {
        tokens.clear();
        while at != 0 {
            let (parent, token) = trail[at];
            tokens.push(token);
            at = parent;
        }
        let mut node_pointer = pointer.clone();
        for token in tokens.iter().rev() {
            match token {
                Token::Key(key) => child_pointer(&mut node_pointer, key),
                Token::Index(i) => {
                    let _ = write!(node_pointer, "/{i}");
                }
            }
        }
        out.push((node_pointer, value));
    }
}

/// For a descendant segment with several input nodes: what the segment selected below each node
/// walked so far (a range of its output, as a walk selects in preorder), by node address.
type Walked = std::collections::HashMap<*const Value, std::ops::Range<usize>>;

/// A descendant segment (RFC 9535, section 2.5.2): the selectors applied to `node` and then to
/// each of its descendants, parents before children and arrays in order. Iterative, so a deep
/// document cannot exhaust the stack. With `walked`, a subtree walked before (for an earlier
/// input node) is not walked again: what it selected then is copied.
fn descendants<'a>(
    selectors: &[Selector],
    node: Node<'a>,
    trail: &mut Vec<Step<'a>>,
    out: &mut Vec<Node<'a>>,
    mut walked: Option<&mut Walked>,
) {
    // A node with `Some(start)` marks the end of its subtree, whose selections began at `start`.
    let mut stack: Vec<(Node<'a>, Option<usize>)> = vec![(node, None)];
    let mut containers = Vec::new();
    while let Some((node, started)) = stack.pop() {
        let address: *const Value = node.1;
        if let Some(start) = started {
            if let Some(walked) = walked.as_deref_mut() {
                walked.insert(address, start..out.len());
            }
            continue;
        }
        if let Some(range) = walked.as_deref().and_then(|w| w.get(&address)).cloned() {
            out.extend_from_within(range);
            continue;
        }
        if walked.is_some() {
            stack.push((node, Some(out.len())));
        }
        for selector in selectors {
            apply(selector, node, trail, out);
        }
        // Selectors select nothing from a string, number, boolean or null: visit only containers.
        children(
            node,
            |child| child.is_object() || child.is_array(),
            trail,
            &mut containers,
        );
        stack.extend(containers.drain(..).rev().map(|child| (child, None)));
    }
}

/// Appends the children of `node` that `keep` accepts (members, or array elements in order).
fn children<'a>(
    (at, value): Node<'a>,
    keep: impl Fn(&Value) -> bool,
    trail: &mut Vec<Step<'a>>,
    out: &mut Vec<Node<'a>>,
) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter().filter(|(_, child)| keep(child)) {
                reach(trail, out, at, Token::Key(key), child);
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate().filter(|(_, child)| keep(child)) {
                reach(trail, out, at, Token::Index(i), child);
            }
        }
        _ => {}
    }
}

/// Appends `child`, reached from the node at trail entry `parent` through `token`.
fn reach<'a>(
    trail: &mut Vec<Step<'a>>,
    out: &mut Vec<Node<'a>>,
    parent: usize,
    token: Token<'a>,
    child: &'a Value,
) {
    trail.push((parent, token));
    out.push((trail.len() - 1, child));
}

/// Appends `/key` to a JSON pointer, escaped as RFC 6901 asks.
fn child_pointer(pointer: &mut String, key: &str) {
    pointer.push('/');
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// Appends what one selector selects from `node` (RFC 9535, sections 2.3.1 to 2.3.4).
fn apply<'a>(
    selector: &Selector,
    (at, value): Node<'a>,
    trail: &mut Vec<Step<'a>>,
    out: &mut Vec<Node<'a>>,
) {
    match (selector, value) {
        (Selector::Name(name), Value::Object(map)) => {
            if let Some((key, child)) = map.get_key_value(name.as_str()) {
                reach(trail, out, at, Token::Key(key), child);
            }
        }
        (Selector::Wildcard, _) => children((at, value), |_| true, trail, out),
        (Selector::Index(index), Value::Array(list)) => {
            if let Some(i) = array_index(*index, list.len()) {
                reach(trail, out, at, Token::Index(i), &list[i]);
            }
        }
        (Selector::Slice(start, end, step), Value::Array(list)) => {
            for i in slice_indices(list.len(), *start, *end, *step) {
                reach(trail, out, at, Token::Index(i), &list[i]);
            }
        }
        _ => {}
    }
}

/// The element an index selects in an array of `len` (RFC 9535, section 2.3.3.2): a negative
/// index counts from the end; outside the array, none.
fn array_index(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let index = if index < 0 {
        len.checked_add(index)?
    } else {
        index
    };
    if (0..len).contains(&index) {
        usize::try_from(index).ok()
    } else {
        None
    }
}

/// The indexes a slice selects from an array of `len`, in selection order: RFC 9535, section
/// 2.3.4.2.2, with its defaults (start 0 and end `len` for a positive step, `len-1` and `-len-1`
/// for a negative one), `Normalize` and `Bounds`; a step of 0 selects nothing. Every bound ends up
/// in `-1..=len`, so nothing overflows whatever the integers (even `i64::MIN`/`i64::MAX`, which the
/// parser refuses anyway) and however long the array.
fn slice_indices(
    len: usize,
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
) -> impl Iterator<Item = usize> {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let normalize = |i: i64| if i >= 0 { i } else { len_i.saturating_add(i) };
    let step = step.unwrap_or(1);
    let stride = usize::try_from(step.unsigned_abs()).unwrap_or(usize::MAX);
    // As a half-open range of indexes [from, to), walked upwards or downwards.
    let (from, to) = if step > 0 {
        let lower = normalize(start.unwrap_or(0)).clamp(0, len_i);
        let upper = normalize(end.unwrap_or(len_i)).clamp(0, len_i);
        (lower, upper)
    } else if step < 0 {
        let last = len_i - 1; // -1 for an empty array
        let upper = normalize(start.unwrap_or(last)).clamp(-1, last);
        let lower =
            normalize(end.unwrap_or(len_i.saturating_neg().saturating_sub(1))).clamp(-1, last);
        // selects upper, upper + step, ... while it stays above lower
        (lower + 1, upper + 1)
    } else {
        (0, 0)
    };
    // Both are in 0..=len here, so they fit a usize.
    let range = usize::try_from(from).unwrap_or(0)..usize::try_from(to).unwrap_or(0);
    let forward = (step > 0).then(|| range.clone().step_by(stride));
    let backward = (step < 0).then(|| range.rev().step_by(stride));
    forward
        .into_iter()
        .flatten()
        .chain(backward.into_iter().flatten())
}

/// The JSON pointers of the nodes `path` selects in `document`, in order: the path engine alone,
/// for tests that compare it with other JSONPath implementations.
pub fn select_pointers(path: &str, document: &Value) -> Result<Vec<String>, String> {
    let segments = parse_path(path)?;
    let mut found = Vec::new();
    select(&segments, document, String::new(), &mut found);
    Ok(found.into_iter().map(|(pointer, _)| pointer).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extractor(json: &str) -> Result<ImageExtractor, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn bad_extractors_are_refused() {
        let cases = [
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":[]}"#,
                "at least one JSONPath",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["spec.x"]}"#,
                "must start with '$'",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$.spec["]}"#,
                "not valid JSONPath",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$.spec[1"]}"#,
                "expected ',' or ']'",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$.spec['x]"]}"#,
                "unterminated string",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$.spec[a]"]}"#,
                "expected a quoted name, '*', an index or a slice at 'a]'",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$spec"]}"#,
                "unexpected 'spec'",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$.spec.containers[?@.name=='a']"]}"#,
                "filter expressions",
            ),
            (
                r#"{"apiVersion":"","kind":"K","paths":["$.a"]}"#,
                "must not be empty",
            ),
            (
                r#"{"apiVersion":"a/v1","kind":"K","paths":["$.a"],"extra":1}"#,
                "unknown field `extra`",
            ),
        ];
        for (json, why) in cases {
            let err = extractor(json).unwrap_err();
            assert!(err.contains(why), "{json}: {err}");
        }
        // What RFC 9535 does not allow, checked on the parser alone.
        let refused: [(&str, &str); 29] = [
            ("$[9007199254740992]", "outside the integer range"),
            ("$[-9007199254740992]", "outside the integer range"),
            ("$[-9223372036854775808]", "outside the integer range"),
            ("$[99999999999999999999999]", "outside the integer range"),
            ("$[::9223372036854775807]", "outside the integer range"),
            ("$[-0]", "'-0' is not a valid integer"),
            ("$[01]", "'01' is not a valid integer"),
            ("$[-01:]", "'-01' is not a valid integer"),
            ("$[:00]", "'00' is not a valid integer"),
            ("$[- 1]", "expected digits after '-'"),
            ("$[1:2:3:4]", "expected ',' or ']' at ':4]'"),
            ("$[+1]", "expected a quoted name"),
            ("$[]", "expected a quoted name"),
            ("$.a-b", "quote other names"),
            ("$.1a", "expected a member name or '*' at '1a'"),
            ("$. a", "expected a member name"),
            ("$.. a", "expected a member name"),
            ("$..", "expected a member name"),
            ("$.[0]", "expected a member name"),
            ("$.a ", "blank space may not end a path"),
            ("$[\u{2003}0]", "expected a quoted name"),
            ("$['a\\q']", "'\\q' is not a valid escape"),
            ("$[\"a\\'\"]", "is not a valid escape"),
            ("$['\\uD800']", "invalid \\u escape"),
            ("$['\\uDC00\\uD800']", "invalid \\u escape"),
            ("$['\\u12G4']", "invalid \\u escape"),
            ("$['a\tb']", "control character U+0009 must be escaped"),
            // A high surrogate must be followed by `\u` and a low one, not by `\` alone nor `u`.
            ("$['\\uD83D\\DE00']", "invalid \\u escape"),
            ("$['\\uD83DuuDE00']", "invalid \\u escape"),
        ];
        for (path, why) in refused {
            let err = parse_path(path).expect_err(path);
            assert!(err.contains(why), "{path:?}: {err}");
        }
    }

    #[test]
    fn selectors_give_pointers() {
        let doc = serde_json::json!({"a/b": {"c~d": [10, 11, 12, 13]}, "list": [{"x": 1}, {"x": 2}], "deep": {"x": 3}});
        let cases: [(&str, &[&str]); 10] = [
            (
                "$[\"a/b\"]['c~d'][ 0 , 2 ]",
                &["/a~1b/c~0d/0", "/a~1b/c~0d/2"],
            ),
            ("$['a/b']['c~d'][::2]", &["/a~1b/c~0d/0", "/a~1b/c~0d/2"]),
            ("$..list[*].x", &["/list/0/x", "/list/1/x"]),
            ("$['a/b']['c~d'][3]", &["/a~1b/c~0d/3"]),
            ("$['a/b']['c~d'][-1]", &["/a~1b/c~0d/3"]),
            ("$['a/b']['c~d'][1:3]", &["/a~1b/c~0d/1", "/a~1b/c~0d/2"]),
            ("$.list[*].x", &["/list/0/x", "/list/1/x"]),
            ("$.list[0,1].x", &["/list/0/x", "/list/1/x"]),
            ("$..x", &["/deep/x", "/list/0/x", "/list/1/x"]),
            ("$.missing[*]", &[]),
        ];
        for (path, expected) in cases {
            let segments = parse_path(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let mut found = Vec::new();
            select(&segments, &doc, String::new(), &mut found);
            let mut pointers: Vec<String> = found.into_iter().map(|(p, _)| p).collect();
            pointers.sort();
            assert_eq!(pointers, expected.to_vec(), "{path}");
        }

        // In selection order (RFC 9535, sections 2.3.4.2.2 and 2.5.2.2), not sorted.
        let doc = serde_json::json!({"l": [0, 1, 2, 3, 4], "é_1": {"a\"'\\/\u{8}\u{c}\n\r\t😀": 5}, "e": []});
        let odd_key = "/é_1/a\"'\\~1\u{8}\u{c}\n\r\t😀";
        let ordered: [(&str, &[&str]); 23] = [
            ("$.l[::-1]", &["/l/4", "/l/3", "/l/2", "/l/1", "/l/0"]),
            ("$.l[::-2]", &["/l/4", "/l/2", "/l/0"]),
            ("$.l[3:0:-1]", &["/l/3", "/l/2", "/l/1"]),
            ("$.l[-1:-3:-1]", &["/l/4", "/l/3"]),
            ("$.l[10:-10:-3]", &["/l/4", "/l/1"]),
            ("$.l[1:4:0]", &[]),
            ("$.l[::0]", &[]),
            ("$.l[-7:2]", &["/l/0", "/l/1"]),
            ("$.l[3:1]", &[]),
            ("$.l[1:3:-1]", &[]),
            ("$.l[::9007199254740991]", &["/l/0"]),
            ("$.l[-9007199254740991::-9007199254740991]", &[]),
            ("$.l[9007199254740991::-9007199254740991]", &["/l/4"]),
            ("$.l[:-9007199254740991:-2]", &["/l/4", "/l/2", "/l/0"]),
            ("$.l[-5, -6, 4, 5, 0, 0]", &["/l/0", "/l/4", "/l/0", "/l/0"]),
            (
                "$.l[0:2, 3, ::-4]",
                &["/l/0", "/l/1", "/l/3", "/l/4", "/l/0"],
            ),
            ("$.e[::-1]", &[]),
            ("$.e[-1]", &[]),
            ("$ .l\t[ 1 :\n3 : 1 ]", &["/l/1", "/l/2"]),
            ("$\r\n..l[ : -3 :]", &["/l/0", "/l/1"]),
            ("$..[0]", &["/l/0"]),
            (
                "$.é_1[\"a\\\"'\\\\\\/\\b\\f\\n\\r\\t\\ud83d\\ude00\"]",
                &[odd_key],
            ),
            (
                "$['é_1']['a\"\\'\\\\/\\u0008\\u000C\\u000a\\u000d\\u0009\\uD83D\\uDE00']",
                &[odd_key],
            ),
        ];
        for (path, expected) in ordered {
            assert_eq!(
                select_pointers(path, &doc),
                Ok(expected.iter().map(|p| p.to_string()).collect()),
                "{path}"
            );
        }

        // Any integers, even beyond what the parser lets through, and any length: the RFC's slice
        // algorithm computed without overflow (i128) must agree, and nothing may panic.
        let rfc_slice = |len: i128, start: Option<i128>, end: Option<i128>, step: Option<i128>| {
            let step = step.unwrap_or(1);
            let normalize = |i: i128| if i >= 0 { i } else { len + i };
            let mut selected = Vec::new();
            if step > 0 {
                let lower = normalize(start.unwrap_or(0)).max(0).min(len);
                let upper = normalize(end.unwrap_or(len)).max(0).min(len);
                let mut i = lower;
                while i < upper && selected.len() < 4 {
                    selected.push(i as usize);
                    i += step;
                }
            } else if step < 0 {
                let upper = normalize(start.unwrap_or(len - 1)).max(-1).min(len - 1);
                let lower = normalize(end.unwrap_or(-len - 1)).max(-1).min(len - 1);
                let mut i = upper;
                while lower < i && selected.len() < 4 {
                    selected.push(i as usize);
                    i += step;
                }
            }
            selected
        };
        let integers = [
            None,
            Some(i64::MIN),
            Some(i64::MIN + 1),
            Some(-(MAX_INTEGER as i64)),
            Some(-3),
            Some(-1),
            Some(0),
            Some(1),
            Some(2),
            Some(MAX_INTEGER as i64),
            Some(i64::MAX),
        ];
        let lens = [0, 1, 2, 3, 5, 1 << 40, i64::MAX as usize];
        for len in lens {
            for start in integers {
                for end in integers {
                    for step in integers {
                        let ours: Vec<usize> =
                            slice_indices(len, start, end, step).take(4).collect();
                        let wide = |i: Option<i64>| i.map(i128::from);
                        let theirs = rfc_slice(len as i128, wide(start), wide(end), wide(step));
                        assert_eq!(ours, theirs, "len {len} [{start:?}:{end:?}:{step:?}]");
                    }
                }
                let index = start.unwrap_or(0);
                let expected = if index < 0 {
                    len as i128 + i128::from(index)
                } else {
                    i128::from(index)
                };
                let expected = (0..len as i128)
                    .contains(&expected)
                    .then_some(expected as usize);
                assert_eq!(array_index(index, len), expected, "len {len} [{index}]");
            }
        }
        let _ = slice_indices(usize::MAX, Some(i64::MIN), None, Some(i64::MIN))
            .take(4)
            .count();
        let _ = slice_indices(usize::MAX, None, Some(i64::MAX), Some(i64::MAX))
            .take(4)
            .count();
        let list = serde_json::json!([0, 1, 2]);
        let mut trail = vec![(0, Token::Index(0))];
        let mut out = Vec::new();
        apply(&Selector::Index(i64::MIN), (0, &list), &mut trail, &mut out);
        apply(
            &Selector::Slice(Some(i64::MAX), Some(i64::MIN), Some(i64::MIN)),
            (0, &list),
            &mut trail,
            &mut out,
        );
        assert_eq!(out.len(), 1); // the slice selects element 2
    }

    #[test]
    fn an_extractor_applies_to_its_api_version_and_kind_only() {
        let rollouts =
            extractor(r#"{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","paths":["$.a"]}"#)
                .unwrap();
        // (apiVersion, kind, applies)
        let cases = [
            ("argoproj.io/v1alpha1", "Rollout", true),
            ("argoproj.io/v1alpha1", "AnalysisRun", false),
            ("argoproj.io/v1", "Rollout", false),
            ("apps/v1", "Deployment", false),
        ];
        for (api_version, kind, applies) in cases {
            assert_eq!(
                rollouts.applies_to(api_version, kind),
                applies,
                "{api_version} {kind}"
            );
        }
    }

    /// A quoted name may hold a space (only characters below U+0020 must be escaped).
    #[test]
    fn quoted_names_may_hold_spaces() {
        let doc = serde_json::json!({"a b": {" ": "x"}});
        assert_eq!(
            select_pointers("$['a b'][\" \"]", &doc),
            Ok(vec!["/a b/ ".to_string()])
        );
    }
}
