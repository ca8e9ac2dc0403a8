//! The benchmark's floor (`cargo bench -p e2e`): a policy module that answers every request with
//! "accepted" without reading it. What it costs is what the host and the waPC protocol cost (the
//! payload is still copied into the guest), so a policy's net time is its time minus this one's.

use kubewarden_policy_sdk::wapc_guest::{register_function, CallResult};

#[no_mangle]
pub extern "C" fn wapc_init() {
    register_function("validate", accept);
    register_function("validate_settings", settings_valid);
    register_function("protocol_version", protocol_version);
}

fn accept(_payload: &[u8]) -> CallResult {
    Ok(br#"{"accepted":true}"#.to_vec())
}

fn settings_valid(_payload: &[u8]) -> CallResult {
    Ok(br#"{"valid":true}"#.to_vec())
}

fn protocol_version(_payload: &[u8]) -> CallResult {
    Ok(br#""v1""#.to_vec())
}
