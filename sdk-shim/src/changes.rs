//! What a mutation changed, leaf by leaf: the case tables' `mutated` expectations, and the
//! changes the CLI and the playground write back into a manifest's text.

use serde_json::Value;
use std::collections::BTreeMap;

/// What `after` changes in `before`: pointer -> new value (`null` when removed). Arrays of
/// another length are one change of the whole array.
pub fn changes(before: &Value, after: &Value) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    diff(before, after, &mut String::new(), &mut found);
    found
}

fn diff(before: &Value, after: &Value, at: &mut String, found: &mut BTreeMap<String, Value>) {
    let len = at.len();
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, value) in new {
                push_token(at, key);
                diff(old.get(key).unwrap_or(&Value::Null), value, at, found);
                at.truncate(len);
            }
            for key in old.keys().filter(|k| !new.contains_key(*k)) {
                push_token(at, key);
                found.insert(at.clone(), Value::Null);
                at.truncate(len);
            }
        }
        (Value::Array(old), Value::Array(new)) if old.len() == new.len() => {
            for (i, (old, new)) in old.iter().zip(new).enumerate() {
                at.push_str(&format!("/{i}"));
                diff(old, new, at, found);
                at.truncate(len);
            }
        }
        _ if before == after => {}
        _ => {
            found.insert(at.clone(), after.clone());
        }
    }
}

fn push_token(pointer: &mut String, key: &str) {
    pointer.push('/');
    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_name_each_changed_leaf() {
        let before = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}], "x/y": 1}});
        let after = json!({"spec": {"containers": [{"image": "a"}, {"image": "c", "imagePullPolicy": "Always"}], "x/y": 2, "s": [1]}});
        let found = changes(&before, &after);
        assert_eq!(
            found,
            BTreeMap::from([
                ("/spec/containers/1/image".to_string(), json!("c")),
                (
                    "/spec/containers/1/imagePullPolicy".to_string(),
                    json!("Always")
                ),
                ("/spec/x~1y".to_string(), json!(2)),
                ("/spec/s".to_string(), json!([1])),
            ])
        );
        let shorter = changes(&json!({"a": [1, 2]}), &json!({"a": [1]}));
        assert_eq!(shorter, BTreeMap::from([("/a".to_string(), json!([1]))]));
        let removed = changes(&json!({"a": 1, "b": 2}), &json!({"a": 1}));
        assert_eq!(removed, BTreeMap::from([("/b".to_string(), Value::Null)]));
        assert!(changes(&before, &before).is_empty());
    }
}
