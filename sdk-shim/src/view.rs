//! Borrowed, typed views of exactly what the rules read in an object, decoded straight from the
//! request's JSON text; everything else (`managedFields`, env, probes, annotations) is skipped
//! with [`IgnoredAny`], without allocating. Skipping checks the JSON grammar but not what a
//! `Value` would refuse besides (a number out of range, a lone surrogate, nesting past 128), as
//! the API server skips the fields it does not know; text copied into a mutated object is
//! checked first ([`crate::patch::check_readable`]).
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
pub enum Shape<T> {
    Is(T),
    Null,
    Not(&'static str),
}

impl<T> Shape<T> {
    /// `"null"` or what it is: for "must be an object, found …".
    pub fn found(&self) -> &'static str {
        match self {
            Shape::Is(_) => "the expected type",
            Shape::Null => "null",
            Shape::Not(what) => what,
        }
    }
}

/// The fields of a container the rules read (and of an image volume's `image`, whose fields are
/// `reference` and `pullPolicy`). A field that is not a string reads as missing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContainerView<'a> {
    pub name: Option<&'a str>,
    pub image: Option<&'a str>,
    pub pull_policy: Option<&'a str>,
    /// No pull-policy member at all (a mutation may add one).
    pub pull_policy_absent: bool,
}

/// `volumes[]`: its name and, for an OCI image volume, the `image` object.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeView<'a> {
    pub name: Option<&'a str>,
    pub image: Option<Shape<ContainerView<'a>>>,
}

/// A list field: missing, or its shape and, for a list, each element's.
pub type List<T> = Option<Shape<Vec<Shape<T>>>>;

/// A pod spec: its container lists (in [`crate::workload::ContainerKind::FIELDS`] order), its
/// volumes, and the pod-level fields a rule reads, as written ([`POD_FIELDS`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodSpecView<'a> {
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
pub(crate) struct Key<'n>(pub &'n [&'n str]);

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

/// Which of `names` a map key is, and where it lies (address and length of its contents) when
/// it is written without escapes.
pub(crate) struct KeyAt<'n>(pub &'n [&'n str]);

impl<'de> DeserializeSeed<'de> for KeyAt<'_> {
    type Value = (Option<usize>, Option<(usize, usize)>);

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyAt<'_> {
    type Value = (Option<usize>, Option<(usize, usize)>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        let field = self.0.iter().position(|name| *name == key);
        Ok((field, Some((key.as_ptr() as usize, key.len()))))
    }
    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok((self.0.iter().position(|name| *name == key), None))
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
        let mut view = ContainerView {
            name: None,
            image: None,
            pull_policy: None,
            pull_policy_absent: true,
        };
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
                _ => {
                    view.pull_policy = value;
                    view.pull_policy_absent = false;
                }
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
                Some(3) => {
                    view.volumes = Some(map.next_value_seed(Read(ListReader(VolumeReader)))?)
                }
                Some(field) => {
                    let value = map.next_value_seed(crate::tree::TreeSeed)?;
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
                Some(_) if rest.is_empty() => {
                    found = Some(map.next_value_seed(Read(PodSpecReader))?)
                }
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

/// A request object as the rules see it: its `metadata.namespace` and the pod spec at the
/// kind's path (`None` when a step is missing or not an object).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RootView<'a> {
    pub namespace: Option<String>,
    pub pod_spec: Option<Shape<PodSpecView<'a>>>,
}

/// Reads a [`RootView`] whose pod spec is at `path` (at least one step).
#[derive(Clone, Copy)]
pub(crate) struct RootReader(pub &'static [&'static str]);

impl<'de> Reader<'de> for RootReader {
    type Out = RootView<'de>;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape<Self::Out>, A::Error> {
        let mut view = RootView::default();
        let (first, rest) = self.0.split_first().unwrap_or((&"", &[]));
        while let Some(key) = map.next_key_seed(Key(&["metadata", first]))? {
            match key {
                Some(0) => {
                    view.namespace = match map.next_value_seed(Read(StringAt(&["namespace"])))? {
                        Shape::Is(namespace) => namespace,
                        Shape::Null | Shape::Not(_) => None,
                    }
                }
                Some(_) if rest.is_empty() => {
                    view.pod_spec = Some(map.next_value_seed(Read(PodSpecReader))?)
                }
                Some(_) => {
                    view.pod_spec = match map.next_value_seed(Read(PodSpecAt(rest)))? {
                        Shape::Is(inner) => inner,
                        Shape::Null | Shape::Not(_) => None,
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Shape::Is(view))
    }
}

/// A request object as decoded with the request.
#[derive(Debug, Clone, Default)]
pub enum ObjectSource<'a> {
    /// Missing or `null`.
    #[default]
    Missing,
    /// Its JSON text, read when needed.
    Text(&'a RawValue),
    /// Read in the same pass as the request (see [`crate::request::AdmissionRequest::with_views`]).
    /// Where its text lies in the payload, as addresses: `key_end`, its key's closing quote,
    /// and `next_key`, the next key's opening one, when the keys told (see [`value_between`]);
    /// with only `key_end` (the last member), the text is skipped over from there. Otherwise
    /// the text is read again from the payload when needed.
    Viewed {
        view: Shape<RootView<'a>>,
        key_end: Option<usize>,
        next_key: Option<usize>,
    },
}

#[cfg(test)]
impl ObjectSource<'_> {
    /// The tree of an object decoded as text (tests only).
    pub(crate) fn text_tree(&self) -> Value {
        serde_json::from_str(self.text().expect("an object").get()).expect("JSON")
    }

    /// The text of an object decoded as text (tests only).
    pub(crate) fn text(&self) -> Option<&RawValue> {
        match self {
            ObjectSource::Text(text) => Some(text),
            other => panic!("not decoded as text: {other:?}"),
        }
    }
}

/// Decodes an [`ObjectSource`]: a view when the kind's pod spec path is known, else the text.
pub(crate) struct SourceSeed(pub Option<&'static [&'static str]>);

impl<'de> DeserializeSeed<'de> for SourceSeed {
    type Value = ObjectSource<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        use serde::Deserialize;
        Ok(match self.0 {
            Some(path) => ObjectSource::Viewed {
                view: Read(RootReader(path)).deserialize(d)?,
                key_end: None,
                next_key: None,
            },
            None => match Option::<&RawValue>::deserialize(d)? {
                Some(text) => ObjectSource::Text(text),
                None => ObjectSource::Missing,
            },
        })
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
                Some(_) if rest.is_empty() => match map.next_value_seed(crate::tree::TreeSeed)? {
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

/// One object of the request: as decoded, and once something needs it, its tree.
#[derive(Clone, Copy)]
pub struct Object<'a> {
    source: &'a ObjectSource<'a>,
    tree: &'a OnceCell<Result<Value, String>>,
    /// The payload the request came from, to find a viewed object's text again.
    payload: Option<&'a [u8]>,
    old: bool,
}

/// Finds the objects' text in a payload again (only for a mutation or a tree of a viewed object).
#[derive(serde::Deserialize)]
struct PayloadText<'a> {
    #[serde(borrow)]
    request: RequestText<'a>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestText<'a> {
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
    #[serde(borrow, default)]
    old_object: Option<&'a RawValue>,
}

impl<'a> Object<'a> {
    /// The request's object (`old`: its old object) from `source`, with the trees of `trees`.
    pub fn new(source: &'a ObjectSource<'a>, trees: &'a Trees<'a>, old: bool) -> Self {
        Object {
            source,
            tree: if old {
                &trees.old_object
            } else {
                &trees.object
            },
            payload: trees.payload,
            old,
        }
    }

    /// The object's JSON text (`None` when missing or `null`).
    pub fn text(&self) -> Result<Option<&'a str>, String> {
        let (key_end, next_key) = match self.source {
            ObjectSource::Missing => return Ok(None),
            ObjectSource::Text(text) => return Ok(Some(text.get())),
            ObjectSource::Viewed {
                key_end, next_key, ..
            } => (*key_end, *next_key),
        };
        let payload = self
            .payload
            .ok_or("the request was decoded without its payload")?;
        if let Some(text) = key_end
            .zip(next_key)
            .and_then(|span| value_between(payload, span))
        {
            return Ok(Some(text));
        }
        if let Some(text) = key_end.and_then(|at| value_after(payload, at)) {
            return Ok(Some(text));
        }
        let found: PayloadText = serde_json::from_slice(payload)
            .map_err(|e| format!("cannot read the admission request: {e}"))?;
        let text = match self.old {
            true => found.request.old_object,
            false => found.request.object,
        };
        Ok(text.map(RawValue::get))
    }

    /// The object as a tree, parsed on first use (`null` when the request has none).
    pub fn tree(&self) -> Result<&'a Value, String> {
        self.tree
            .get_or_init(|| match self.text()? {
                None => Ok(Value::Null),
                Some(text) => crate::tree::from_slice(text.as_bytes())
                    .map_err(|e| format!("cannot read the object: {e}")),
            })
            .as_ref()
            .map_err(String::clone)
    }

    /// The object's view with its pod spec at `path` (a built-in kind's).
    pub(crate) fn root(
        &self,
        path: &'static [&'static str],
    ) -> Result<std::borrow::Cow<'a, Shape<RootView<'a>>>, String> {
        match self.source {
            ObjectSource::Viewed { view, .. } => Ok(std::borrow::Cow::Borrowed(view)),
            _ => self.read(RootReader(path)).map(std::borrow::Cow::Owned),
        }
    }

    /// Reads the object with `reader`: from the text, else (a string with escapes, or the tree
    /// already parsed) from the tree.
    pub(crate) fn read<R: Reader<'a> + Copy>(&self, reader: R) -> Result<Shape<R::Out>, String> {
        if let (ObjectSource::Text(text), None) = (self.source, self.tree.get()) {
            if let Ok((shape, _)) =
                crate::json::from_slice_seed(text.get().as_bytes(), Read(reader))
            {
                return Ok(shape);
            }
        }
        Read(reader)
            .deserialize(self.tree()?)
            .map_err(|e| format!("cannot read the object: {e}"))
    }

    /// `metadata.namespace` of the object, if it has one.
    pub fn namespace(&self) -> Option<String> {
        if let ObjectSource::Viewed {
            view: Shape::Is(view),
            ..
        } = self.source
        {
            return view.namespace.clone();
        }
        match self.read(StringAt(&["metadata", "namespace"])) {
            Ok(Shape::Is(namespace)) => namespace,
            _ => None,
        }
    }
}

/// The value of a map member in `payload` from the addresses `(after its key, at the next key)`:
/// JSON allows only `" ws : ws VALUE ws , ws "` there (the key's closing quote, the next key's
/// opening one), so the value is that text trimmed. `None` if the span is not in `payload`.
pub(crate) fn value_between(payload: &[u8], (from, to): (usize, usize)) -> Option<&str> {
    let base = payload.as_ptr() as usize;
    let around = payload.get(from.checked_sub(base)?..to.checked_sub(base)?)?;
    let around = std::str::from_utf8(around).ok()?;
    let space: &[char] = &[' ', '\t', '\n', '\r'];
    let value = around
        .strip_prefix('"')?
        .trim_start_matches(space)
        .strip_prefix(':')?
        .strip_suffix('"')?
        .trim_end_matches(space)
        .strip_suffix(',')?
        .trim_matches(space);
    Some(value)
}

/// The value of a map member in `payload` from the address of its key's closing quote, skipped
/// over by the fast reader (the payload was read whole before, so this only finds its end).
/// `None` if the address is not in `payload`.
pub(crate) fn value_after(payload: &[u8], key_end: usize) -> Option<&str> {
    let rest = payload.get(key_end.checked_sub(payload.as_ptr() as usize)?..)?;
    crate::json::member_value(rest)
}

/// Reads a value of a tree (a custom resource's container or pod spec) with `reader`.
pub(crate) fn read_tree<'a, R: Reader<'a>>(value: &'a Value, reader: R) -> Shape<R::Out> {
    // A tree holds every string unescaped, so nothing can fail.
    Read(reader)
        .deserialize(value)
        .unwrap_or(Shape::Not("unreadable"))
}

/// The trees of a request's objects, each parsed only when something needs it, and the payload
/// their text can be found in again.
#[derive(Debug, Default)]
pub struct Trees<'a> {
    pub(crate) object: OnceCell<Result<Value, String>>,
    pub(crate) old_object: OnceCell<Result<Value, String>>,
    payload: Option<&'a [u8]>,
}

impl<'a> Trees<'a> {
    /// Trees of the objects of the request decoded from `payload` (a `validate` payload).
    pub fn of_payload(payload: &'a [u8]) -> Self {
        Trees {
            payload: Some(payload),
            ..Trees::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::request::{AdmissionRequest, ValidationPayload};
    use crate::testing::read_request_value;
    use crate::view::Trees;
    use crate::workload::Workload;
    use serde_json::{json, Value};
    use std::path::Path;

    /// What a walk found, as text: the namespace, every container and pod spec, or the error.
    fn walked(mut request: AdmissionRequest, trees: &Trees) -> String {
        request.read_object_namespace(trees);
        let namespace = format!("{:?}", request.namespace());
        match Workload::from_request(&request, &[], trees) {
            Ok(workload) => format!(
                "{namespace}\n{:?}\n{:?}",
                workload.containers, workload.pod_specs
            ),
            Err(e) => e,
        }
    }

    /// The request (without its own namespace, so that the object's is read) read as a
    /// `validate` payload (objects viewed in the same pass) and as a bare
    /// request (objects kept as text, then read): both walks must find the same.
    fn both_ways(request: &Value) -> (String, String) {
        let mut request = request.clone();
        request["namespace"] = Value::Null;
        let payload = json!({ "request": request, "settings": null }).to_string();
        let decoded: ValidationPayload<Value> = ValidationPayload::decode(payload.as_bytes())
            .unwrap_or_else(|e| panic!("{request}: {e}"));
        let viewed = walked(decoded.request, &Trees::of_payload(payload.as_bytes()));
        let text = request.to_string();
        let request: AdmissionRequest = serde_json::from_str(&text).unwrap();
        (viewed, walked(request, &Trees::default()))
    }

    #[test]
    fn viewed_and_text_objects_are_walked_alike() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data");
        let mut fixtures = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let request = read_request_value(&entry.unwrap().path());
            let (viewed, text) = both_ways(&request);
            assert_eq!(viewed, text, "{request}");
            fixtures += 1;
        }
        assert!(fixtures >= 20);
    }

    /// A Pod request whose object is `object` as written.
    fn pod(object: &str, kind_first: bool) -> String {
        let kind = r#""kind": {"group": "", "version": "v1", "kind": "Pod"}"#;
        match kind_first {
            true => {
                format!(r#"{{"request": {{{kind}, "operation": "CREATE", "object": {object}}}}}"#)
            }
            false => {
                format!(r#"{{"request": {{"operation": "CREATE", "object": {object}, {kind}}}}}"#)
            }
        }
    }

    /// (object as written, expected (name, image, pull policy) of the one container)
    #[test]
    fn strings_are_read_as_a_tree_would_hold_them() {
        let cases = [
            // Escapes: read from the tree.
            (
                r#"{"spec": {"containers": [{"name": "w\u0065b", "image": "ngin\u0078:1"}]}}"#,
                ("web", "nginx:1", None),
            ),
            (
                r#"{"spec": {"containers": [{"name": "web", "im\u0061ge": "nginx:1"}]}}"#,
                ("web", "nginx:1", None),
            ),
            // The last of repeated keys counts; a field that is not a string is missing.
            (
                r#"{"spec": {"containers": [{"name": "web", "image": "a", "image": "b",
                    "imagePullPolicy": 1}]}}"#,
                ("web", "b", None),
            ),
            (
                r#"{"spec": {"containers": [{"name": "x"}]}, "spec": {"containers": [{"name": "web",
                    "image": "c", "imagePullPolicy": "Always"}]}}"#,
                ("web", "c", Some("Always")),
            ),
        ];
        for (object, (name, image, policy)) in cases {
            for kind_first in [true, false] {
                let payload = pod(object, kind_first);
                let decoded: ValidationPayload<Value> =
                    ValidationPayload::decode(payload.as_bytes()).unwrap();
                let trees = Trees::of_payload(payload.as_bytes());
                let workload = Workload::from_request(&decoded.request, &[], &trees).unwrap();
                let found: Vec<_> = workload
                    .containers
                    .iter()
                    .map(|c| (c.name.unwrap(), c.image.unwrap(), c.pull_policy))
                    .collect();
                assert_eq!(found, vec![(name, image, policy)], "{payload}");
            }
        }
    }

    /// A viewed object's text, found between the keys around it or by reading the payload again.
    #[test]
    fn a_viewed_objects_text_is_found_as_written() {
        let object = r#"{"spec": {"containers": [{"image": "nginx"}]}, "x": [1, "}"]}"#;
        let kind = r#""kind": {"kind": "Pod", "version": "v1"}"#;
        let payloads = [
            format!(r#"{{"request": {{{kind}, "object": {object}, "oldObject": null}}}}"#),
            format!(
                "{{\"request\": {{{kind},\n  \"object\" :\t{object}\r\n ,\n \"uid\": \"1\"}}}}"
            ),
            // The last member: no key after it, so the payload is read again.
            format!(r#"{{"request": {{{kind}, "object": {object}}}, "settings": {{}}}}"#),
            // The next key has escapes: the same.
            format!(r#"{{"request": {{{kind}, "object": {object}, "\u0075id": "1"}}}}"#),
        ];
        for (i, payload) in payloads.iter().enumerate() {
            let decoded: ValidationPayload<Value> =
                ValidationPayload::decode(payload.as_bytes()).unwrap();
            let crate::view::ObjectSource::Viewed {
                key_end, next_key, ..
            } = decoded.request.object
            else {
                panic!("not viewed: {payload}");
            };
            // The first two have a plain key after the object: the text is found between them.
            let between = key_end
                .zip(next_key)
                .and_then(|span| super::value_between(payload.as_bytes(), span));
            assert_eq!(between, (i < 2).then_some(object), "{payload}");
            let trees = Trees::of_payload(payload.as_bytes());
            let text = decoded.request.object(&trees).text().unwrap();
            assert_eq!(text, Some(object), "{payload}");
        }
    }

    #[test]
    fn a_last_members_value_is_skipped_over_from_its_key() {
        let object = r#"{"spec": {"containers": [{"name": "a", "image": "b\"c"}]}, "n": [1, -2.5e3, true, null]}"#;
        for after_key in [":", " :", "\n:\t ", " : "] {
            let payload = format!(r#"{{"request": {{"object"{after_key}{object}  }}, "x": 1}}"#);
            let bytes = payload.as_bytes();
            let quote = payload.find("\"object\"").unwrap() + "\"object".len();
            let address = bytes.as_ptr() as usize + quote;
            assert_eq!(
                super::value_after(bytes, address),
                Some(object),
                "{payload}"
            );
            // Not at a key's closing quote, or outside the payload: nothing.
            assert_eq!(super::value_after(bytes, address + 1), None, "{payload}");
            assert_eq!(super::value_after(bytes, address - quote - 1), None);
            assert_eq!(super::value_after(bytes, address + bytes.len()), None);
        }
        // The request records where the last member's key ends, so its text is found that way
        // (an object with escapes is not viewed: it is read as text).
        let object = r#"{"spec": {"containers": [{"name": "a", "image": "b"}]}, "n": [1, null]}"#;
        let payload = format!(
            r#"{{"request": {{"kind": {{"group": "", "version": "v1", "kind": "Pod"}}, "object" : {object}}}}}"#
        );
        let decoded: ValidationPayload<Value> =
            ValidationPayload::decode(payload.as_bytes()).unwrap();
        let crate::view::ObjectSource::Viewed {
            key_end, next_key, ..
        } = decoded.request.object
        else {
            panic!("not viewed: {payload}");
        };
        assert_eq!(next_key, None);
        let key_end = key_end.expect("the key's end");
        assert_eq!(
            key_end - payload.as_ptr() as usize,
            payload.find("\" :").unwrap()
        );
        assert_eq!(
            super::value_after(payload.as_bytes(), key_end),
            Some(object)
        );
        // A value that is not JSON is not found.
        let broken = br#""object": {"a": tru}"#;
        assert_eq!(
            super::value_after(broken, broken.as_ptr() as usize + 7),
            None
        );
    }

    #[test]
    fn a_value_lies_between_its_key_and_the_next() {
        let payload = "{\"object\" :\n{\"a\": [1, \",\"]} ,\t\"next\": 2, \"bad\" 3 \"x\"}";
        let address = |needle: &str| payload.as_ptr() as usize + payload.find(needle).unwrap();
        let (after_key, next_key) = (address("object") + 6, address("next"));
        let found = super::value_between(payload.as_bytes(), (after_key, next_key));
        assert_eq!(found, Some("{\"a\": [1, \",\"]}"));
        // Not `" : VALUE , "` around it, or not in the payload.
        let (after_bad, x) = (address("bad") + 3, address("x\""));
        assert_eq!(
            super::value_between(payload.as_bytes(), (after_bad, x)),
            None
        );
        assert_eq!(
            super::value_between(b"elsewhere", (after_key, next_key)),
            None
        );
    }

    /// What the host could not read is skipped where no rule reads it, as the API server skips
    /// fields it does not know; a mutation, which copies it, is refused with serde_json's reason.
    #[test]
    fn unreadable_json_in_skipped_fields_is_never_copied() {
        use crate::entry::{respond, Policy};
        use crate::host::{FixtureHost, Host};
        use crate::verdict::Verdict;
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NoSettings {}
        impl crate::settings::PolicySettings for NoSettings {}
        /// Pins every image to a made-up digest.
        struct Pin;
        impl Policy for Pin {
            type Settings = NoSettings;
            fn evaluate(
                _: &Self::Settings,
                request: &AdmissionRequest,
                workload: &Workload,
                _: &dyn Host,
            ) -> Verdict {
                let mut verdict = Verdict::for_request(request);
                for container in &workload.containers {
                    let image = format!("{}@sha256:0", container.image.unwrap_or_default());
                    verdict.fix(
                        container,
                        container.image_pointer(),
                        json!(image),
                        "unpinned",
                    );
                }
                verdict
            }
        }
        let deep = format!("{}1{}", "[".repeat(130), "]".repeat(130));
        for unreadable in ["1e400", r#""\ud800""#, deep.as_str(), "-1e999"] {
            let object = format!(
                r#"{{"metadata": {{"x": {unreadable}}}, "spec": {{"containers": [{{"image": "a"}}]}}}}"#
            );
            let payload = pod(&object, true);
            assert!(serde_json::from_str::<Value>(&object).is_err());
            let response = respond::<Pin>(payload.as_bytes(), &FixtureHost::default());
            assert!(!response.accepted, "{payload}");
            let message = response.message().unwrap();
            assert!(
                message.starts_with("cannot mutate the object: serde_json cannot read it: "),
                "{message}"
            );
        }
    }

    /// Request keys written with escapes are the same keys; a non-string image is missing.
    #[test]
    fn keys_with_escapes_and_images_of_other_types() {
        let payload = r#"{"request": {"\u006bind": {"kind": "Pod", "version": "v1"},
            "operation": "CREATE", "ob\u006aect": {"spec": {"containers": [
            {"name": "a", "image": {"x": [1, {"y": 2}]}}, {"name": "b", "image": [1, [2]]},
            {"name": "c", "image": null}, {"name": "d", "image": true}]}}}}"#;
        let decoded: ValidationPayload<Value> =
            ValidationPayload::decode(payload.as_bytes()).unwrap();
        assert_eq!(decoded.request.kind.kind, "Pod");
        let trees = Trees::of_payload(payload.as_bytes());
        let workload = Workload::from_request(&decoded.request, &[], &trees).unwrap();
        let found: Vec<_> = workload
            .containers
            .iter()
            .map(|c| (c.name.unwrap(), c.image))
            .collect();
        assert_eq!(found, [("a", None), ("b", None), ("c", None), ("d", None)]);
    }

    /// A pod spec that is not an object, at the end of a longer path.
    #[test]
    fn a_template_spec_that_is_no_object_is_malformed() {
        for (spec, found) in [(r#""x""#, "a string"), ("null", "null"), ("[]", "a list")] {
            let request = json!({"kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "operation": "CREATE", "object": {"spec": {"template": {"spec": 0}}}})
            .to_string()
            .replace(r#""spec":0"#, &format!(r#""spec":{spec}"#));
            let request: Value = serde_json::from_str(&request).unwrap();
            let (viewed, text) = both_ways(&request);
            let expected = format!("/spec/template/spec must be an object, found {found}");
            assert_eq!(viewed, expected);
            assert_eq!(text, expected);
            // A Pod's spec is one step from the root.
            let pod = json!({"kind": {"group": "", "version": "v1", "kind": "Pod"},
                "operation": "CREATE", "object": {"spec": serde_json::from_str::<Value>(spec).unwrap()}});
            let expected = format!("/spec must be an object, found {found}");
            assert_eq!(both_ways(&pod), (expected.clone(), expected));
        }
    }

    #[test]
    fn the_request_is_decoded_as_before() {
        let bad = [
            (
                r#"{"request": {"operation": "CREATE"}}"#,
                "missing field `kind`",
            ),
            (
                r#"{"request": {"kind": {"kind": "Pod"}, "kind": {"kind": "Pod"}}}"#,
                "duplicate field `kind`",
            ),
            (
                r#"{"request": {"kind": {"kind": "Pod"}, "object": {}, "object": {}}}"#,
                "duplicate field `object`",
            ),
            (
                r#"{"request": {"kind": {"kind": "Pod"}, "uid": 1}}"#,
                "invalid type",
            ),
            (
                r#"{"request": ["u", {"kind": "Pod"}]}"#,
                "invalid type: sequence, expected an AdmissionRequest object",
            ),
            (
                r#"{"request": {"kind": {"kind": "Pod"}, "object": {"spec": }}}"#,
                "expected value",
            ),
        ];
        for (payload, expected) in bad {
            let error = ValidationPayload::<Value>::decode(payload.as_bytes()).unwrap_err();
            assert!(error.to_string().contains(expected), "{payload}: {error}");
        }
    }
}
