//! The benchmark's exact figure: how many WebAssembly instructions a module runs for one
//! `validate` call, counted by wasmtime's fuel (one unit per instruction; `nop`, `drop` and
//! the block markers are free), in a new instance's
//! first call and again in its second. Times on a shared machine move by several percent from
//! one run to the next; fuel does not move at all, so it shows what a change to the code did,
//! while the times show what the host, the caches and the page faults add to it.
//!
//! A second, minimal waPC host (the one in `lib.rs` is `wapc`'s, which does not count fuel):
//! host calls are answered by [`HostCapabilities`] as there, and the WASI functions the modules
//! import answer 0 without writing anything. So `random_get`, which a `HashMap`'s first use
//! calls, leaves its keys zero: the same count every run, though placed otherwise than with
//! the random keys of a real host. The others are reached only on paths that print or abort.

use crate::HostCapabilities;
use anyhow::{anyhow, bail, Result};
use wasmtime::{Caller, Config, Engine, Extern, Linker, Memory, Module, Store, Val};

/// The instructions of a new instance's first `validate` call, and of its second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fuel {
    pub first: u64,
    pub second: u64,
}

/// The waPC state of one instance.
struct Guest {
    operation: Vec<u8>,
    payload: Vec<u8>,
    capabilities: HostCapabilities,
    host_answer: std::result::Result<Vec<u8>, String>,
    answered: bool,
}

/// Counts the fuel of two `validate` calls of `payload` on one new instance of `wasm`.
pub fn validate_fuel(wasm: &[u8], payload: &[u8]) -> Result<Fuel> {
    let mut config = Config::new();
    config.consume_fuel(true);
    let engine = Engine::new(&config).map_err(|e| anyhow!("{e}"))?;
    let module = Module::new(&engine, wasm).map_err(|e| anyhow!("{e}"))?;
    let linker = wapc_linker(&engine, &module).map_err(|e| anyhow!("{e}"))?;
    let guest = Guest {
        operation: b"validate".to_vec(),
        payload: payload.to_vec(),
        capabilities: HostCapabilities::new(),
        host_answer: Ok(Vec::new()),
        answered: false,
    };
    let mut store = Store::new(&engine, guest);
    store.set_fuel(u64::MAX).map_err(|e| anyhow!("{e}"))?;
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| anyhow!("{e}"))?;
    if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "wapc_init") {
        init.call(&mut store, ()).map_err(|e| anyhow!("{e}"))?;
    }
    let call = instance
        .get_typed_func::<(i32, i32), i32>(&mut store, "__guest_call")
        .map_err(|e| anyhow!("{e}"))?;
    let lengths = (8, i32::try_from(payload.len())?);
    let mut used = [0; 2];
    for fuel in &mut used {
        store.data_mut().answered = false;
        let before = store.get_fuel().map_err(|e| anyhow!("{e}"))?;
        let status = call.call(&mut store, lengths).map_err(|e| anyhow!("{e}"))?;
        *fuel = before - store.get_fuel().map_err(|e| anyhow!("{e}"))?;
        if status != 1 || !store.data().answered {
            bail!("the module did not answer the validate call");
        }
    }
    Ok(Fuel {
        first: used[0],
        second: used[1],
    })
}

fn memory(caller: &mut Caller<'_, Guest>) -> wasmtime::Result<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => wasmtime::bail!("the module exports no memory"),
    }
}

fn read(caller: &mut Caller<'_, Guest>, at: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let mut bytes = vec![0; usize::try_from(len)?];
    memory(caller)?.read(&*caller, usize::try_from(at)?, &mut bytes)?;
    Ok(bytes)
}

fn write(caller: &mut Caller<'_, Guest>, at: i32, bytes: &[u8]) -> wasmtime::Result<()> {
    let memory = memory(caller)?;
    Ok(memory.write(caller, usize::try_from(at)?, bytes)?)
}

fn len(bytes: &[u8]) -> i32 {
    i32::try_from(bytes.len()).unwrap_or(i32::MAX)
}

fn wapc_linker(engine: &Engine, module: &Module) -> wasmtime::Result<Linker<Guest>> {
    let mut linker = Linker::new(engine);
    linker.func_wrap(
        "wapc",
        "__guest_request",
        |mut caller: Caller<'_, Guest>, operation: i32, payload: i32| {
            let data = caller.data();
            let (op, body) = (data.operation.clone(), data.payload.clone());
            write(&mut caller, operation, &op)?;
            write(&mut caller, payload, &body)
        },
    )?;
    for name in ["__guest_response", "__guest_error"] {
        let ok = name == "__guest_response";
        linker.func_wrap(
            "wapc",
            name,
            move |mut caller: Caller<'_, Guest>, _at: i32, _len: i32| {
                caller.data_mut().answered = ok;
            },
        )?;
    }
    linker.func_wrap(
        "wapc",
        "__host_call",
        #[allow(clippy::too_many_arguments)]
        |mut caller: Caller<'_, Guest>,
         binding: i32,
         binding_len: i32,
         namespace: i32,
         namespace_len: i32,
         operation: i32,
         operation_len: i32,
         payload: i32,
         payload_len: i32|
         -> wasmtime::Result<i32> {
            let mut text = |at, len| {
                read(&mut caller, at, len).map(|b| String::from_utf8_lossy(&b).into_owned())
            };
            let binding = text(binding, binding_len)?;
            let namespace = text(namespace, namespace_len)?;
            let operation = text(operation, operation_len)?;
            let payload = read(&mut caller, payload, payload_len)?;
            let answer = caller
                .data()
                .capabilities
                .handle(&binding, &namespace, &operation, &payload)
                .map_err(|e| e.to_string());
            let succeeded = answer.is_ok();
            caller.data_mut().host_answer = answer;
            Ok(i32::from(succeeded))
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_response_len",
        |caller: Caller<'_, Guest>| caller.data().host_answer.as_ref().map_or(0, |a| len(a)),
    )?;
    linker.func_wrap(
        "wapc",
        "__host_response",
        |mut caller: Caller<'_, Guest>, at: i32| {
            let answer = caller.data().host_answer.clone().unwrap_or_default();
            write(&mut caller, at, &answer)
        },
    )?;
    linker.func_wrap("wapc", "__host_error_len", |caller: Caller<'_, Guest>| {
        caller
            .data()
            .host_answer
            .as_ref()
            .err()
            .map_or(0, |e| len(e.as_bytes()))
    })?;
    linker.func_wrap(
        "wapc",
        "__host_error",
        |mut caller: Caller<'_, Guest>, at: i32| {
            let error = caller.data().host_answer.clone().err().unwrap_or_default();
            write(&mut caller, at, error.as_bytes())
        },
    )?;
    for import in module.imports() {
        if import.module() == "wasi_snapshot_preview1" {
            let Some(ty) = import.ty().func().cloned() else {
                continue;
            };
            linker.func_new(import.module(), import.name(), ty, |_, _, results| {
                results.iter_mut().for_each(|r| *r = Val::I32(0));
                Ok(())
            })?;
        }
    }
    Ok(linker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{deployment, payload, BENCH_REQUEST};
    use crate::{built_policy, read_request, workspace_root};
    use serde_json::json;

    /// Fuel is exact (the same count every time), grows with the request, and a payload the
    /// module refuses is still a counted call.
    #[test]
    fn fuel_counts_the_same_call_the_same() {
        let wasm = std::fs::read(built_policy("pin-digest").unwrap()).unwrap();
        let small = read_request(&workspace_root().join(BENCH_REQUEST)).unwrap();
        let small = payload(&small, &json!({}));
        let once = validate_fuel(&wasm, &small).unwrap();
        assert_eq!(validate_fuel(&wasm, &small).unwrap(), once);
        assert!(once.first > 10_000 && once.second > 10_000, "{once:?}");
        let large = payload(&deployment(100).unwrap(), &json!({}));
        let large = validate_fuel(&wasm, &large).unwrap();
        assert!(large.first > 10 * once.first, "{large:?} {once:?}");
        let refused = validate_fuel(&wasm, b"{not json").unwrap();
        assert!(refused.first < once.first, "{refused:?}");
        assert!(validate_fuel(b"\0asm\x01\0\0\0", &small).is_err());
    }
}
