//! Reading Kubernetes manifests: files, directories (recursively) and stdin; YAML or JSON; several
//! documents per file; `List` kinds. Every object keeps where it came from (file, document, list
//! item) and a map from its JSON pointers to their place in the text, for line numbers and `--fix`.

use anyhow::{bail, Context, Result};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One file (or stdin) as read.
#[derive(Debug)]
pub struct Source {
    /// What the user named: a path, or `-` for stdin.
    pub name: String,
    /// Where to write a fix (not for stdin).
    pub path: Option<PathBuf>,
    pub text: String,
}

/// One Kubernetes object found in a source.
#[derive(Debug, Clone)]
pub struct Object {
    /// Index into the sources.
    pub source: usize,
    /// Its YAML document in the file, from 0.
    pub document: usize,
    /// Where the object sits in its document: `""`, or `/items/3` inside a `List`.
    pub prefix: String,
    pub value: Value,
}

impl Object {
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    pub fn name(&self) -> &str {
        let metadata = self.value.get("metadata");
        let field = |f: &str| metadata.and_then(|m| m.get(f)).and_then(Value::as_str);
        field("name")
            .or_else(|| field("generateName"))
            .unwrap_or("")
    }

    /// `Deployment/web`, as kubectl names objects.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind(), self.name())
    }
}

/// Where a node sits in the text: the span of its value and, for a member, of its key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    pub value: Span,
    pub key: Option<Span>,
    pub style: Option<ScalarStyle>,
    /// The node is a `{…}` or `[…]` collection, or sits inside one.
    pub flow: bool,
}

/// Every node of one document, by JSON pointer.
pub type Places = BTreeMap<String, Place>;

/// Everything read: the sources, their objects, and each document's places.
#[derive(Debug, Default)]
pub struct Manifests {
    pub sources: Vec<Source>,
    pub objects: Vec<Object>,
    /// (source, document) -> places; missing when the text could not be mapped.
    pub places: BTreeMap<(usize, usize), Places>,
    /// Documents of files found in a folder that are not Kubernetes objects (a chart's
    /// `values.yaml`, a CI workflow), each with why: they are skipped, and said to be.
    pub skipped: Vec<String>,
}

impl Manifests {
    /// Reads every path: `-` is stdin, a directory is searched recursively for `.yaml`, `.yml`
    /// and `.json` files (in name order), a file is read whatever its name.
    pub fn read(paths: &[String]) -> Result<Self> {
        let mut manifests = Manifests::default();
        for path in paths {
            if path == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read stdin")?;
                manifests.add("-".to_string(), None, text, false)?;
                continue;
            }
            let path = Path::new(path);
            let (files, found) = if path.is_dir() {
                (manifest_files(path)?, true)
            } else {
                (vec![path.to_path_buf()], false)
            };
            for file in files {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                manifests.add(file.display().to_string(), Some(file), text, found)?;
            }
        }
        Ok(manifests)
    }

    /// Adds one source's text and its objects. A document that is not a Kubernetes object is an
    /// error, or with `lenient` (files found in a folder) skipped and listed in `skipped`.
    pub fn add(
        &mut self,
        name: String,
        path: Option<PathBuf>,
        text: String,
        lenient: bool,
    ) -> Result<()> {
        let source = self.sources.len();
        let documents =
            parse_documents(&text).with_context(|| format!("{name}: not YAML or JSON"))?;
        // The same text read for its places; a document count that differs leaves places out.
        if let Ok(places) = places_of(&text) {
            if places.len() == documents.len() {
                for (document, places) in places.into_iter().enumerate() {
                    self.places.insert((source, document), places);
                }
            }
        }
        for (document, value) in documents.into_iter().enumerate() {
            let at = |what: &str| format!("{name}: document {}: {what}", document + 1);
            match value {
                Value::Null => {}
                Value::Object(ref map) => {
                    let is_list = map
                        .get("kind")
                        .and_then(Value::as_str)
                        .is_some_and(|k| k.ends_with("List"))
                        && map.contains_key("items");
                    if is_list {
                        let Some(items) = map["items"].as_array() else {
                            bail!(at("items: expected a list of objects"));
                        };
                        for (i, item) in items.iter().enumerate() {
                            if let Err(why) = check_object(item) {
                                let why = at(&format!("items[{i}]: {why}"));
                                match lenient {
                                    true => self.skipped.push(why),
                                    false => bail!(why),
                                }
                                continue;
                            }
                            self.objects.push(Object {
                                source,
                                document,
                                prefix: format!("/items/{i}"),
                                value: item.clone(),
                            });
                        }
                    } else {
                        if let Err(why) = check_object(&value) {
                            match lenient {
                                true => self.skipped.push(at(&why)),
                                false => bail!(at(&why)),
                            }
                            continue;
                        }
                        self.objects.push(Object {
                            source,
                            document,
                            prefix: String::new(),
                            value,
                        });
                    }
                }
                other => {
                    let why = at(&format!(
                        "expected a Kubernetes object, found {}",
                        json_type(&other)
                    ));
                    match lenient {
                        true => self.skipped.push(why),
                        false => bail!(why),
                    }
                }
            }
        }
        self.sources.push(Source { name, path, text });
        Ok(())
    }

    /// Where the container or image volume at `pointer` (relative to `object`) names its image,
    /// else where the node itself is, if known.
    pub fn image_place(&self, object: &Object, pointer: &str) -> Option<Place> {
        let places = self.places.get(&(object.source, object.document))?;
        image_place(places, &format!("{}{pointer}", object.prefix))
    }

    /// Where `pointer` (relative to `object`) is in its source, if known.
    pub fn place(&self, object: &Object, pointer: &str) -> Option<Place> {
        let places = self.places.get(&(object.source, object.document))?;
        places.get(&format!("{}{pointer}", object.prefix)).copied()
    }
}

/// Where the container or image volume at `pointer` (from the document's root) names its image:
/// its `image`, an image volume's `reference`, else the node itself.
pub fn image_place(places: &Places, pointer: &str) -> Option<Place> {
    ["/image", "/reference", ""]
        .iter()
        .find_map(|tail| places.get(&format!("{pointer}{tail}")).copied())
}

/// A Kubernetes object needs `apiVersion` and `kind`, as the API server does.
fn check_object(value: &Value) -> Result<(), String> {
    let Some(map) = value.as_object() else {
        return Err(format!(
            "expected a Kubernetes object, found {}",
            json_type(value)
        ));
    };
    for field in ["apiVersion", "kind"] {
        match map.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(Value::String(_)) => return Err(format!("{field}: empty")),
            Some(other) => {
                return Err(format!(
                    "{field}: expected a string, found {}",
                    json_type(other)
                ))
            }
            None => {
                return Err(format!(
                    "{field}: missing (every Kubernetes object names it)"
                ))
            }
        }
    }
    Ok(())
}

/// The name of a JSON value's type, for messages (`a list`, `an object`).
pub use sdk_shim::extract::type_name as json_type;

/// `.yaml`, `.yml` and `.json` files under `dir`, recursively, in path order.
pub fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            // Symbolic links to folders are not followed (a link to a parent would never end).
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else if path.is_file()
                && matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
            {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Every document of a YAML (or JSON) text, as JSON values, read as kubectl reads it: merge keys
/// (`<<: *defaults`) applied, a key given twice refused.
pub fn parse_documents(text: &str) -> Result<Vec<Value>> {
    let mut documents = Vec::new();
    for (i, document) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let at = || format!("document {}", i + 1);
        let mut yaml = yaml_serde::Value::deserialize(document).with_context(at)?;
        yaml.apply_merge().with_context(at)?;
        documents.push(yaml_serde::from_value(yaml).with_context(at)?);
    }
    Ok(documents)
}

/// The places of every node of every document, by JSON pointer. Aliases are not followed.
pub fn places_of(text: &str) -> Result<Vec<Places>> {
    enum Frame {
        Sequence {
            pointer: String,
            next: usize,
            flow: bool,
        },
        Mapping {
            pointer: String,
            key: Option<(String, Span)>,
            flow: bool,
        },
    }
    let mut documents = Vec::new();
    let mut places = Places::new();
    let mut stack: Vec<Frame> = Vec::new();
    let chars = CharIndex::new(text);
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| anyhow::anyhow!("{e}"))?;
        let in_flow = stack.iter().any(|f| match f {
            Frame::Sequence { flow, .. } | Frame::Mapping { flow, .. } => *flow,
        });
        // A node's pointer and key, or None for a mapping key being read.
        let slot =
            |stack: &mut Vec<Frame>, key_text: Option<&str>| -> Option<(String, Option<Span>)> {
                match stack.last_mut() {
                    None => Some((String::new(), None)),
                    Some(Frame::Sequence { pointer, next, .. }) => {
                        *next += 1;
                        Some((format!("{pointer}/{}", *next - 1), None))
                    }
                    Some(Frame::Mapping { pointer, key, .. }) => match key.take() {
                        Some((name, key_span)) => {
                            Some((format!("{pointer}/{}", escape(&name)), Some(key_span)))
                        }
                        None => {
                            *key = Some((key_text.unwrap_or("").to_string(), span));
                            None
                        }
                    },
                }
            };
        match event {
            Event::DocumentEnd => documents.push(std::mem::take(&mut places)),
            Event::Scalar(value, style, _, _) => {
                if let Some((pointer, key)) = slot(&mut stack, Some(&value)) {
                    places.insert(
                        pointer,
                        Place {
                            value: span,
                            key,
                            style: Some(style),
                            flow: in_flow,
                        },
                    );
                }
            }
            Event::Alias(_) => {
                slot(&mut stack, Some(""));
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let flow = in_flow || matches!(chars.at(span.start.index()), Some('[' | '{'));
                let Some((pointer, key)) = slot(&mut stack, None) else {
                    // A collection as a key: not a Kubernetes object; leave it unmapped.
                    bail!("line {}: a collection used as a key", span.start.line());
                };
                places.insert(
                    pointer.clone(),
                    Place {
                        value: span,
                        key,
                        style: None,
                        flow,
                    },
                );
                stack.push(match event {
                    Event::SequenceStart(..) => Frame::Sequence {
                        pointer,
                        next: 0,
                        flow,
                    },
                    _ => Frame::Mapping {
                        pointer,
                        key: None,
                        flow,
                    },
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    Ok(documents)
}

/// A JSON pointer token (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Character index (what the YAML parser counts) to byte offset, without a scan for ASCII text.
pub struct CharIndex<'a> {
    text: &'a str,
    /// The byte offset of every character, for text that is not ASCII.
    offsets: Option<Vec<usize>>,
}

impl<'a> CharIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let offsets = (!text.is_ascii()).then(|| {
            let mut offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            offsets.push(text.len());
            offsets
        });
        CharIndex { text, offsets }
    }

    /// The byte offset of character `index` (the text's length past its end).
    pub fn byte(&self, index: usize) -> usize {
        match &self.offsets {
            None => index.min(self.text.len()),
            Some(offsets) => offsets.get(index).copied().unwrap_or(self.text.len()),
        }
    }

    pub fn at(&self, index: usize) -> Option<char> {
        self.text[self.byte(index)..].chars().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str, lenient: bool) -> Result<Manifests> {
        let mut manifests = Manifests::default();
        manifests.add("m.yaml".into(), None, text.into(), lenient)?;
        Ok(manifests)
    }

    #[test]
    fn objects_are_found_in_documents_and_lists() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {generateName: web-}\n";
        let manifests = read(text, false).unwrap();
        let found: Vec<(usize, &str, String)> = manifests
            .objects
            .iter()
            .map(|o| (o.document, o.prefix.as_str(), o.label()))
            .collect();
        assert_eq!(
            found,
            [
                (0, "", "Pod/a".to_string()),
                (2, "/items/0", "Deployment/web-".to_string())
            ]
        );
        let deployment = &manifests.objects[1];
        assert_eq!(deployment.kind(), "Deployment");
        let place = manifests.place(deployment, "/kind").unwrap();
        assert_eq!(
            (place.value.start.line(), place.key.unwrap().start.col()),
            (10, 2)
        );
        assert_eq!(manifests.place(deployment, "/nope"), None);
        assert_eq!(manifests.sources[0].name, "m.yaml");
    }

    #[test]
    fn what_is_not_an_object_is_refused_or_skipped() {
        for (text, why) in [
            ("kind: Pod\n", "m.yaml: document 1: apiVersion: missing"),
            (
                "apiVersion: ''\nkind: Pod\n",
                "document 1: apiVersion: empty",
            ),
            (
                "apiVersion: v1\nkind: 3\n",
                "document 1: kind: expected a string, found a number",
            ),
            (
                "- a\n",
                "document 1: expected a Kubernetes object, found a list",
            ),
            (
                "apiVersion: v1\nkind: List\nitems:\n- 1\n",
                "document 1: items[0]: expected a Kubernetes object, found a number",
            ),
            (
                "apiVersion: v1\nkind: PodList\nitems: 3\n",
                "document 1: items: expected a list of objects",
            ),
        ] {
            let error = format!("{:#}", read(text, false).unwrap_err());
            assert!(error.contains(why), "{text:?}: {error}");
            if !why.contains("items: expected") {
                let lenient = read(text, true).unwrap();
                assert!(lenient.objects.is_empty());
                assert_eq!(lenient.skipped.len(), 1, "{text:?}");
                assert!(lenient.skipped[0].contains(why), "{:?}", lenient.skipped);
            }
        }
        // A kind ending in List without items is an object like any other.
        assert_eq!(
            read("apiVersion: v1\nkind: PodList\n", false)
                .unwrap()
                .objects
                .len(),
            1
        );
    }

    #[test]
    fn places_restart_with_each_document_and_aliases_take_their_slot() {
        let places = places_of("a: &x 1\nb: *x\nc: 2\n---\nd: [1, {e: f}]\n").unwrap();
        assert_eq!(places.len(), 2);
        assert!(places[0].contains_key("/c") && !places[0].contains_key("/b"));
        assert_eq!(places[0]["/c"].value.start.line(), 3);
        assert!(!places[1].contains_key("/a"));
        assert!(places[1]["/d/1/e"].flow);
        assert!(!places[0]["/a"].flow);
        let text = "é: [x]\n";
        assert_eq!(CharIndex::new(text).byte(4), 5);
        assert_eq!(CharIndex::new(text).at(3), Some('['));
    }

    #[test]
    fn merge_keys_apply_and_duplicate_keys_are_refused() {
        let documents = parse_documents("a: &d {x: 1}\nb:\n  <<: *d\n  y: 2\n").unwrap();
        assert_eq!(documents[0]["b"], json!({"x": 1, "y": 2}));
        let error = format!("{:#}", parse_documents("a: 1\na: 2\n").unwrap_err());
        assert!(error.contains("duplicate entry with key \"a\""), "{error}");
    }

    #[test]
    fn folders_are_searched_for_manifests_only() {
        let dir = std::env::temp_dir().join(format!("ip-files-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for file in [
            "b.yaml",
            "a.json",
            "sub/c.yml",
            "notes.txt",
            "sub/d.yaml.bak",
        ] {
            std::fs::write(dir.join(file), "").unwrap();
        }
        std::fs::create_dir_all(dir.join("e.yaml")).unwrap();
        let found = manifest_files(&dir).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.json", "b.yaml", "sub/c.yml"]);
        let manifests = Manifests::read(&[dir.display().to_string()]).unwrap();
        assert_eq!(manifests.sources.len(), 3);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
