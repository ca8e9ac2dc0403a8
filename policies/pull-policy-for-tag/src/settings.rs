use sdk_shim::pattern::ImagePattern;
use sdk_shim::settings::PolicySettings;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Settings {
    /// Tag globs treated as mutable. A reference with neither tag nor digest counts as `latest`.
    pub mutable_tags: Vec<String>,
    /// Images that may use `Never`; everywhere else `Never` is rejected.
    pub allow_never_for: Vec<ImagePattern>,
    /// Whether `Always` is tolerated on digests and versioned tags.
    pub allow_always_for_immutable: bool,
    /// Set the fitting `imagePullPolicy` instead of rejecting.
    pub mutate: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mutable_tags: vec!["latest".to_string()],
            allow_never_for: Vec::new(),
            allow_always_for_immutable: true,
            mutate: false,
        }
    }
}

impl PolicySettings for Settings {
    fn validate(&self) -> Result<(), String> {
        for (i, glob) in self.mutable_tags.iter().enumerate() {
            let valid = !glob.is_empty()
                && glob.len() <= 128
                && glob
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-*".contains(&b));
            if !valid {
                return Err(format!(
                    "mutableTags[{i}]: '{glob}' is not a tag glob (1 to 128 of [A-Za-z0-9_.-], '*' for any run)"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdk_shim::settings::decode_settings;

    #[test]
    fn defaults() {
        let settings = decode_settings::<Settings>(b"{}").unwrap().own;
        assert_eq!(settings.mutable_tags, vec!["latest"]);
        assert!(settings.allow_always_for_immutable);
        assert!(!settings.mutate);
        assert!(settings.allow_never_for.is_empty());
        // Fields not given keep their defaults.
        let settings = decode_settings::<Settings>(br#"{"mutate": true}"#)
            .unwrap()
            .own;
        assert_eq!(settings.mutable_tags, vec!["latest"]);
        assert!(settings.allow_always_for_immutable);
    }
}
