use sdk_shim::pattern::RegistryPattern;
use sdk_shim::settings::PolicySettings;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Settings {
    /// The private registries whose images need pull credentials (required).
    pub registries: Vec<RegistryPattern>,
    /// Look the secrets (and the pod's ServiceAccount) up and check they can serve the registry.
    pub verify_secrets: bool,
    /// Add this secret to `imagePullSecrets` instead of rejecting.
    pub secret_name: Option<String>,
}

impl PolicySettings for Settings {
    fn validate(&self) -> Result<(), String> {
        if self.registries.is_empty() {
            return Err("registries: required, list at least one registry pattern (the private registries that need credentials)".to_string());
        }
        if let Some(name) = &self.secret_name {
            if !is_dns_subdomain(name) {
                return Err(format!(
                    "secretName: '{name}' is not a valid Secret name (lowercase letters, digits, '-' and '.', at most 253 characters)"
                ));
            }
        }
        Ok(())
    }
}

/// RFC 1123 subdomain, as Kubernetes requires for object names.
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdk_shim::settings::decode_settings;

    #[test]
    fn registries_are_required_and_errors_name_the_field() {
        let cases = [
            ("{}", "registries: required"),
            (r#"{"registries": []}"#, "registries: required"),
            (
                r#"{"registries": ["harbor"]}"#,
                "registries[0]: pattern 'harbor'",
            ),
            (
                r#"{"registries": ["ghcr.io"], "secretName": "Reg_Cred"}"#,
                "secretName: 'Reg_Cred' is not a valid Secret name",
            ),
            (
                r#"{"registries": ["ghcr.io"], "secretName": 5}"#,
                "secretName: invalid type: integer `5`, expected a string",
            ),
            (
                r#"{"registries": ["ghcr.io"], "verifySecret": true}"#,
                "verifySecret: unknown field `verifySecret`",
            ),
        ];
        for (json, expected) in cases {
            let err = decode_settings::<Settings>(json.as_bytes()).unwrap_err();
            assert!(err.starts_with(expected), "{json}: {err}");
        }
        let settings = decode_settings::<Settings>(br#"{"registries": ["*.dkr.ecr.*.amazonaws.com", "ghcr.io/acme"], "secretName": "regcred"}"#).unwrap().own;
        assert!(!settings.verify_secrets);
    }
}
