//! The glue between waPC and a policy: decode, evaluate, encode. Never traps on bad input.

use crate::host::Host;
use crate::request::{AdmissionRequest, ValidationPayload};
use crate::settings::{decode_settings, settings_from_value, PolicySettings};
use crate::verdict::{Response, Verdict};
use crate::view::Trees;
use crate::workload::Workload;
use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use serde_json::Value;

/// What a policy crate implements: its settings and its rules.
pub trait Policy {
    type Settings: PolicySettings;

    /// Judges every container of the request (the shared settings, such as `customResources`,
    /// were applied by the shim when it found them).
    fn evaluate(
        settings: &Self::Settings,
        request: &AdmissionRequest,
        workload: &Workload,
        host: &dyn Host,
    ) -> Verdict;
}

/// The `validate_settings` operation: a `SettingsValidationResponse`.
pub fn validate_settings<P: Policy>(payload: &[u8]) -> Vec<u8> {
    let response = match decode_settings::<P::Settings>(payload) {
        Ok(_) => SettingsValidationResponse {
            valid: true,
            message: None,
        },
        Err(message) => SettingsValidationResponse {
            valid: false,
            message: Some(message),
        },
    };
    serde_json::to_vec(&response).unwrap_or_default()
}

/// The `validate` operation: a `ValidationResponse`.
pub fn validate<P: Policy>(payload: &[u8], host: &dyn Host) -> Vec<u8> {
    respond::<P>(payload, host).into_json()
}

/// Decodes a `validate` payload and judges it, as a Kubewarden `ValidationResponse` (for native
/// callers: the runner, tests).
pub fn evaluate_payload<P: Policy>(payload: &[u8], host: &dyn Host) -> ValidationResponse {
    respond::<P>(payload, host).into()
}

/// Decodes a `validate` payload and judges it; malformed input becomes a rejection with the reason.
/// The object is read through borrowed views of what the rules need ([`crate::view`]); a tree of
/// it is built only for custom resources and mutations.
pub fn respond<P: Policy>(bytes: &[u8], host: &dyn Host) -> Response {
    let payload: ValidationPayload<Value> = match ValidationPayload::decode(bytes) {
        Ok(payload) => payload,
        Err(e) => return bad_request(format!("cannot read the admission request: {e}")),
    };
    let settings = match settings_from_value::<P::Settings>(payload.settings.unwrap_or(Value::Null))
    {
        Ok(settings) => settings,
        Err(e) => return bad_request(format!("invalid settings: {e}")),
    };
    let mut request = payload.request;
    let trees = Trees::of_payload(bytes);
    request.read_object_namespace(&trees);
    let workload = match Workload::from_request(&request, &settings.shared.custom_resources, &trees)
    {
        Ok(workload) => workload,
        Err(e) => return bad_request(format!("malformed {}: {e}", request.kind.kind)),
    };
    let verdict = P::evaluate(&settings.own, &request, &workload, host);
    drop(workload);
    verdict.into_response(|| request.object(&trees).text())
}

fn bad_request(message: String) -> Response {
    Response {
        accepted: false,
        message: Some(message),
        code: Some(400),
        ..Response::default()
    }
}

/// Wires a [`Policy`] into the waPC guest: `validate`, `validate_settings`, `protocol_version`.
#[macro_export]
macro_rules! register_policy {
    ($policy:ty) => {
        /// The policy this crate registers, for hosts that link policies in (the playground).
        pub type Registered = $policy;

        // Only the Kubewarden module (wasm32-wasip1) exports it: natively, and in the browser
        // build (wasm32-unknown-unknown), several policies link into one binary.
        #[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
        #[unsafe(no_mangle)]
        pub extern "C" fn wapc_init() {
            use $crate::kubewarden::wapc_guest::register_function;
            register_function("validate", |payload: &[u8]| {
                Ok($crate::entry::validate::<$policy>(
                    payload,
                    &$crate::host::WapcHost,
                ))
            });
            register_function("validate_settings", |payload: &[u8]| {
                Ok($crate::entry::validate_settings::<$policy>(payload))
            });
            register_function(
                "protocol_version",
                $crate::kubewarden::protocol_version_guest,
            );
        }
    };
}
