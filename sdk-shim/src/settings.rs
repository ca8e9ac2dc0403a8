//! Strict settings decoding: unknown fields are refused, and every error names its field.
//!
//! A policy's settings object holds the policy's own fields and the fields every policy shares
//! ([`SharedSettings`]). The shim takes the shared ones out, decodes them once here, and hands
//! the rest to the policy's own type, so a policy never declares them. Settings that hold the
//! policy's own fields only are read straight from the `validate` payload's text, which every
//! evaluation pays for ([`settings_from_source`]); errors are always worded from a tree.

use crate::extract::ImageExtractor;
use crate::tree::TreeSeed;
use serde::de::DeserializeOwned;
use serde::de::DeserializeSeed;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::ops::Deref;

/// A policy's own settings: decoded strictly (`#[serde(deny_unknown_fields)]`), then checked as a whole.
pub trait PolicySettings: DeserializeOwned + Default {
    /// Checks that need more than one field; field-level checks belong in the types.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The settings every policy accepts, beside its own.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SharedSettings {
    /// `customResources`: where images live in custom resources, as JSONPath extractors
    /// (see [`crate::extract`]). Objects of the listed `apiVersion`/`kind` are judged like pods.
    pub custom_resources: Vec<ImageExtractor>,
}

impl SharedSettings {
    /// The settings keys that belong to [`SharedSettings`], as written by users.
    pub const FIELDS: &'static [&'static str] = &["customResources"];
}

/// Decoded settings: the shared fields and the policy's own, which it reads through `Deref`.
#[derive(Debug, Default)]
pub struct Settings<S> {
    pub shared: SharedSettings,
    pub own: S,
}

impl<S> Deref for Settings<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.own
    }
}

/// Decodes settings from JSON bytes. Empty input and `null` mean "all defaults", which go through
/// the same validation as any other value: a policy with required settings is invalid without
/// them, never valid and enforcing nothing.
pub fn decode_settings<S: PolicySettings>(payload: &[u8]) -> Result<Settings<S>, String> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return settings_from_value(Value::Null);
    }
    let value = crate::tree::from_slice(payload)
        .map_err(|e| format!("settings are not valid JSON: {}", strip_position(&e)))?;
    settings_from_value(value)
}

/// A `validate` payload's settings: their text where the fast reader ([`crate::json`]) read the
/// payload, else their tree ([`crate::tree`]).
#[derive(Debug)]
pub enum SettingsSource<'a> {
    Text(&'a str),
    Tree(Value),
}

impl<'de: 'a, 'a> Deserialize<'de> for SettingsSource<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Source;
        impl<'de> serde::de::Visitor<'de> for Source {
            type Value = SettingsSource<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("settings")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(SettingsSource::Text(text))
            }

            fn visit_newtype_struct<D: serde::Deserializer<'de>>(
                self,
                deserializer: D,
            ) -> Result<Self::Value, D::Error> {
                TreeSeed.deserialize(deserializer).map(SettingsSource::Tree)
            }
        }
        deserializer.deserialize_newtype_struct(crate::json::RAW_TEXT, Source)
    }
}

/// Settings from a `validate` payload (`None`: none given). Settings of the policy's own fields
/// only are read straight from their text; shared fields, and anything the fast reader leaves
/// (an error above all), take [`settings_from_value`]'s way, which words the error. Both give
/// the same settings: the reader visits as serde_json does, and a duplicate key (which a tree
/// keeps the last of) is an error there.
pub fn settings_from_source<S: PolicySettings>(
    source: Option<SettingsSource>,
) -> Result<Settings<S>, String> {
    match source {
        None => settings_from_value(Value::Null),
        Some(SettingsSource::Tree(value)) => settings_from_value(value),
        Some(SettingsSource::Text(text)) => match crate::json::from_slice::<S>(text.as_bytes()) {
            Ok(own) => {
                own.validate()?;
                Ok(Settings {
                    shared: SharedSettings::default(),
                    own,
                })
            }
            Err(_) => decode_settings(text.as_bytes()),
        },
    }
}

/// Decodes and validates settings from an already parsed JSON value.
pub fn settings_from_value<S: PolicySettings>(value: Value) -> Result<Settings<S>, String> {
    let is_shared = |key: &String| SharedSettings::FIELDS.contains(&key.as_str());
    let (shared, own) = match value {
        Value::Null => (Map::new(), Map::new()),
        // Usually no shared field is set: the policy's own fields are taken as they are.
        Value::Object(all) if !all.keys().any(is_shared) => (Map::new(), all),
        Value::Object(all) => all.into_iter().partition(|(key, _)| is_shared(key)),
        _ => return Err("settings must be an object".to_string()),
    };
    let shared: SharedSettings = decode_object(shared)?;
    let own: S = decode_object(own).map_err(|e| match e.contains("unknown field") {
        // serde lists only the policy's own fields; the shared ones are valid too.
        true => format!("{e}, or shared `{}`", SharedSettings::FIELDS.join("`, `")),
        false => e,
    })?;
    own.validate()?;
    Ok(Settings { shared, own })
}

fn decode_object<T: DeserializeOwned + Default>(object: Map<String, Value>) -> Result<T, String> {
    if object.is_empty() {
        return Ok(T::default());
    }
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| {
        let path = e.path().to_string();
        let why = strip_position(e.inner());
        if path == "." {
            why
        } else {
            format!("{path}: {why}")
        }
    })
}

/// serde_json's messages end with a position that means nothing once settings came from YAML.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::RegistryPattern;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, default)]
    struct Example {
        mutate: bool,
        allow: Vec<RegistryPattern>,
    }

    impl PolicySettings for Example {
        fn validate(&self) -> Result<(), String> {
            if self.mutate && self.allow.is_empty() {
                return Err("allow: must not be empty when mutate is true".to_string());
            }
            Ok(())
        }
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"mutat": true}"#,
                "mutat: unknown field `mutat`, expected `mutate` or `allow`",
            ),
            (
                r#"{"mutate": "yes"}"#,
                "mutate: invalid type: string \"yes\", expected a boolean",
            ),
            (
                r#"{"allow": ["ghcr.io", "nginx"]}"#,
                "allow[1]: pattern 'nginx': the first component",
            ),
            (
                r#"{"allow": "ghcr.io"}"#,
                "allow: invalid type: string \"ghcr.io\", expected a sequence",
            ),
            (
                r#"{"allow": [1]}"#,
                "allow[0]: invalid type: integer `1`, expected a string",
            ),
            (
                r#"{"mutate": true}"#,
                "allow: must not be empty when mutate is true",
            ),
            (r#"[1]"#, "settings must be an object"),
            (r#"{"#, "settings are not valid JSON"),
        ];
        for (json, expected) in cases {
            let err = decode_settings::<Example>(json.as_bytes()).unwrap_err();
            assert!(err.starts_with(expected), "{json}: {err}");
        }
    }

    #[test]
    fn settings_read_from_text_are_the_trees() {
        let texts = [
            r#"{"mutate": true, "allow": ["ghcr.io/acme", "Docker.IO/x"]}"#,
            r#"{"allow": ["gh\u0063r.io"]}"#,
            r#"{}"#,
            r#"null"#,
            // The last of a duplicate key, as a tree keeps it.
            r#"{"mutate": true, "mutate": false, "allow": ["a.io"]}"#,
            r#"{"mutate": true, "customResources": [{"apiVersion": "a/v1", "kind": "K", "paths": ["$.x"]}]}"#,
            r#"{"customResources": {}}"#,
            r#"{"mutat": true}"#,
            r#"{"mutate": "yes"}"#,
            r#"{"mutate": 1e3}"#,
            r#"{"allow": ["nginx"]}"#,
            r#"{"mutate": true}"#,
            r#"[1]"#,
            r#""x""#,
        ];
        for text in texts {
            let tree = settings_from_value::<Example>(serde_json::from_str(text).unwrap());
            let read = settings_from_source::<Example>(Some(SettingsSource::Text(text)));
            assert_eq!(format!("{read:?}"), format!("{tree:?}"), "{text}");
            let value = serde_json::from_str(text).unwrap();
            let given = settings_from_source::<Example>(Some(SettingsSource::Tree(value)));
            assert_eq!(format!("{given:?}"), format!("{tree:?}"), "{text}");
        }
        let none = settings_from_source::<Example>(None);
        let null = settings_from_value::<Example>(Value::Null);
        assert_eq!(format!("{none:?}"), format!("{null:?}"));
        assert!(settings_from_source::<Required>(None).is_err());
        // Settings of own fields only are read from the text, without a tree.
        assert!(crate::json::from_slice::<Example>(texts[0].as_bytes()).is_ok());
    }

    #[test]
    fn a_payloads_settings_are_their_text_or_serde_jsons_tree() {
        let payload = br#"{"settings": {"mutate": true} }"#;
        #[derive(Debug, Deserialize)]
        struct Payload<'a> {
            #[serde(borrow)]
            settings: SettingsSource<'a>,
        }
        let fast = crate::json::from_slice::<Payload>(payload).unwrap();
        assert!(matches!(
            fast.settings,
            SettingsSource::Text(r#"{"mutate": true}"#)
        ));
        let slow = serde_json::from_slice::<Payload>(payload).unwrap();
        assert!(
            matches!(slow.settings, SettingsSource::Tree(Value::Object(o)) if o["mutate"] == true)
        );
    }

    #[test]
    fn empty_and_null_mean_defaults() {
        for json in ["", "null", "{}", "  "] {
            let settings = decode_settings::<Example>(json.as_bytes()).unwrap();
            assert!(!settings.mutate && settings.allow.is_empty());
        }
    }

    /// Settings whose defaults are invalid (a required field).
    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Required {
        registries: Vec<String>,
    }

    impl PolicySettings for Required {
        fn validate(&self) -> Result<(), String> {
            match self.registries.is_empty() {
                true => Err("registries: required".to_string()),
                false => Ok(()),
            }
        }
    }

    #[test]
    fn empty_and_null_are_validated_like_any_value() {
        for json in ["", "null", "{}", " \n "] {
            let err = decode_settings::<Required>(json.as_bytes()).unwrap_err();
            assert_eq!(err, "registries: required", "{json:?}");
        }
        assert!(settings_from_value::<Required>(Value::Null).is_err());
        decode_settings::<Required>(br#"{"registries": ["x"]}"#).unwrap();
    }

    #[test]
    fn shared_fields_are_taken_out_before_the_policys_own() {
        let settings = decode_settings::<Example>(
            br#"{"mutate": true, "allow": ["ghcr.io"], "customResources": [{"apiVersion": "a/v1", "kind": "K", "paths": ["$.spec.image"]}]}"#,
        )
        .unwrap();
        assert!(settings.mutate);
        assert_eq!(settings.shared.custom_resources.len(), 1);
        assert!(settings.shared.custom_resources[0].applies_to("a/v1", "K"));
        let only_shared = decode_settings::<Example>(
            br#"{"customResources": [{"apiVersion": "a/v1", "kind": "K", "paths": ["$.x"]}]}"#,
        )
        .unwrap();
        assert!(!only_shared.mutate && only_shared.shared.custom_resources.len() == 1);
        let cases = [
            (
                r#"{"customResources": [{"apiVersion": "a/v1", "kind": "K", "paths": []}]}"#,
                "customResources[0]: paths for a/v1/K must list at least one JSONPath",
            ),
            (
                r#"{"customResources": {}}"#,
                "customResources: invalid type: map, expected a sequence",
            ),
            (
                r#"{"customResource": []}"#,
                "customResource: unknown field `customResource`, expected `mutate` or `allow`, or shared `customResources`",
            ),
        ];
        for (json, expected) in cases {
            let err = decode_settings::<Example>(json.as_bytes()).unwrap_err();
            assert_eq!(err, expected, "{json}");
        }
        // The policy's own validation runs when only shared fields are given.
        let err = decode_settings::<Required>(br#"{"customResources": []}"#).unwrap_err();
        assert_eq!(err, "registries: required");
    }
}
