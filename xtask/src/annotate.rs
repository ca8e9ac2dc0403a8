//! Embeds a policy's metadata into its module, as `kwctl annotate` does: a custom section named
//! `io.kubewarden.metadata` holding the metadata as JSON, with the protocol version and the
//! README as the `io.kubewarden.policy.usage` annotation.

use crate::policy::PolicyCrate;
use anyhow::{bail, Result};
use serde_json::{json, Value};

pub const METADATA_SECTION: &str = "io.kubewarden.metadata";

/// The metadata as it is embedded.
pub fn embedded_metadata(policy: &PolicyCrate) -> Value {
    let mut metadata = policy.metadata.clone();
    metadata["protocolVersion"] = json!("v1");
    metadata["policyType"] = json!("kubernetes");
    if metadata.get("executionMode").is_none() {
        metadata["executionMode"] = json!("kubewarden-wapc");
    }
    if !metadata["annotations"].is_object() {
        metadata["annotations"] = json!({});
    }
    metadata["annotations"]["io.kubewarden.policy.usage"] = json!(policy.readme);
    metadata
}

/// Returns the module with the metadata section appended.
pub fn annotate(module: &[u8], metadata: &Value) -> Result<Vec<u8>> {
    if module.len() < 8 || &module[..4] != b"\0asm" {
        bail!("not a WebAssembly module");
    }
    if find_custom_section(module, METADATA_SECTION)?.is_some() {
        bail!("the module is already annotated");
    }
    let data = serde_json::to_vec(metadata)?;
    let mut payload = Vec::new();
    write_leb128(&mut payload, METADATA_SECTION.len() as u32);
    payload.extend_from_slice(METADATA_SECTION.as_bytes());
    payload.extend_from_slice(&data);
    let mut out = module.to_vec();
    out.push(0); // custom section id
    write_leb128(&mut out, payload.len() as u32);
    out.extend_from_slice(&payload);
    Ok(out)
}

/// The contents of the first custom section named `name`.
pub fn find_custom_section<'a>(module: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    let mut pos = 8;
    while pos < module.len() {
        let id = module[pos];
        pos += 1;
        let size = read_leb128(module, &mut pos)? as usize;
        let end = pos.checked_add(size).filter(|&e| e <= module.len());
        let Some(end) = end else {
            bail!("truncated section at byte {pos}")
        };
        if id == 0 {
            let mut name_pos = pos;
            let name_len = read_leb128(module, &mut name_pos)? as usize;
            let name_end = name_pos + name_len;
            if name_end <= end && &module[name_pos..name_end] == name.as_bytes() {
                return Ok(Some(&module[name_end..end]));
            }
        }
        pos = end;
    }
    Ok(None)
}

fn write_leb128(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb128(bytes: &[u8], pos: &mut usize) -> Result<u32> {
    let mut result = 0u32;
    for shift in (0..35).step_by(7) {
        let Some(&byte) = bytes.get(*pos) else {
            bail!("truncated LEB128 at byte {pos}")
        };
        *pos += 1;
        result |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(result);
        }
    }
    bail!("LEB128 too long")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_round_trips() {
        let module = b"\0asm\x01\0\0\0".to_vec();
        let metadata = json!({"mutating": false, "big": "x".repeat(300)});
        let annotated = annotate(&module, &metadata).unwrap();
        let section = find_custom_section(&annotated, METADATA_SECTION)
            .unwrap()
            .unwrap();
        assert_eq!(serde_json::from_slice::<Value>(section).unwrap(), metadata);
        assert!(annotate(&annotated, &metadata)
            .unwrap_err()
            .to_string()
            .contains("already annotated"));
        assert!(annotate(b"nope", &metadata).is_err());
    }
}
