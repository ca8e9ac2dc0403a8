//! JSON trees (`serde_json::Value`) built by a visitor of our own rather than by `Value`'s
//! `Deserialize`.
//!
//! With serde_json's `raw_value` feature (the request's objects are kept as `&RawValue` text),
//! `Value`'s own visitor treats an object whose first key is serde_json's private raw-value
//! token as a string of JSON to parse again, and so carries a second, `&str`-reading copy of
//! serde_json's parser in every module (about 20 KB of pin-digest's 364 KB). [`TreeSeed`]
//! builds the same tree without that branch: every key is an ordinary key, as the API server
//! reads it. Otherwise it builds what `Value` builds: numbers as visited (a non-finite float as
//! `null`), duplicate keys keeping the last value.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Reads any JSON value into a tree (through `deserialize_any`, which visits every JSON value
/// as one of the types below).
#[derive(Clone, Copy)]
pub struct TreeSeed;

impl<'de> DeserializeSeed<'de> for TreeSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TreeSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

/// Parses a whole JSON document into a tree, as `serde_json::from_slice::<Value>` does.
pub fn from_slice(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let tree = TreeSeed.deserialize(&mut json)?;
    json.end()?;
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_json's own `Value` makes of each document (and its error), through serde_json
    /// and through the fast reader.
    #[test]
    fn same_tree_as_serde_json() {
        let documents = [
            "null",
            "true",
            " [1, -2, 3.5, -0.0, 18446744073709551615, -9223372036854775808, 1e2] ",
            "-7",
            "1e400",
            r#"{"b": 1, "a": [{}, []], "b": "last", "é\u00e9": "\ud83d\ude00"}"#,
            r#""text with \" and \\""#,
            "[1, 2",
            "{\"a\" 1}",
            "[1] 2",
            "\"\\ud800\"",
            "01",
            "",
        ];
        let mut read = 0;
        for document in documents {
            let expected = serde_json::from_str::<Value>(document).map_err(|e| e.to_string());
            assert_eq!(
                from_slice(document.as_bytes()).map_err(|e| e.to_string()),
                expected,
                "{document}"
            );
            if let Ok(expected) = expected {
                let fast = crate::json::from_slice_seed(document.as_bytes(), TreeSeed);
                assert_eq!(fast.expect(document).0, expected, "{document}");
                read += 1;
            }
        }
        assert_eq!(read, 6, "documents serde_json reads");
    }

    /// serde_json's `Value` (with `raw_value`) reads this object as the array in its string;
    /// the API server, and this tree, read a key.
    #[test]
    fn raw_value_token_is_an_ordinary_key() {
        let document = r#"{"$serde_json::private::RawValue": "[1]"}"#;
        let tree = from_slice(document.as_bytes()).unwrap();
        assert_eq!(tree["$serde_json::private::RawValue"], "[1]");
        let fast = crate::json::from_slice_seed(document.as_bytes(), TreeSeed)
            .unwrap()
            .0;
        assert_eq!(fast, tree);
        assert_eq!(
            TreeSeed.deserialize(&tree).unwrap(),
            tree,
            "read from a tree"
        );
    }

    #[test]
    fn deep_documents_hit_serde_json_limit() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let limit = (1..200)
            .find(|&n| serde_json::from_str::<Value>(&deep(n)).is_err())
            .unwrap();
        assert!(from_slice(deep(limit - 1).as_bytes()).is_ok());
        let err = from_slice(deep(limit).as_bytes()).unwrap_err().to_string();
        assert!(err.starts_with("recursion limit exceeded"), "{err}");
    }
}
