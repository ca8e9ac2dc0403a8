//! The glue between waPC and a policy: decode, evaluate, encode. Never traps on bad input.

use crate::host::Host;
use crate::request::{AdmissionRequest, ValidationPayload};
use crate::settings::{decode_settings, settings_from_source, PolicySettings, SettingsSource};
use crate::verdict::{Response, Verdict};
use crate::view::Trees;
use crate::workload::Workload;

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

/// The operations a policy module serves, by name: what the waPC host calls (`__guest_call`).
pub fn dispatch<P: Policy>(
    operation: &[u8],
    payload: &[u8],
    host: &dyn Host,
) -> Result<Vec<u8>, String> {
    match operation {
        b"validate" => Ok(validate::<P>(payload, host)),
        b"validate_settings" => Ok(validate_settings::<P>(payload)),
        // Kubewarden's `ProtocolVersion::V1`, as JSON.
        b"protocol_version" => Ok(b"\"v1\"".to_vec()),
        _ => Err(format!(
            "No handler registered for function {}",
            String::from_utf8_lossy(operation)
        )),
    }
}

/// The `validate_settings` operation: a `SettingsValidationResponse`.
pub fn validate_settings<P: Policy>(payload: &[u8]) -> Vec<u8> {
    match decode_settings::<P::Settings>(payload) {
        Ok(_) => br#"{"valid":true,"message":null}"#.to_vec(),
        Err(message) => {
            let mut out = Vec::with_capacity(32 + message.len());
            out.extend_from_slice(br#"{"valid":false,"message":""#);
            crate::verdict::escape_into(&mut out, &message);
            out.extend_from_slice(b"\"}");
            out
        }
    }
}

/// The `validate` operation: a `ValidationResponse`.
pub fn validate<P: Policy>(payload: &[u8], host: &dyn Host) -> Vec<u8> {
    respond::<P>(payload, host).into_json()
}

/// Decodes a `validate` payload and judges it, as a Kubewarden `ValidationResponse` (for native
/// callers: the runner, tests).
#[cfg(not(all(target_arch = "wasm32", target_os = "wasi")))]
pub fn evaluate_payload<P: Policy>(
    payload: &[u8],
    host: &dyn Host,
) -> kubewarden_policy_sdk::response::ValidationResponse {
    respond::<P>(payload, host).into()
}

/// Decodes a `validate` payload and judges it; malformed input becomes a rejection with the reason.
/// The object is read through borrowed views of what the rules need ([`crate::view`]); a tree of
/// it is built only for custom resources and mutations.
pub fn respond<P: Policy>(bytes: &[u8], host: &dyn Host) -> Response {
    let payload: ValidationPayload<SettingsSource> = match ValidationPayload::decode(bytes) {
        Ok(payload) => payload,
        Err(e) => return bad_request(format!("cannot read the admission request: {e}")),
    };
    let settings = match settings_from_source::<P::Settings>(payload.settings) {
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

        // Only the Kubewarden module (wasm32-wasip1) exports these: natively, and in the browser
        // build (wasm32-unknown-unknown), several policies link into one binary.
        #[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
        #[unsafe(no_mangle)]
        pub extern "C" fn __guest_call(operation_len: i32, payload_len: i32) -> i32 {
            $crate::wapc::guest_call(operation_len, payload_len, |operation, payload| {
                $crate::entry::dispatch::<$policy>(operation, payload, &$crate::host::WapcHost)
            })
        }

        /// waPC hosts call it, when exported, before the first `__guest_call`: there is nothing
        /// to set up (the operations are a `match`), but older hosts expect it.
        #[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
        #[unsafe(no_mangle)]
        pub extern "C" fn wapc_init() {}
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::FixtureHost;
    use kubewarden_policy_sdk::metadata::ProtocolVersion;
    use kubewarden_policy_sdk::settings::SettingsValidationResponse;
    use serde::Deserialize;

    /// Refuses every image whose reference does not parse; settings: `{name: string}`.
    struct Minimal;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct MinimalSettings {
        #[allow(dead_code)]
        name: String,
    }

    impl PolicySettings for MinimalSettings {}

    impl Policy for Minimal {
        type Settings = MinimalSettings;

        fn evaluate(
            _: &MinimalSettings,
            request: &AdmissionRequest,
            workload: &Workload,
            _: &dyn Host,
        ) -> Verdict {
            let mut verdict = Verdict::for_request(request);
            for container in &workload.containers {
                verdict.parse_image(container);
            }
            verdict
        }
    }

    fn sdk_answer(valid: bool, message: Option<&str>) -> Vec<u8> {
        serde_json::to_vec(&SettingsValidationResponse {
            valid,
            message: message.map(str::to_string),
        })
        .unwrap()
    }

    #[test]
    fn the_settings_answer_is_the_sdks_json_byte_for_byte() {
        assert_eq!(
            validate_settings::<Minimal>(br#"{"name":"x"}"#),
            sdk_answer(true, None)
        );
        let refused = validate_settings::<Minimal>(br#"{"name":"x","other\"\n":1}"#);
        let message =
            decode_settings::<MinimalSettings>(br#"{"name":"x","other\"\n":1}"#).unwrap_err();
        assert!(message.contains("other\"\n"), "{message}");
        assert_eq!(refused, sdk_answer(false, Some(&message)));
    }

    #[test]
    fn each_operation_is_dispatched_by_its_name() {
        let host = FixtureHost::default();
        assert_eq!(
            dispatch::<Minimal>(b"protocol_version", b"", &host),
            Ok(serde_json::to_vec(&ProtocolVersion::V1).unwrap())
        );
        assert_eq!(
            dispatch::<Minimal>(b"validate_settings", b"{}", &host),
            Ok(validate_settings::<Minimal>(b"{}"))
        );
        let payload = br#"{"request":{"uid":"1","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":{"spec":{"containers":[{"name":"a","image":"UPPER"}]}}},"settings":{}}"#;
        let validated = dispatch::<Minimal>(b"validate", payload, &host).unwrap();
        assert_eq!(validated, validate::<Minimal>(payload, &host));
        assert!(validated.starts_with(br#"{"accepted":false"#));
        assert_eq!(
            dispatch::<Minimal>(b"validat\xff", b"", &host),
            Err("No handler registered for function validat\u{fffd}".to_string())
        );
    }
}
