use sdk_shim::pattern::RegistryPattern;
use sdk_shim::settings::PolicySettings;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Settings {
    /// Registries / repository prefixes images may come from; empty means any that is not denied.
    pub allow: Vec<RegistryPattern>,
    /// Registries / repository prefixes images may never come from; wins over `allow`.
    pub deny: Vec<RegistryPattern>,
    /// Rewrites to pull-through caches, applied before `allow` and `deny` judge the image.
    pub mirrors: Vec<Mirror>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    pub from: RegistryPattern,
    pub to: RegistryPattern,
}

impl PolicySettings for Settings {
    fn validate(&self) -> Result<(), String> {
        for (i, mirror) in self.mirrors.iter().enumerate() {
            let (from, to) = (&mirror.from, &mirror.to);
            if from.has_wildcard() {
                return Err(format!(
                    "mirrors[{i}].from: '{from}' has a '*': every image it matches would be rewritten under one \
                     target, so two different images could become one; write one mirror per registry or repository"
                ));
            }
            if to.is_docker_hub() {
                return Err(format!(
                    "mirrors[{i}].to: '{to}' is Docker Hub; a mirror target is a registry you run (a pull-through cache), \
                     and Docker Hub folds one-component names into library/, so rewrites there could collide"
                ));
            }
            if to.has_wildcard() {
                return Err(format!(
                    "mirrors[{i}].to: '{to}' must be a concrete registry[/path], without '*'"
                ));
            }
            if let Some((j, other)) = self
                .mirrors
                .iter()
                .enumerate()
                .find(|(_, m)| m.from.overlaps(to))
            {
                return Err(format!(
                    "mirrors[{i}].to: '{to}' overlaps mirrors[{j}].from '{}': a rewritten image would be rewritten again",
                    other.from
                ));
            }
            if let Some((j, other)) = self.mirrors[..i]
                .iter()
                .enumerate()
                .find(|(_, m)| m.to.overlaps(to))
            {
                return Err(format!(
                    "mirrors[{i}].to: '{to}' overlaps mirrors[{j}].to '{}': images from two sources could be rewritten to the same image",
                    other.to
                ));
            }
            if let Some(denied) = self.deny.iter().find(|d| d.covers(to)) {
                return Err(format!(
                    "mirrors[{i}].to: '{to}' is denied by deny pattern '{denied}'"
                ));
            }
            if !self.allow.is_empty() && !self.allow.iter().any(|a| a.covers(to)) {
                return Err(format!(
                    "mirrors[{i}].to: '{to}' is not covered by any allow pattern; add it to allow"
                ));
            }
        }
        Ok(())
    }
}
