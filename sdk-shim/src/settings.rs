//! Strict settings decoding: unknown fields are refused, and every error names its field.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// A policy's settings: decoded strictly (`#[serde(deny_unknown_fields)]`), then checked as a whole.
pub trait PolicySettings: DeserializeOwned + Default {
    /// Checks that need more than one field; field-level checks belong in the types.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Decodes settings from JSON bytes. Empty input and `null` mean "all defaults", which go through
/// the same validation as any other value: a policy with required settings is invalid without
/// them, never valid and enforcing nothing.
pub fn decode_settings<S: PolicySettings>(payload: &[u8]) -> Result<S, String> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return settings_from_value(Value::Null);
    }
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| format!("settings are not valid JSON: {}", strip_position(&e)))?;
    settings_from_value(value)
}

/// Decodes and validates settings from an already parsed JSON value.
pub fn settings_from_value<S: PolicySettings>(value: Value) -> Result<S, String> {
    if value.is_null() {
        let settings = S::default();
        settings.validate()?;
        return Ok(settings);
    }
    if !value.is_object() {
        return Err("settings must be an object".to_string());
    }
    let settings: S = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let why = strip_position(e.inner());
        if path == "." {
            why
        } else {
            format!("{path}: {why}")
        }
    })?;
    settings.validate()?;
    Ok(settings)
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
}
