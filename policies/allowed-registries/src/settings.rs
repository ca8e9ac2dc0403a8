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

#[cfg(test)]
mod tests {
    use super::*;
    use sdk_shim::settings::decode_settings;

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"allow": ["nginx"]}"#, "allow[0]: pattern 'nginx': the first component must be a registry host"),
            (r#"{"deny": ["https://docker.io"]}"#, "deny[0]: pattern 'https://docker.io': write the registry host without a scheme"),
            (r#"{"mirrors": [{"from": "docker.io"}]}"#, "mirrors[0]: missing field `to`"),
            (r#"{"mirrors": [{"from": "docker.io", "to": "harbor.example.com", "via": 1}]}"#, "mirrors[0].via: unknown field `via`"),
            (r#"{"mirrors": [{"from": "docker.io", "to": "*.example.com"}]}"#, "mirrors[0].to: '*.example.com' must be a concrete"),
            (
                r#"{"deny": ["harbor.example.com"], "mirrors": [{"from": "docker.io", "to": "harbor.example.com/cache"}]}"#,
                "mirrors[0].to: 'harbor.example.com/cache' is denied by deny pattern 'harbor.example.com'",
            ),
            (
                r#"{"allow": ["ghcr.io"], "mirrors": [{"from": "docker.io", "to": "harbor.example.com/cache"}]}"#,
                "mirrors[0].to: 'harbor.example.com/cache' is not covered by any allow pattern",
            ),
            (r#"{"allowed": []}"#, "allowed: unknown field `allowed`"),
            (
                r#"{"mirrors": [{"from": "*.gcr.io", "to": "harbor.example.com/gcr"}]}"#,
                "mirrors[0].from: '*.gcr.io' has a '*'",
            ),
            (
                r#"{"mirrors": [{"from": "ghcr.io/*", "to": "harbor.example.com/ghcr"}]}"#,
                "mirrors[0].from: 'ghcr.io/*' has a '*'",
            ),
            (
                r#"{"mirrors": [{"from": "harbor.example.com", "to": "harbor.example.com/cache"}]}"#,
                "mirrors[0].to: 'harbor.example.com/cache' overlaps mirrors[0].from 'harbor.example.com'",
            ),
            (
                r#"{"mirrors": [{"from": "docker.io", "to": "harbor.example.com/cache"}, {"from": "harbor.example.com/cache/library", "to": "other.example.com"}]}"#,
                "mirrors[0].to: 'harbor.example.com/cache' overlaps mirrors[1].from 'harbor.example.com/cache/library'",
            ),
            (
                r#"{"mirrors": [{"from": "docker.io", "to": "harbor.example.com/cache"}, {"from": "quay.io", "to": "harbor.example.com/cache"}]}"#,
                "mirrors[1].to: 'harbor.example.com/cache' overlaps mirrors[0].to 'harbor.example.com/cache'",
            ),
            (
                r#"{"mirrors": [{"from": "quay.io/a/app", "to": "docker.io/nginx"}]}"#,
                "mirrors[0].to: 'docker.io/nginx' is Docker Hub",
            ),
            (
                r#"{"mirrors": [{"from": "quay.io/x", "to": "registry-1.docker.io"}]}"#,
                "mirrors[0].to: 'registry-1.docker.io' is Docker Hub",
            ),
            (
                r#"{"mirrors": [{"from": "docker.io", "to": "harbor.example.com/-cache"}]}"#,
                "mirrors[0].to: pattern 'harbor.example.com/-cache': repository segment '-cache' can never match",
            ),
            (
                r#"{"mirrors": [{"from": "docker.io", "to": "harbor.example.com/cache:1"}]}"#,
                "mirrors[0].to: pattern 'harbor.example.com/cache:1': a registry pattern has no tag",
            ),
        ];
        for (json, expected) in cases {
            let err = decode_settings::<Settings>(json.as_bytes()).unwrap_err();
            assert!(err.starts_with(expected), "{json}: {err}");
        }
        let ok = r#"{"allow": ["harbor.example.com/cache", "ghcr.io/acme"], "mirrors": [{"from": "docker.io", "to": "harbor.example.com/cache"}]}"#;
        decode_settings::<Settings>(ok.as_bytes()).unwrap();
    }
}
