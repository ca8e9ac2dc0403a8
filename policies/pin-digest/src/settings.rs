use sdk_shim::pattern::ImagePattern;
use sdk_shim::settings::PolicySettings;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Settings {
    /// Resolve unpinned tags to their digest through the host and patch the image, instead of rejecting.
    pub mutate: bool,
    /// Images never checked, e.g. `registry.k8s.io/pause:*`.
    pub exempt_images: Vec<ImagePattern>,
}

impl PolicySettings for Settings {}

#[cfg(test)]
mod tests {
    use super::*;
    use sdk_shim::settings::decode_settings;

    #[test]
    fn defaults_and_errors() {
        let settings = decode_settings::<Settings>(b"{}").unwrap().own;
        assert!(!settings.mutate && settings.exempt_images.is_empty());
        let cases = [
            (
                r#"{"mutate": 1}"#,
                "mutate: invalid type: integer `1`, expected a boolean",
            ),
            (
                r#"{"exemptImages": ["pause"]}"#,
                "exemptImages[0]: pattern 'pause': the first component must be a registry host",
            ),
            (
                r#"{"exemptImage": []}"#,
                "exemptImage: unknown field `exemptImage`",
            ),
            (
                r#"{"customResources": [{"apiVersion": "a/v1", "kind": "K", "paths": []}]}"#,
                "customResources[0]: paths for a/v1/K must list at least one JSONPath",
            ),
        ];
        for (json, expected) in cases {
            let err = decode_settings::<Settings>(json.as_bytes()).unwrap_err();
            assert!(err.starts_with(expected), "{json}: {err}");
        }
    }
}
