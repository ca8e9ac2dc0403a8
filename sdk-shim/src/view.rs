//! Borrowed, typed views of exactly what the rules read in an object, decoded straight from the
//! request's JSON text; everything else (`managedFields`, env, probes, annotations) is skipped
//! with [`IgnoredAny`], without allocating.
//!
//! A view never fails on an unexpected JSON type: it records what it found ([`Shape`]), and the
//! walker ([`crate::workload`]) turns that into the same message as for any malformed object.
//! Strings are borrowed from the request; the one thing a view cannot borrow is a string written
//! with escapes (`"ngin\u0078"`), and then the object is parsed into a [`Value`] tree once and
//! read from there by the same code ([`Object::read`]). Custom resources (JSONPath over the
//! tree) and mutations (a patched copy of the object) need the tree as well.

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::cell::OnceCell;
use std::fmt;

/// What a JSON value is, where a rule expects an object (or a list): `Is` the expected thing,
/// else `null` or the name of what it is (`"a string"`), for messages.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape<T> {
    Is(T),
    Null,
    Not(&'static str),
}

impl<T> Shape<T> {
    /// `"null"` or what it is: for "must be an object, found …".
    pub(crate) fn found(&self) -> &'static str {
        match self {
            Shape::Is(_) => "the expected type",
            Shape::Null => "null",
            Shape::Not(what) => what,
        }
    }
}

/// The fields of a container the rules read (and of an image volume's `image`, whose fields are
/// `reference` and `pullPolicy`). A field that is not a string reads as missing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ContainerView<'a> {
    pub name: Option<&'a str>,
    pub image: Option<&'a str>,
    pub pull_policy: Option<&'a str>,
}

/// `volumes[]`: its name and, for an OCI image volume, the `image` object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VolumeView<'a> {
    pub name: Option<&'a str>,
    pub image: Option<Shape<ContainerView<'a>>>,
}

/// A list field: missing, or its shape and, for a list, each element's.
pub(crate) type List<T> = Option<Shape<Vec<Shape<T>>>>;

/// A pod spec: its container lists (in [`crate::workload::ContainerKind::FIELDS`] order), its
/// volumes, and the pod-level fields a rule reads, as written ([`POD_FIELDS`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PodSpecView<'a> {
    pub lists: [List<ContainerView<'a>>; 3],
    pub volumes: List<VolumeView<'a>>,
    pub fields: Map<String, Value>,
}

/// The pod-level fields kept in [`PodSpecView::fields`]: what require-pull-secret reads.
pub const POD_FIELDS: [&str; 3] = ["imagePullSecrets", "serviceAccountName", "serviceAccount"];

/// Reads one JSON value of an expected type; every other type becomes a [`Shape`].
pub(crate) trait Reader<'de>: Sized {
    type Out;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape<Self::Out>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Shape::Not("an object"))
    }

    fn list<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape<Self::Out>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Shape::Not("a list"))
    }
}

/// A [`Reader`] as a serde seed.
pub(crate) struct Read<R>(pub R);

impl<'de, R: Reader<'de>> DeserializeSeed<'de> for Read<R> {
    type Value = Shape<R::Out>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, R: Reader<'de>> Visitor<'de> for Read<R> {
    type Value = Shape<R::Out>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.object(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.list(seq)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Shape::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Shape::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Shape::Not("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Shape::Not("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Shape::Not("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Shape::Not("a number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Shape::Not("a string"))
    }
}

/// Which of `names` a map key is (keys are compared unescaped, as a [`Value`] would hold them).
struct Key<'n>(&'n [&'n str]);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Option<usize>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|name| *name == key))
    }
}

/// Marks the one error a view returns: a string it cannot borrow.
const ESCAPED: &str = "a string with escapes cannot be borrowed";

/// A string field, borrowed; any other type reads as missing (`None`).
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Option<&'de str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Option<&'de str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Some(text))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(E::custom(ESCAPED))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Skip.object(map).map(|_| None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Skip.list(seq).map(|_| None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Skips any value.
struct Skip;

impl Reader<'_> for Skip {
    type Out = ();
}

/// A container object, whose three fields have these names.
#[derive(Clone, Copy)]
pub(crate) struct ContainerReader(pub [&'static str; 3]);

impl ContainerReader {
    pub const CONTAINER: Self = ContainerReader(["name", "image", "imagePullPolicy"]);
    /// An image volume's `image`: it has no name (the volume has).
    const VOLUME_IMAGE: Self = ContainerReader(["", "reference", "pullPolicy"]);
}

impl<'de> Reader<'de> for ContainerReader {
    type Out = ContainerView<'de>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape<Self::Out>, A::Error> {
        let mut view = ContainerView::default();
        while let Some(key) = map.next_key_seed(Key(&self.0))? {
            let value = match key {
                Some(_) => map.next_value_seed(Text)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            // A repeated key: the last one counts, as in a `Value`.
            match key {
                Some(0) => view.name = value,
                Some(1) => view.image = value,
                _ => view.pull_policy = value,
            }
        }
        Ok(Shape::Is(view))
    }
}

/// A list of what `R` reads.
#[derive(Clone, Copy)]
struct ListReader<R>(R);

impl<'de, R: Reader<'de> + Copy> Reader<'de> for ListReader<R> {
    type Out = Vec<Shape<R::Out>>;

    fn list<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape<Self::Out>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Read(self.0))? {
            items.push(item);
        }
        Ok(Shape::Is(items))
    }
}

#[derive(Clone, Copy)]
struct VolumeReader;

impl<'de> Reader<'de> for VolumeReader {
    type Out = VolumeView<'de>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape<Self::Out>, A::Error> {
        let mut view = VolumeView {
            name: None,
            image: None,
        };
        while let Some(key) = map.next_key_seed(Key(&["name", "image"]))? {
            match key {
                Some(0) => view.name = map.next_value_seed(Text)?,
                Some(_) => {
                    view.image = Some(map.next_value_seed(Read(ContainerReader::VOLUME_IMAGE))?)
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Shape::Is(view))
    }
}

/// A pod spec.
#[derive(Clone, Copy)]
pub(crate) struct PodSpecReader;

const POD_SPEC_KEYS: [&str; 7] = [
    "containers",
    "initContainers",
    "ephemeralContainers",
    "volumes",
    POD_FIELDS[0],
    POD_FIELDS[1],
    POD_FIELDS[2],
];

impl<'de> Reader<'de> for PodSpecReader {
    type Out = PodSpecView<'de>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape<Self::Out>, A::Error> {
        let mut view = PodSpecView::default();
        while let Some(key) = map.next_key_seed(Key(&POD_SPEC_KEYS))? {
            match key {
                Some(list @ 0..=2) => {
                    view.lists[list] =
                        Some(map.next_value_seed(Read(ListReader(ContainerReader::CONTAINER)))?)
                }
                Some(3) => view.volumes = Some(map.next_value_seed(Read(ListReader(VolumeReader)))?),
                Some(field) => {
                    let value: Value = map.next_value()?;
                    view.fields.insert(POD_SPEC_KEYS[field].to_string(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Shape::Is(view))
    }
}

/// The pod spec at `path` (object keys from the root), as `Value::pointer` finds it: `None`
/// when a step is missing or not an object.
#[derive(Clone, Copy)]
pub(crate) struct PodSpecAt(pub &'static [&'static str]);

impl<'de> Reader<'de> for PodSpecAt {
    type Out = Option<Shape<PodSpecView<'de>>>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape<Self::Out>, A::Error> {
        let Some((step, rest)) = self.0.split_first() else {
            return Ok(Shape::Is(Some(PodSpecReader.object(map)?)));
        };
        let mut found = None;
        while let Some(key) = map.next_key_seed(Key(&[step]))? {
            match key {
                Some(_) if rest.is_empty() => found = Some(map.next_value_seed(Read(PodSpecReader))?),
                Some(_) => {
                    found = match map.next_value_seed(Read(PodSpecAt(rest)))? {
                        Shape::Is(inner) => inner,
                        Shape::Null | Shape::Not(_) => None,
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Shape::Is(found))
    }
}

/// The string at `path` (object keys from the root), as `Value::pointer` finds it.
#[derive(Clone, Copy)]
struct StringAt(&'static [&'static str]);

impl<'de> Reader<'de> for StringAt {
    type Out = Option<String>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape<Self::Out>, A::Error> {
        let Some((step, rest)) = self.0.split_first() else {
            return Ok(Shape::Not("an object"));
        };
        let mut found = None;
        while let Some(key) = map.next_key_seed(Key(&[step]))? {
            found = match key {
                Some(_) if rest.is_empty() => match map.next_value::<Value>()? {
                    Value::String(text) => Some(text),
                    _ => None,
                },
                Some(_) => match map.next_value_seed(Read(StringAt(rest)))? {
                    Shape::Is(inner) => inner,
                    Shape::Null | Shape::Not(_) => None,
                },
                None => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
        }
        Ok(Shape::Is(found))
    }
}

/// One object of the request: its JSON text as sent and, once something needs it, its tree.
#[derive(Clone, Copy)]
pub struct Object<'a> {
    text: Option<&'a RawValue>,
    tree: &'a OnceCell<Result<Value, String>>,
}

impl<'a> Object<'a> {
    pub fn new(text: Option<&'a RawValue>, tree: &'a OnceCell<Result<Value, String>>) -> Self {
        Object { text, tree }
    }

    /// The object as a tree, parsed on first use (`null` when the request has none).
    pub fn tree(&self) -> Result<&'a Value, String> {
        self.tree
            .get_or_init(|| match self.text {
                None => Ok(Value::Null),
                Some(text) => serde_json::from_str(text.get())
                    .map_err(|e| format!("cannot read the object: {e}")),
            })
            .as_ref()
            .map_err(String::clone)
    }

    /// Reads the object with `reader`: from the text, else (a string with escapes, or the tree
    /// already parsed) from the tree.
    pub(crate) fn read<R: Reader<'a> + Copy>(&self, reader: R) -> Result<Shape<R::Out>, String> {
        if let (Some(text), None) = (self.text, self.tree.get()) {
            let mut json = serde_json::Deserializer::from_str(text.get());
            match Read(reader).deserialize(&mut json) {
                Ok(shape) => return Ok(shape),
                Err(e) if e.to_string().starts_with(ESCAPED) => {}
                Err(e) => return Err(format!("cannot read the object: {e}")),
            }
        }
        Read(reader)
            .deserialize(self.tree()?)
            .map_err(|e| format!("cannot read the object: {e}"))
    }

    /// `metadata.namespace` of the object, if it has one.
    pub fn namespace(&self) -> Option<String> {
        match self.read(StringAt(&["metadata", "namespace"])) {
            Ok(Shape::Is(namespace)) => namespace,
            _ => None,
        }
    }
}

/// Reads a value of a tree (a custom resource's container or pod spec) with `reader`.
pub(crate) fn read_tree<'a, R: Reader<'a>>(value: &'a Value, reader: R) -> Shape<R::Out> {
    // A tree holds every string unescaped, so nothing can fail.
    Read(reader)
        .deserialize(value)
        .unwrap_or(Shape::Not("unreadable"))
}

/// The trees of a request's objects, each parsed only when something needs it.
#[derive(Debug, Default)]
pub struct Trees {
    pub(crate) object: OnceCell<Result<Value, String>>,
    pub(crate) old_object: OnceCell<Result<Value, String>>,
}

impl Trees {
    /// The object's tree, if something parsed it (a mutation can then patch it in place).
    pub fn into_object(self) -> Option<Result<Value, String>> {
        self.object.into_inner()
    }
}
