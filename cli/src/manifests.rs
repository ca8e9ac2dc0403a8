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
                            check_object(item)
                                .map_err(|e| anyhow::anyhow!(at(&format!("items[{i}]: {e}"))))?;
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

    /// Where `pointer` (relative to `object`) is in its source, if known.
    pub fn place(&self, object: &Object, pointer: &str) -> Option<Place> {
        let places = self.places.get(&(object.source, object.document))?;
        places.get(&format!("{}{pointer}", object.prefix)).copied()
    }
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

pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `.yaml`, `.yml` and `.json` files under `dir`, recursively, in path order.
fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>> {
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
            Event::DocumentStart(_) => {
                places = Places::new();
                stack.clear();
            }
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
