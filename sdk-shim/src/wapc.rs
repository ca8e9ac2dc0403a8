//! The waPC guest protocol, written here rather than taken from `wapc-guest` (through
//! `kubewarden-policy-sdk`): that crate keeps its handlers in a `HashMap` behind a lock, filled by
//! `wapc_init` in every new instance, and policy-server makes a new instance for every request.
//! That registry brought its own code (the map, once_cell, the lock: about 11 KB) into every
//! module. Here the three operations are one `match` ([`crate::entry::dispatch`]).
//!
//! The protocol (as `wapc-guest` 1.2 and the `wapc` host 2.x speak it): the host calls the
//! guest's `__guest_call(operation length, payload length)`; the guest asks for both with
//! `__guest_request`, and answers with `__guest_response` (returning 1) or `__guest_error`
//! (returning 0). A host call is `__host_call` (1 on success), then `__host_response_len` and
//! `__host_response`, or `__host_error_len` and `__host_error`.

#[link(wasm_import_module = "wapc")]
unsafe extern "C" {
    fn __guest_request(operation: *mut u8, payload: *mut u8);
    fn __guest_response(answer: *const u8, len: usize);
    fn __guest_error(error: *const u8, len: usize);
    #[allow(clippy::too_many_arguments)]
    fn __host_call(
        binding: *const u8,
        binding_len: usize,
        namespace: *const u8,
        namespace_len: usize,
        operation: *const u8,
        operation_len: usize,
        payload: *const u8,
        payload_len: usize,
    ) -> usize;
    fn __host_response_len() -> usize;
    fn __host_response(answer: *mut u8);
    fn __host_error_len() -> usize;
    fn __host_error(error: *mut u8);
}

/// Serves one `__guest_call`: reads the operation and its payload from the host, and hands
/// `handle`'s answer (or its error) back.
pub fn guest_call(
    operation_len: i32,
    payload_len: i32,
    handle: impl FnOnce(&[u8], &[u8]) -> Result<Vec<u8>, String>,
) -> i32 {
    let operation_len = usize::try_from(operation_len).unwrap_or(0);
    let payload_len = usize::try_from(payload_len).unwrap_or(0);
    let mut operation = Vec::<u8>::with_capacity(operation_len);
    let mut payload = Vec::<u8>::with_capacity(payload_len);
    // SAFETY: the host writes exactly the lengths it announced into the two buffers, which have
    // that capacity; only then are the lengths set.
    unsafe {
        __guest_request(operation.as_mut_ptr(), payload.as_mut_ptr());
        operation.set_len(operation_len);
        payload.set_len(payload_len);
    }
    match handle(&operation, &payload) {
        Ok(answer) => {
            // SAFETY: the host copies `answer` before this returns.
            unsafe { __guest_response(answer.as_ptr(), answer.len()) };
            1
        }
        Err(error) => {
            // SAFETY: as above.
            unsafe { __guest_error(error.as_ptr(), error.len()) };
            0
        }
    }
}

/// Calls the host's `binding`/`namespace`/`operation` with `payload`: its answer, or its error as
/// text.
pub fn host_call(
    binding: &str,
    namespace: &str,
    operation: &str,
    payload: &[u8],
) -> Result<Vec<u8>, String> {
    // SAFETY: every pointer is valid for its length for the duration of the call.
    let succeeded = unsafe {
        __host_call(
            binding.as_ptr(),
            binding.len(),
            namespace.as_ptr(),
            namespace.len(),
            operation.as_ptr(),
            operation.len(),
            payload.as_ptr(),
            payload.len(),
        )
    } == 1;
    // SAFETY: the host writes exactly the length it announced into a buffer of that capacity.
    unsafe {
        if succeeded {
            let len = __host_response_len();
            let mut answer = Vec::with_capacity(len);
            __host_response(answer.as_mut_ptr());
            answer.set_len(len);
            Ok(answer)
        } else {
            let len = __host_error_len();
            let mut error = Vec::with_capacity(len);
            __host_error(error.as_mut_ptr());
            error.set_len(len);
            Err(format!("Host error: {}", String::from_utf8_lossy(&error)))
        }
    }
}
