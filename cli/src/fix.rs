//! Writing a mutation back into a manifest's text, keeping everything else (comments, key order,
//! quoting, other documents) as it was. Only what the policies change can be written: a string
//! replaced in place, or a string member added beside a one-line sibling (`imagePullPolicy`
//! after `image`). Anything else is reported, never guessed; and the fixed text must read back
//! as exactly the mutated object, or it is not written.

use crate::manifests::{parse_documents, CharIndex, Place, Places};
use saphyr_parser::ScalarStyle;
use serde_json::Value;
use std::collections::BTreeMap;

/// One object's mutation, to write into its source's text.
#[derive(Clone)]
pub struct ObjectChange<'a> {
    pub document: usize,
    /// Where the object sits in its document (`""`, `/items/3`, `/request/object`).
    pub prefix: &'a str,
    /// How messages name it (`Deployment/web`).
    pub label: String,
    /// The object as the text holds it.
    pub original: &'a Value,
    /// Pointer (below the object) -> new value.
    pub changes: BTreeMap<String, Value>,
}

/// A source's fix: the fixed text, its diff, and what could not be written.
#[derive(Debug, Default, Clone)]
pub struct FileFix {
    /// The fixed text, when some change could be written and it reads back as the mutation.
    pub fixed: Option<String>,
    /// A unified diff from the text to the fixed text.
    pub diff: String,
    pub problems: Vec<String>,
}

/// Writes every object's changes into `text` (named `name` in the diff); `places` gives each
/// document's places. An object whose changes cannot all be written is left as it is, with the
/// reason; the rest is written only if it reads back as the mutated objects.
pub fn fix_text<'p>(
    name: &str,
    text: &str,
    places: impl Fn(usize) -> Option<&'p Places>,
    objects: &[ObjectChange],
) -> FileFix {
    let mut fix = FileFix::default();
    let mut edits = Vec::new();
    let mut expected: BTreeMap<usize, Vec<(String, Value)>> = BTreeMap::new();
    for object in objects {
        let Some(places) = places(object.document) else {
            fix.problems.push(format!(
                "{} (document {}): its place in the text is unknown",
                object.label,
                object.document + 1
            ));
            continue;
        };
        match edits_for(
            text,
            places,
            object.prefix,
            object.original,
            &object.changes,
        ) {
            Ok(object_edits) => {
                edits.extend(object_edits);
                let mut after = object.original.clone();
                for (pointer, value) in &object.changes {
                    set(&mut after, pointer, value.clone());
                }
                expected
                    .entry(object.document)
                    .or_default()
                    .push((object.prefix.to_string(), after));
            }
            Err(why) => fix.problems.push(format!("{}: {why}", object.label)),
        }
    }
    if edits.is_empty() {
        return fix;
    }
    let fixed = apply(text, &edits);
    match verify(text, &fixed, &expected) {
        Ok(()) => {
            fix.diff = similar::TextDiff::from_lines(text, &fixed)
                .unified_diff()
                .context_radius(2)
                .header(name, name)
                .to_string();
            fix.fixed = Some(fixed);
        }
        Err(why) => fix.problems.push(format!("the fix is not written: {why}")),
    }
    fix
}

/// Sets `value` at `pointer`, adding the last member when its parent object exists.
fn set(target: &mut Value, pointer: &str, value: Value) {
    if let Some(slot) = target.pointer_mut(pointer) {
        *slot = value;
    } else if let Some((parent, key)) = pointer.rsplit_once('/') {
        if let Some(map) = target.pointer_mut(parent).and_then(Value::as_object_mut) {
            map.insert(key.replace("~1", "/").replace("~0", "~"), value);
        }
    }
}

/// One text edit: replace bytes `start..end` with `text`.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// The edits that write `changes` (pointer below `prefix` -> new value) into `text`, or why a
/// change cannot be written.
pub fn edits_for(
    text: &str,
    places: &Places,
    prefix: &str,
    original: &Value,
    changes: &BTreeMap<String, Value>,
) -> Result<Vec<Edit>, String> {
    let chars = CharIndex::new(text);
    let mut edits = Vec::new();
    for (pointer, value) in changes {
        let Value::String(new) = value else {
            return Err(format!(
                "{pointer}: only strings can be written in place (set it to {value} by hand)"
            ));
        };
        let full = format!("{prefix}{pointer}");
        if let Some(place) = places.get(&full) {
            let Some(style) = place.style.filter(|_| one_line(place)) else {
                return Err(format!(
                    "{pointer}: not a one-line string in the text (set it to '{new}' by hand)"
                ));
            };
            edits.push(Edit {
                start: chars.byte(place.value.start.index()),
                end: chars.byte(place.value.end.index()),
                text: scalar(new, style, place.flow),
            });
            continue;
        }
        if original.pointer(pointer).is_some() {
            // There, but not written at a place of its own: an alias or a merge key.
            return Err(format!(
                "{pointer}: comes from an alias or merge key (set it to '{new}' by hand)"
            ));
        }
        let (parent, key) = full.rsplit_once('/').unwrap_or(("", &full));
        let key = key.replace("~1", "/").replace("~0", "~");
        let sibling = places
            .iter()
            .filter(|(p, place)| {
                p.rsplit_once('/').map(|(up, _)| up) == Some(parent)
                    && place.key.is_some()
                    && place.style.is_some()
                    && one_line(place)
            })
            .max_by_key(|(p, place)| (p.ends_with("/image"), place.value.start.index()));
        let Some((_, sibling)) = sibling else {
            return Err(format!(
                "{pointer}: no one-line member beside it to write it after (add it by hand: '{new}')"
            ));
        };
        let end = chars.byte(sibling.value.end.index());
        let member = match sibling.flow {
            true => Edit {
                start: end,
                end,
                text: format!(", {}: {}", json(&key), json(new)),
            },
            false => {
                let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
                let key_place = sibling.key.expect("filtered on a key");
                Edit {
                    start: line_end,
                    end: line_end,
                    text: format!(
                        "\n{}{}: {}",
                        " ".repeat(key_place.start.col()),
                        scalar(&key, ScalarStyle::Plain, false),
                        scalar(new, ScalarStyle::Plain, false)
                    ),
                }
            }
        };
        edits.push(member);
    }
    Ok(edits)
}

/// `text` with `edits` applied (they must not overlap).
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for edit in sorted {
        out.push_str(&text[at..edit.start]);
        out.push_str(&edit.text);
        at = edit.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Whether `fixed` reads as `expected`: document -> (prefix, object) for every changed object,
/// and every other document unchanged from `original`.
pub fn verify(
    original: &str,
    fixed: &str,
    expected: &BTreeMap<usize, Vec<(String, Value)>>,
) -> Result<(), String> {
    let before = parse_documents(original).map_err(|e| format!("{e:#}"))?;
    let after =
        parse_documents(fixed).map_err(|e| format!("the fixed text does not read: {e:#}"))?;
    if before.len() != after.len() {
        return Err("the fixed text has another number of documents".to_string());
    }
    for (index, (mut was, now)) in before.into_iter().zip(after).enumerate() {
        for (prefix, object) in expected.get(&index).into_iter().flatten() {
            match was.pointer_mut(prefix) {
                Some(slot) => *slot = object.clone(),
                None => return Err(format!("document {}: {prefix} is gone", index + 1)),
            }
        }
        if was != now {
            return Err(format!(
                "document {} does not read back as the mutated object",
                index + 1
            ));
        }
    }
    Ok(())
}

fn one_line(place: &Place) -> bool {
    place.value.start.line() == place.value.end.line()
}

fn json(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// `text` written as a scalar of `style` where that reads back as the same string, else
/// double-quoted.
fn scalar(text: &str, style: ScalarStyle, flow: bool) -> String {
    match style {
        ScalarStyle::Plain if plain_is_string(text, flow) => text.to_string(),
        ScalarStyle::SingleQuoted if !text.contains('\n') => {
            format!("'{}'", text.replace('\'', "''"))
        }
        _ => json(text),
    }
}

/// Whether `text` written plain reads back as this same string (not a number, boolean or null,
/// and nothing YAML would read as syntax). Conservative: image references and pull policies
/// pass, odd strings get quoted.
fn plain_is_string(text: &str, flow: bool) -> bool {
    let safe_char = |c: char| c.is_ascii_alphanumeric() || "._/:@+-,".contains(c);
    let first_ok = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let typed = matches!(
        text.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
    );
    first_ok
        && !typed
        && text.chars().all(safe_char)
        && !text.contains(": ")
        && !text.ends_with(':')
        && (!flow || !text.contains(','))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::places_of;
    use serde_json::json;

    fn fix(text: &str, changes: &[(&str, &str)]) -> Result<String, String> {
        let places = places_of(text).map_err(|e| e.to_string())?.remove(0);
        let changes: BTreeMap<String, Value> = changes
            .iter()
            .map(|(p, v)| (p.to_string(), json!(v)))
            .collect();
        let original = parse_documents(text).map_err(|e| e.to_string())?.remove(0);
        let edits = edits_for(text, &places, "", &original, &changes)?;
        Ok(apply(text, &edits))
    }

    #[test]
    fn a_string_is_replaced_in_its_own_quoting_and_comments_stay() {
        let text = "spec:\n  containers:\n  - name: web # the app\n    image: nginx # unpinned\n  - name: b\n    image: \"busybox\"\n  - name: c\n    image: 'redis'\n";
        let fixed = fix(
            text,
            &[
                ("/spec/containers/0/image", "nginx@sha256:ab"),
                ("/spec/containers/1/image", "busybox:1.36"),
                ("/spec/containers/2/image", "it's"),
            ],
        )
        .unwrap();
        assert_eq!(
            fixed,
            "spec:\n  containers:\n  - name: web # the app\n    image: nginx@sha256:ab # unpinned\n  - name: b\n    image: \"busybox:1.36\"\n  - name: c\n    image: 'it''s'\n"
        );
    }

    #[test]
    fn a_member_is_added_after_the_image_at_its_indentation() {
        let text = "containers:\n- image: nginx:latest   # x\n  name: web\n  ports: [80]\n";
        let fixed = fix(text, &[("/containers/0/imagePullPolicy", "Always")]).unwrap();
        assert_eq!(
            fixed,
            "containers:\n- image: nginx:latest   # x\n  imagePullPolicy: Always\n  name: web\n  ports: [80]\n"
        );
    }

    #[test]
    fn json_is_fixed_as_json() {
        let text = "{\"containers\": [{\"name\": \"web\", \"image\": \"nginx\"}]}";
        let fixed = fix(
            text,
            &[
                ("/containers/0/image", "docker.io/library/nginx:1"),
                ("/containers/0/imagePullPolicy", "IfNotPresent"),
            ],
        )
        .unwrap();
        assert_eq!(
            fixed,
            "{\"containers\": [{\"name\": \"web\", \"image\": \"docker.io/library/nginx:1\", \"imagePullPolicy\": \"IfNotPresent\"}]}"
        );
        let value: Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(value["containers"][0]["imagePullPolicy"], "IfNotPresent");
    }

    #[test]
    fn strings_that_would_read_as_something_else_are_quoted() {
        for (text, plain) in [
            ("nginx", true),
            ("ghcr.io/a/b:1@sha256:ab", true),
            ("true", false),
            ("No", false),
            ("1.5", false),
            ("a: b", false),
            ("#x", false),
            ("a,b", true),
            ("", false),
        ] {
            assert_eq!(plain_is_string(text, false), plain, "{text}");
        }
        assert!(!plain_is_string("a,b", true));
        assert_eq!(scalar("true", ScalarStyle::Plain, false), "\"true\"");
    }

    #[test]
    fn what_cannot_be_written_is_said() {
        let multi = "image: >\n  nginx\n";
        let error = fix(multi, &[("/image", "x")]).unwrap_err();
        assert!(error.contains("not a one-line string"), "{error}");
        let empty = "spec: {}\n";
        let error = fix(empty, &[("/spec/imagePullPolicy", "Always")]).unwrap_err();
        assert!(error.contains("no one-line member beside it"), "{error}");
        let places = places_of("a: 1\n").unwrap().remove(0);
        let changes = BTreeMap::from([("/a".to_string(), json!(2))]);
        let error = edits_for("a: 1\n", &places, "", &json!({"a": 1}), &changes).unwrap_err();
        assert!(error.contains("only strings"), "{error}");
        let aliased = "a: &p IfNotPresent\nb:\n  image: x\n  imagePullPolicy: *p\n";
        let error = fix(aliased, &[("/b/imagePullPolicy", "Always")]).unwrap_err();
        assert!(
            error.contains("comes from an alias or merge key"),
            "{error}"
        );
    }

    #[test]
    fn without_an_image_the_member_goes_after_a_one_line_scalar() {
        let text = "c:\n  name: a\n  ports:\n  - 80\n";
        let fixed = fix(text, &[("/c/imagePullPolicy", "Always")]).unwrap();
        assert_eq!(
            fixed,
            "c:\n  name: a\n  imagePullPolicy: Always\n  ports:\n  - 80\n"
        );
        assert_eq!(
            scalar("a\nb", ScalarStyle::SingleQuoted, false),
            "\"a\\nb\""
        );
        assert_eq!(scalar("it's", ScalarStyle::SingleQuoted, false), "'it''s'");
    }

    #[test]
    fn every_object_of_a_file_is_fixed_and_read_back() {
        let text = "# two documents\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: a # keep\n---\nkind: List\nitems:\n- spec: {containers: [{image: b}]}\n";
        let places = places_of(text).unwrap();
        let documents = parse_documents(text).unwrap();
        let change =
            |pointer: &str, value: &str| BTreeMap::from([(pointer.to_string(), json!(value))]);
        let objects = [
            ObjectChange {
                document: 0,
                prefix: "",
                label: "Pod/".into(),
                original: &documents[0],
                changes: change("/spec/containers/0/image", "a@sha256:1"),
            },
            ObjectChange {
                document: 1,
                prefix: "/items/0",
                label: "Pod/b".into(),
                original: &documents[1]["items"][0],
                changes: change("/spec/containers/0/imagePullPolicy", "Always"),
            },
        ];
        let fix = fix_text("f.yaml", text, |d| places.get(d), &objects);
        assert_eq!(fix.problems, Vec::<String>::new());
        assert_eq!(
            fix.fixed.as_deref(),
            Some("# two documents\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: a@sha256:1 # keep\n---\nkind: List\nitems:\n- spec: {containers: [{image: b, \"imagePullPolicy\": \"Always\"}]}\n")
        );
        assert!(
            fix.diff.starts_with("--- f.yaml\n+++ f.yaml\n"),
            "{}",
            fix.diff
        );
        assert!(fix
            .diff
            .contains("-  - image: a # keep\n+  - image: a@sha256:1 # keep\n"));

        // A change that cannot be written leaves its object alone, and says why.
        let bad = [ObjectChange {
            changes: BTreeMap::from([("/spec".to_string(), json!(1))]),
            ..objects[0].clone()
        }];
        let fix = fix_text("f.yaml", text, |d| places.get(d), &bad);
        assert_eq!(fix.fixed, None);
        assert!(
            fix.problems[0].starts_with("Pod/: /spec: only strings"),
            "{:?}",
            fix.problems
        );
        let unplaced = fix_text("f.yaml", text, |_| None, &objects[..1]);
        assert_eq!(
            unplaced.problems,
            ["Pod/ (document 1): its place in the text is unknown"]
        );
    }

    #[test]
    fn a_fix_is_verified_against_the_mutated_object() {
        let original = "a: 1\n---\nb: x\n";
        let good = "a: 1\n---\nb: y\n";
        let expected = BTreeMap::from([(1, vec![(String::new(), json!({"b": "y"}))])]);
        assert_eq!(verify(original, good, &expected), Ok(()));
        let wrong = "a: 2\n---\nb: y\n";
        assert!(verify(original, wrong, &expected)
            .unwrap_err()
            .contains("document 1"));
        let short = "b: y\n";
        assert!(verify(original, short, &expected).is_err());
        let twice = "a: 1\n---\nb: x\nb: y\n";
        assert!(verify(original, twice, &expected)
            .unwrap_err()
            .contains("duplicate"));
    }
}
