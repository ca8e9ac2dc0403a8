//! The part of a Kubernetes `AdmissionRequest` the policies read, decoded and nothing more.

use serde::Deserialize;
use serde_json::Value;

/// What a waPC `validate` call carries: the admission request and the policy's settings.
#[derive(Debug, Deserialize)]
pub struct ValidationPayload<S> {
    pub request: AdmissionRequest,
    #[serde(default = "Option::default")]
    pub settings: Option<S>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    #[serde(default)]
    pub uid: String,
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub object: Value,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    pub kind: String,
}

impl GroupVersionKind {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl AdmissionRequest {
    /// The namespace the object lives in: the request's, else the object's own metadata.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .or_else(|| {
                self.object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
            })
    }
}
