use sdk_shim::settings::PolicySettings;
use serde::Deserialize;

/// The policy's own settings (the shared ones, such as `customResources`, are the shim's).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Settings {
    /// Tags an image may not use; no tag and no digest counts as `latest`.
    pub forbidden_tags: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            forbidden_tags: vec!["latest".to_string()],
        }
    }
}

impl PolicySettings for Settings {
    fn validate(&self) -> Result<(), String> {
        match self.forbidden_tags.iter().position(String::is_empty) {
            Some(i) => Err(format!("forbiddenTags[{i}]: a tag cannot be empty")),
            None => Ok(()),
        }
    }
}
