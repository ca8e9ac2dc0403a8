// The waPC imports of the policy crates' Kubewarden glue. wapc-guest always exports
// `__guest_call` (#[no_mangle]), so its imports stay in the browser build although nothing here
// calls them: the page's import map points the bare "wapc" module at these, which only say so.
function unavailable() {
  throw new Error('waPC host calls are not available in the playground');
}
export const __console_log = unavailable;
export const __host_call = unavailable;
export const __host_response = unavailable;
export const __host_response_len = unavailable;
export const __host_error = unavailable;
export const __host_error_len = unavailable;
export const __guest_response = unavailable;
export const __guest_error = unavailable;
export const __guest_request = unavailable;
