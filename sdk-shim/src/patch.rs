//! A mutation's patches applied to the request's object: each `(pointer, value)` sets (adds or
//! replaces) the value at an RFC 6901 pointer whose parent exists, in order.
//!
//! [`apply_to_text`] writes the patched object from its JSON text, in the cheapest way that applies:
//! 1. every patch has an [`Anchor`] (a container's image or pull policy, whose string a view
//!    borrowed from this very text): the text is copied with those strings replaced, or a member
//!    added after the image, without reading the text again;
//! 2. otherwise only the objects and lists on a patch's path are split into members (borrowed
//!    text), and every other member is copied as written;
//! 3. [`set_pointer`] on a tree, the reference: whatever the text patchers do not handle (a
//!    pointer that leads nowhere, an index to append at, a patch inside another) is left to it,
//!    so all three give the same object and the same errors.

use crate::json::string_stop;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// One change: set `value` at `pointer`.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    pub pointer: String,
    pub value: Value,
    pub anchor: Option<Anchor>,
}

/// Where a patch lands in the request's text, known from a string a view borrowed there: the
/// address and length of that string's contents (between its quotes). Addresses, not offsets:
/// the text the patch is applied to is checked to hold them, else the anchor is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The value at the pointer is this string: replace it.
    Replace { at: usize, len: usize },
    /// The member is absent from its object: add it, named `key`, right after this string
    /// (another member's value in the same object).
    AddAfter {
        at: usize,
        len: usize,
        key: &'static str,
    },
}

impl Anchor {
    /// The string `text` (borrowed from the request) is the value to replace.
    pub fn replace(text: &str) -> Self {
        Anchor::Replace {
            at: text.as_ptr() as usize,
            len: text.len(),
        }
    }

    /// The member `key` is to be added after the string `text` (borrowed from the request).
    pub fn add_after(text: &str, key: &'static str) -> Self {
        Anchor::AddAfter {
            at: text.as_ptr() as usize,
            len: text.len(),
            key,
        }
    }
}

/// The object `text` with `patches` applied in order, as JSON text.
pub fn apply_to_text(text: &str, patches: &[Patch]) -> Result<String, String> {
    if let Some(patched) = splice_anchored(text, patches).or_else(|| patch_text(text, patches)) {
        return Ok(patched);
    }
    let mut tree = crate::tree::from_slice(text.as_bytes()).map_err(|e| e.to_string())?;
    for patch in patches {
        set_pointer(&mut tree, &patch.pointer, patch.value.clone())?;
    }
    Ok(json_text(&tree))
}

/// Room left after a patched text for the answer around it
/// ([`crate::verdict::Response::into_json`] writes it in place).
const ANSWER_ROOM: usize = 160;

/// Way 1: every patch anchored in `text`. `None` where another way must decide.
fn splice_anchored(text: &str, patches: &[Patch]) -> Option<String> {
    let base = text.as_ptr() as usize;
    let bytes = text.as_bytes();
    // (start, end, replacement), in the text's order; one pointer set twice keeps the last.
    let mut edits: Vec<(usize, usize, String)> = Vec::with_capacity(patches.len());
    for (i, patch) in patches.iter().enumerate() {
        if patches[i + 1..]
            .iter()
            .any(|later| later.pointer == patch.pointer)
        {
            continue;
        }
        let (at, len) = match patch.anchor? {
            Anchor::Replace { at, len } | Anchor::AddAfter { at, len, .. } => (at, len),
        };
        // The string and its quotes lie in this text.
        let start = at.checked_sub(base)?.checked_sub(1)?;
        let end = start + len + 2;
        let quoted = bytes.get(start..end)?;
        if quoted.first() != Some(&b'"') || quoted.last() != Some(&b'"') {
            return None;
        }
        edits.push(match patch.anchor? {
            Anchor::Replace { .. } => (start, end, json_text(&patch.value)),
            Anchor::AddAfter { key, .. } => {
                let mut member = String::from(",");
                member.push_str(&json_text(&Value::from(key)));
                member.push(':');
                member.push_str(&json_text(&patch.value));
                (end, end, member)
            }
        });
    }
    edits.sort_by_key(|(start, end, _)| (*start, *end));
    let mut out = String::with_capacity(
        text.len() + ANSWER_ROOM + edits.iter().map(|e| e.2.len()).sum::<usize>(),
    );
    let mut copied = 0;
    for (start, end, replacement) in edits {
        if start < copied {
            return None; // two edits overlap
        }
        out.push_str(&text[copied..start]);
        out.push_str(&replacement);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// `value` as JSON text, as serde_json writes it (compactly); a string (what patches set)
/// without going through serde, which costs more than the escaping itself. Not through `Display`
/// either: `Value`'s also carries serde_json's pretty printer into every module.
fn json_text(value: &Value) -> String {
    let mut text = Vec::new();
    match value {
        Value::String(string) => quote_into(&mut text, string),
        // Writing into memory cannot fail, and a tree's keys are strings.
        _ => {
            let _ = serde_json::to_writer(&mut text, value);
        }
    }
    String::from_utf8(text).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `string` as a JSON string, quoted and escaped as serde_json writes it.
fn quote_into(out: &mut Vec<u8>, string: &str) {
    out.reserve(string.len() + 2);
    out.push(b'"');
    crate::verdict::escape_into(out, string);
    out.push(b'"');
}

/// Checks that serde_json (the host's parser) can read `text`, valid JSON whose skipped parts
/// nobody parsed: no number out of `f64` range, no lone surrogate, no nesting past serde_json's
/// nesting limit (127 levels, counted from the answer around it). One pass over the bytes, nothing allocated.
pub fn check_readable(text: &str) -> Result<(), String> {
    let unreadable = |why: String| Err(format!("serde_json cannot read it: {why}"));
    let bytes = text.as_bytes();
    let (mut i, mut depth) = (0, 1);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                loop {
                    i = string_stop(bytes, i);
                    match bytes.get(i) {
                        Some(b'\\') => {}
                        // Valid JSON has no control character in a string: nothing to check.
                        Some(0..=0x1f) => {
                            i += 1;
                            continue;
                        }
                        _ => break,
                    }
                    if bytes.get(i + 1) != Some(&b'u') {
                        i += 2;
                        continue;
                    }
                    let unit = hex4(bytes.get(i + 2..i + 6));
                    let low = (bytes.get(i + 6..i + 8) == Some(b"\\u"))
                        .then(|| hex4(bytes.get(i + 8..i + 12)));
                    match (unit, low) {
                        (0xD800..=0xDBFF, Some(0xDC00..=0xDFFF)) => i += 6,
                        (0xD800..=0xDFFF, _) => {
                            return unreadable(format!("a lone surrogate \\u{unit:04x}"))
                        }
                        _ => {}
                    }
                    i += 6;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > 127 {
                    return unreadable("nested more than 127 levels deep".to_string());
                }
            }
            b']' | b'}' => depth -= 1,
            b'-' | b'0'..=b'9' => {
                let end = bytes[i..]
                    .iter()
                    .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .map_or(bytes.len(), |n| i + n);
                let number = &text[i..end];
                // Without an exponent, fewer than 309 digits are always within range (the text
                // is valid JSON); otherwise serde_json's own number parser decides.
                let surely_finite = number.len() < 300 && !number.contains(['e', 'E']);
                if !surely_finite && serde_json::from_slice::<f64>(number.as_bytes()).is_err() {
                    return unreadable(format!("the number {number} is out of range"));
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The value of four hex digits (valid JSON has them after `\\u`).
fn hex4(digits: Option<&[u8]>) -> u32 {
    digits.unwrap_or_default().iter().fold(0, |value, digit| {
        value * 16 + (*digit as char).to_digit(16).unwrap_or(0)
    })
}

/// A patch as tokens (unescaped) and its value.
type Tokens<'p> = (&'p [Cow<'p, str>], &'p Value);

/// Way 2: split along the patches' paths. `None` where the tree decides.
fn patch_text(text: &str, patches: &[Patch]) -> Option<String> {
    let mut split = Vec::with_capacity(patches.len());
    for patch in patches {
        let tokens: Vec<Cow<str>> = patch
            .pointer
            .strip_prefix('/')?
            .split('/')
            .map(unescape)
            .collect();
        split.push((tokens, &patch.value));
    }
    let patches: Vec<Tokens> = split.iter().map(|(t, v)| (t.as_slice(), *v)).collect();
    let mut out = String::with_capacity(text.len() + ANSWER_ROOM + 64 * patches.len());
    write_patched(text, &patches, &mut out)?;
    Some(out)
}

/// Writes the value `text` with `patches` (relative to it, none of them empty) applied.
fn write_patched(text: &str, patches: &[Tokens], out: &mut String) -> Option<()> {
    if patches.is_empty() {
        out.push_str(text);
        return Some(());
    }
    let mut json = serde_json::Deserializer::from_slice(text.as_bytes());
    match Node.deserialize(&mut json).ok()? {
        Members::Object(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_key(key, out);
                out.push(':');
                let here = below(patches, |token| token == key);
                write_member(value.get(), &here, out)?;
            }
            // Members to add, once each, with the last value set (as a map would keep it).
            let mut added: Vec<(&str, &Value)> = Vec::new();
            for (tokens, value) in patches {
                if members.iter().any(|(key, _)| *key == tokens[0]) {
                    continue;
                }
                if tokens.len() > 1 {
                    return None; // its parent does not exist
                }
                match added.iter_mut().find(|(key, _)| *key == tokens[0]) {
                    Some(member) => member.1 = value,
                    None => added.push((&tokens[0], value)),
                }
            }
            for (i, (key, value)) in added.into_iter().enumerate() {
                if i > 0 || !members.is_empty() {
                    out.push(',');
                }
                write_key(key, out);
                out.push(':');
                out.push_str(&json_text(value));
            }
            out.push('}');
        }
        Members::List(items) => {
            // Every index must name an item: appending is left to the tree.
            if patches
                .iter()
                .any(|(tokens, _)| !matches!(tokens[0].parse::<usize>(), Ok(i) if i < items.len()))
            {
                return None;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let here = below(patches, |token| token.parse::<usize>() == Ok(i));
                write_member(item.get(), &here, out)?;
            }
            out.push(']');
        }
        Members::Other => return None,
    }
    Some(())
}

/// The patches whose first token `is_here`, relative to that member.
fn below<'p>(patches: &[Tokens<'p>], is_here: impl Fn(&str) -> bool) -> Vec<Tokens<'p>> {
    patches
        .iter()
        .filter(|(tokens, _)| is_here(&tokens[0]))
        .map(|(tokens, value)| (&tokens[1..], *value))
        .collect()
}

/// Writes a member: replaced by the last patch that sets it, else with its own patches applied.
fn write_member(text: &str, patches: &[Tokens], out: &mut String) -> Option<()> {
    match patches.iter().rposition(|(tokens, _)| tokens.is_empty()) {
        // A value set and also patched inside: the order matters, so the tree decides.
        Some(_) if patches.iter().any(|(tokens, _)| !tokens.is_empty()) => None,
        Some(last) => {
            out.push_str(&json_text(patches[last].1));
            Some(())
        }
        None => write_patched(text, patches, out),
    }
}

fn write_key(key: &str, out: &mut String) {
    match key.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        true => out.push_str(&json_text(&Value::from(key))),
        false => {
            out.push('"');
            out.push_str(key);
            out.push('"');
        }
    }
}

/// One level of a JSON value: its members as borrowed text.
enum Members<'a> {
    Object(Vec<(Cow<'a, str>, &'a RawValue)>),
    List(Vec<&'a RawValue>),
    Other,
}

struct Node;

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Members<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key_seed(KeyText)? {
            members.push((key, map.next_value()?));
        }
        Ok(Members::Object(members))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(8));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Members::List(items))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Members::Other)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Members::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Members::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Members::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Members::Other)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Members::Other)
    }
}

/// A member's key, unescaped (borrowed when written without escapes).
struct KeyText;

impl<'de> DeserializeSeed<'de> for KeyText {
    type Value = Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyText {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }
    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_string()))
    }
}

/// Sets (adds or replaces) the value at an RFC 6901 pointer whose parent exists.
/// Walks the tokens itself: this runs for every patch, and tokens rarely need unescaping.
pub fn set_pointer(root: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let Some(path) = pointer.strip_prefix('/') else {
        return Err(format!("'{pointer}' is not a JSON pointer"));
    };
    let (parents, last) = match path.rsplit_once('/') {
        Some((parents, last)) => (Some(parents), last),
        None => (None, path),
    };
    let parent_pointer = &pointer[..pointer.len() - last.len() - 1];
    let missing = || format!("'{parent_pointer}' does not exist or holds no object");
    let mut node = root;
    for token in parents.into_iter().flat_map(|p| p.split('/')) {
        node = match node {
            Value::Object(map) => map.get_mut(unescape(token).as_ref()),
            Value::Array(list) => token.parse::<usize>().ok().and_then(|i| list.get_mut(i)),
            _ => None,
        }
        .ok_or_else(missing)?;
    }
    match node {
        Value::Object(map) => {
            map.insert(unescape(last).into_owned(), value);
            Ok(())
        }
        Value::Array(list) => match last.parse::<usize>() {
            Ok(i) if i < list.len() => {
                list[i] = value;
                Ok(())
            }
            Ok(i) if i == list.len() => {
                list.push(value);
                Ok(())
            }
            _ => Err(format!(
                "index '{last}' is out of range at '{parent_pointer}'"
            )),
        },
        _ => Err(missing()),
    }
}

fn unescape(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') {
        token.replace("~1", "/").replace("~0", "~").into()
    } else {
        token.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_written_as_serde_json_writes_them() {
        let mut values = vec![json!(1), json!(null), json!({"a": ["b\n"]}), json!(true)];
        for text in [
            "",
            "nginx:1.25",
            "q\"b\\s/",
            "\u{0}\u{1f}\u{7f}\t\r\n\u{8}\u{c}",
            "é€😀 x",
        ] {
            values.push(Value::String(text.repeat(3)));
        }
        for value in values {
            assert_eq!(json_text(&value), value.to_string(), "{value:?}");
        }
    }

    #[test]
    fn pointers_that_lead_nowhere_are_errors() {
        let mut root = json!({"a": [1]});
        assert!(set_pointer(&mut root, "/b/c", json!(1))
            .unwrap_err()
            .contains("'/b' does not exist"));
        assert!(set_pointer(&mut root, "/a/5", json!(1))
            .unwrap_err()
            .contains("out of range"));
        set_pointer(&mut root, "/a/1", json!(2)).unwrap();
        set_pointer(&mut root, "/x~1y", json!(3)).unwrap();
        set_pointer(&mut root, "/a/0", json!(0)).unwrap();
        assert_eq!(root, json!({"a": [0, 2], "x/y": 3}));
        assert!(set_pointer(&mut root, "nope", json!(1)).is_err());
        assert!(set_pointer(&mut root, "/a/x/y", json!(1))
            .unwrap_err()
            .contains("'/a/x' does not exist"));
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;
    use serde_json::json;

    const OBJECT: &str = r#"{"kind":"Pod","metadata":{"name":"web","annotations":{"a\"b":"x","c\\d":"y","e\u0001f":"z"}},
        "spec":{"containers":[{"name":"web","image":"nginx"},{"name":"api","image":"ghcr.io/acme/api:1"}],
        "imagePullSecrets":[{"name":"old"}],"dup":1,"dup":2,"x/y":{"~":0}}}"#;

    /// Applies `patches` to `OBJECT`'s tree with `set_pointer`: what the text patcher must match.
    fn by_tree(patches: &[Patch]) -> Result<Value, String> {
        let mut tree: Value = serde_json::from_str(OBJECT).unwrap();
        for patch in patches {
            set_pointer(&mut tree, &patch.pointer, patch.value.clone())?;
        }
        Ok(tree)
    }

    /// (patches, whether the text patcher handles them itself)
    #[test]
    fn the_text_patcher_gives_what_the_tree_gives() {
        let patch = |pointer: &str, value: Value| Patch {
            pointer: pointer.to_string(),
            value,
            anchor: None,
        };
        let cases = [
            (
                vec![patch("/spec/containers/0/image", json!("nginx@sha256:1"))],
                true,
            ),
            (
                vec![
                    patch("/spec/containers/1/image", json!("mirror/api:1")),
                    patch("/spec/containers/1/imagePullPolicy", json!("IfNotPresent")),
                    patch("/spec/containers/0/imagePullPolicy", json!("Always")),
                ],
                true,
            ),
            (
                vec![patch(
                    "/spec/imagePullSecrets",
                    json!([{"name": "old"}, {"name": "new"}]),
                )],
                true,
            ),
            // The last of two values set at one pointer wins.
            (
                vec![
                    patch("/spec/containers/0/image", json!("a")),
                    patch("/spec/containers/0/image", json!("b")),
                ],
                true,
            ),
            // A key written with escapes, a pointer token with ~1 and ~0, a repeated key.
            (vec![patch("/metadata/annotations/a\"b", json!("y"))], true),
            (vec![patch("/metadata/annotations/new", json!("n"))], true),
            (vec![patch("/spec/x~1y/~0", json!(1))], true),
            (vec![patch("/spec/dup", json!(3))], true),
            (vec![patch("/spec/new", json!({"k": "v"}))], true),
            (
                vec![
                    patch("/spec/new", json!(1)),
                    patch("/spec/other", json!(2)),
                    patch("/spec/new", json!(3)),
                ],
                true,
            ),
            (
                vec![
                    patch("/spec/x~1y/~0", json!(1)),
                    patch("/metadata/labels", json!({})),
                ],
                true,
            ),
            // Left to the tree: appending, a patch inside a value also set, nowhere to go.
            (
                vec![patch("/spec/containers/2", json!({"image": "x"}))],
                false,
            ),
            (
                vec![
                    patch("/spec/containers/0", json!({"image": "x"})),
                    patch("/spec/containers/0/image", json!("y")),
                ],
                false,
            ),
            (vec![patch("/spec/nothing/image", json!("x"))], false),
            (vec![patch("/spec/containers/7/image", json!("x"))], false),
            (vec![patch("/kind/x", json!("x"))], false),
            (vec![patch("no-slash", json!("x"))], false),
        ];
        for (patches, by_text) in cases {
            assert_eq!(
                patch_text(OBJECT, &patches).is_some(),
                by_text,
                "{patches:?}"
            );
            let patched = apply_to_text(OBJECT, &patches)
                .map(|text| serde_json::from_str::<Value>(&text).expect("JSON"));
            assert_eq!(patched, by_tree(&patches), "{patches:?}");
        }
    }

    /// Members added to an empty object and to one with members, commas between.
    #[test]
    fn added_members_are_separated() {
        let patch = |pointer: &str| Patch {
            pointer: pointer.to_string(),
            value: json!(1),
            anchor: None,
        };
        let cases = [
            ("{}", vec![patch("/a"), patch("/b")], r#"{"a":1,"b":1}"#),
            (r#"{"x":0}"#, vec![patch("/a")], r#"{"x":0,"a":1}"#),
            (
                r#"{"x":{}}"#,
                vec![patch("/x/a"), patch("/y")],
                r#"{"x":{"a":1},"y":1}"#,
            ),
        ];
        for (text, patches, expected) in cases {
            assert_eq!(
                patch_text(text, &patches).as_deref(),
                Some(expected),
                "{text}"
            );
        }
    }

    #[test]
    fn members_not_on_a_path_are_copied_as_written() {
        let text = r#"{"a":{"b" : [1, 2.50, "\u00e9"]},"c":{"d":"x"}}"#;
        let patch = Patch {
            pointer: "/c/d".to_string(),
            value: json!("y"),
            anchor: None,
        };
        let patched = apply_to_text(text, &[patch]).unwrap();
        assert_eq!(
            patched,
            r#"{"a":{"b" : [1, 2.50, "\u00e9"]},"c":{"d":"y"}}"#
        );
    }
}

#[cfg(test)]
mod readable_tests {
    use super::check_readable;

    /// (JSON text, whether serde_json reads it): the check agrees with serde_json.
    #[test]
    fn what_serde_json_reads_passes() {
        let deep = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
        let cases = [
            (
                r#"{"a": [1, -0, 2.5e-3, 1e308, 123456789012345678901234567890]}"#.to_string(),
                true,
            ),
            (r#"{"a": 1e309}"#.to_string(), false),
            (r#"{"a": -1.8e308}"#.to_string(), false),
            (
                r#"{"a": "x\"1e999\\", "b": "\ud83d\ude00 \u00e9"}"#.to_string(),
                true,
            ),
            (r#"{"a": "\ud83d"}"#.to_string(), false),
            (r#"{"a": "\ude00\ud83d"}"#.to_string(), false),
            (r#"{"a": "\ud83d\u0041"}"#.to_string(), false),
            (r#"{"\udfff": 1}"#.to_string(), false),
            (deep(126), true),
            (deep(127), false),
            // Depth counts nesting, not brackets.
            (format!("[{}[]]", "[],".repeat(200)), true),
            (r#"{"a": "ab\ud83d"}"#.to_string(), false),
            (r#"{"a": "\ud83d\ude00 x \ud800"}"#.to_string(), false),
            (r#"{"a": "\u00e9\ud800"}"#.to_string(), false),
            // Long strings are scanned eight bytes at a time: escapes anywhere in them count.
            (
                r#"{"annotation": "{\"a\":\"0123456789abcdef\ud800\"}"}"#.to_string(),
                false,
            ),
            (
                r#"{"annotation": "0123456789abcdef0123\ud83d\ude00"}"#.to_string(),
                true,
            ),
            // Numbers without an exponent overflow only past 308 digits.
            (format!(r#"{{"a": {}}}"#, "9".repeat(299)), true),
            (format!(r#"{{"a": -{}.5}}"#, "9".repeat(400)), false),
        ];
        for (text, readable) in cases {
            // As the answer holds it: one level more.
            let answer = format!(r#"{{"mutated_object": {text}}}"#);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&answer).is_ok(),
                readable,
                "serde_json on {text}"
            );
            assert_eq!(check_readable(&text).is_ok(), readable, "{text}");
        }
        // Text cut short is no valid JSON, but still no panic.
        for cut in [r#"{"a": "abc"#, r#"{"a": "\u12"#, r#"{"a": "\"#] {
            assert!(check_readable(cut).is_ok(), "{cut}");
        }
    }
}

#[cfg(test)]
mod anchored_tests {
    use super::*;
    use serde_json::json;

    const OBJECT: &str = r#"{"spec": {"containers": [{"name": "web", "image": "nginx", "x": 1},
        {"image": "redis", "imagePullPolicy": "Never"}]}}"#;

    /// The string `needle` of `OBJECT` (its first occurrence), as a view would have borrowed it.
    fn at(needle: &str) -> &'static str {
        let i = OBJECT.find(&format!("\"{needle}\"")).expect("in OBJECT") + 1;
        &OBJECT[i..i + needle.len()]
    }

    fn patch(pointer: &str, value: Value, anchor: Option<Anchor>) -> Patch {
        Patch {
            pointer: pointer.to_string(),
            value,
            anchor,
        }
    }

    fn by_tree(patches: &[Patch]) -> Value {
        let mut tree: Value = serde_json::from_str(OBJECT).unwrap();
        for patch in patches {
            set_pointer(&mut tree, &patch.pointer, patch.value.clone()).unwrap();
        }
        tree
    }

    /// (patches, whether the anchored way handles them)
    #[test]
    fn anchored_patches_give_what_the_tree_gives() {
        let image0 = "/spec/containers/0/image";
        let policy0 = "/spec/containers/0/imagePullPolicy";
        let policy1 = "/spec/containers/1/imagePullPolicy";
        let elsewhere = String::from("nginx"); // the same string, not in OBJECT
        let cases = [
            (
                vec![patch(
                    image0,
                    json!("m/nginx"),
                    Some(Anchor::replace(at("nginx"))),
                )],
                true,
            ),
            (
                vec![
                    patch(image0, json!("m/nginx"), Some(Anchor::replace(at("nginx")))),
                    patch(
                        policy0,
                        json!("Always"),
                        Some(Anchor::add_after(at("nginx"), "imagePullPolicy")),
                    ),
                    patch(
                        policy1,
                        json!("IfNotPresent"),
                        Some(Anchor::replace(at("Never"))),
                    ),
                ],
                true,
            ),
            // The same pointer twice: the last value.
            (
                vec![
                    patch(image0, json!("a"), Some(Anchor::replace(at("nginx")))),
                    patch(image0, json!("b"), Some(Anchor::replace(at("nginx")))),
                ],
                true,
            ),
            // Not anchored in this text (a copy elsewhere), or one patch without an anchor.
            (
                vec![patch(
                    image0,
                    json!("a"),
                    Some(Anchor::replace(elsewhere.as_str())),
                )],
                false,
            ),
            (
                vec![
                    patch(image0, json!("a"), Some(Anchor::replace(at("nginx")))),
                    patch("/spec/new", json!(1), None),
                ],
                false,
            ),
            // An anchor that is not a whole string of the text.
            (
                vec![patch(
                    image0,
                    json!("a"),
                    Some(Anchor::replace(&at("nginx")[1..])),
                )],
                false,
            ),
        ];
        for (patches, anchored) in cases {
            assert_eq!(
                splice_anchored(OBJECT, &patches).is_some(),
                anchored,
                "{patches:?}"
            );
            let patched: Value =
                serde_json::from_str(&apply_to_text(OBJECT, &patches).unwrap()).unwrap();
            assert_eq!(patched, by_tree(&patches), "{patches:?}");
        }
        let patches = [patch(
            image0,
            json!("m/nginx"),
            Some(Anchor::replace(at("nginx"))),
        )];
        assert_eq!(
            splice_anchored(OBJECT, &patches).unwrap(),
            OBJECT.replacen("\"nginx\"", "\"m/nginx\"", 1),
            "everything else is copied as written"
        );
    }
}
