//! The benchmark's exact figure: how many WebAssembly instructions a module runs for one
//! `validate` call, counted by wasmtime's fuel (one unit per instruction; `nop`, `drop` and
//! the block markers are free), in a new instance's
//! first call and again in its second. Times on a shared machine move by several percent from
//! one run to the next; fuel does not move at all, so it shows what a change to the code did,
//! while the times show what the host, the caches and the page faults add to it. Where a call's
//! instructions go, function by function, is [`validate_profile`]'s (`policy-run --fuel-profile`).
//!
//! A second, minimal waPC host (the one in `lib.rs` is `wapc`'s, which does not count fuel):
//! host calls are answered by [`HostCapabilities`] as there, and the WASI functions the modules
//! import answer 0 without writing anything. So `random_get`, which a `HashMap`'s first use
//! calls, leaves its keys zero: the same count every run, though placed otherwise than with
//! the random keys of a real host. The others are reached only on paths that print or abort.

use crate::HostCapabilities;
use anyhow::{anyhow, bail, Result};
use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use wasmtime::{
    Caller, Config, Engine, Extern, Linker, Memory, Module, Store, Trap, TypedFunc, Val,
    WasmBacktrace,
};

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

/// A new instance's store and its `__guest_call(operation length, payload length)`.
type Instance = (Store<Guest>, TypedFunc<(i32, i32), i32>);

/// A module compiled to count fuel, with the waPC imports.
struct Counted {
    engine: Engine,
    module: Module,
    linker: Linker<Guest>,
}

impl Counted {
    fn new(wasm: &[u8], config: &Config) -> Result<Counted> {
        let engine = Engine::new(config).map_err(|e| anyhow!("{e}"))?;
        let module = Module::new(&engine, wasm).map_err(|e| anyhow!("{e}"))?;
        let linker = wapc_linker(&engine, &module).map_err(|e| anyhow!("{e}"))?;
        Ok(Counted {
            engine,
            module,
            linker,
        })
    }

    /// A new instance that will be asked to validate `payload`, its `wapc_init` run, and its
    /// `__guest_call` (the store's fuel is left unlimited).
    fn instance(&self, payload: &[u8]) -> Result<Instance> {
        let guest = Guest {
            operation: b"validate".to_vec(),
            payload: payload.to_vec(),
            capabilities: HostCapabilities::new(),
            host_answer: Ok(Vec::new()),
            answered: false,
        };
        let mut store = Store::new(&self.engine, guest);
        store.set_fuel(u64::MAX).map_err(|e| anyhow!("{e}"))?;
        let instance = self
            .linker
            .instantiate(&mut store, &self.module)
            .map_err(|e| anyhow!("{e}"))?;
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "wapc_init") {
            init.call(&mut store, ()).map_err(|e| anyhow!("{e}"))?;
        }
        let call = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "__guest_call")
            .map_err(|e| anyhow!("{e}"))?;
        Ok((store, call))
    }
}

/// `__guest_call`'s arguments: the lengths of the operation (`validate`) and of the payload.
fn call_lengths(payload: &[u8]) -> Result<(i32, i32)> {
    Ok((8, i32::try_from(payload.len())?))
}

/// Counts the fuel of two `validate` calls of `payload` on one new instance of `wasm`.
pub fn validate_fuel(wasm: &[u8], payload: &[u8]) -> Result<Fuel> {
    let mut config = Config::new();
    config.consume_fuel(true);
    let (mut store, call) = Counted::new(wasm, &config)?.instance(payload)?;
    let lengths = call_lengths(payload)?;
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

/// Where the instructions of a new instance's first `validate` call go: the call is made again
/// and again on new instances, the k-th time with k × `step` fuel, and the stack where it runs
/// out is taken each time. Every run does the same, so the k-th stops at the first fuel check
/// after its (k × `step`)-th instruction: a sample every `step` instructions, the same in every
/// profile, with no timer. Wasmtime checks fuel only at function entries and loop headers, so
/// instructions are counted where the next check is: a loop-free function's own work goes to
/// the next function it calls, or to the loop its caller returns to (small leaf functions read
/// low, their callers' callees high), and the work after the last check (the returns) is not
/// sampled at all; [`Profile::fuel`] is the whole call's. The runs cost
/// about total² / (2 × `step`) instructions: a step of 100 suits the small request, 1,000 the
/// realistic one. Function names come from the module's name section (build it with
/// `strip = false` and keep the names through `wasm-opt -g`); without one, `wasm-function[N]`.
pub fn validate_profile(wasm: &[u8], payload: &[u8], step: u64) -> Result<Profile> {
    if step == 0 {
        bail!("the profile's step must be at least one instruction");
    }
    let mut config = Config::new();
    // Every frame: wasmtime keeps the innermost 20 by default (the policies nest 30 deep).
    config
        .consume_fuel(true)
        .wasm_backtrace_max_frames(NonZeroUsize::new(1_000));
    let counted = Counted::new(wasm, &config)?;
    let lengths = call_lengths(payload)?;
    let mut profile = Profile::default();
    for k in 1.. {
        let (mut store, call) = counted.instance(payload)?;
        store.set_fuel(k * step).map_err(|e| anyhow!("{e}"))?;
        let stopped = match call.call(&mut store, lengths) {
            Ok(_) => {
                profile.fuel = k * step - store.get_fuel().map_err(|e| anyhow!("{e}"))?;
                break;
            }
            Err(e) => e,
        };
        if stopped.downcast_ref::<Trap>() != Some(&Trap::OutOfFuel) {
            bail!("the call failed before it ran out of fuel: {stopped:?}");
        }
        let trace = stopped
            .downcast_ref::<WasmBacktrace>()
            .ok_or_else(|| anyhow!("no backtrace where the call ran out of fuel"))?;
        // Outermost first, as folded stacks are written.
        let frames: Vec<String> = trace
            .frames()
            .iter()
            .rev()
            .map(|frame| match frame.func_name() {
                // `{:#}`: without the hash rustc appends to each symbol.
                Some(name) => format!("{:#}", rustc_demangle::demangle(name)),
                None => format!("wasm-function[{}]", frame.func_index()),
            })
            .collect();
        *profile.stacks.entry(frames.join(";")).or_default() += step;
    }
    Ok(profile)
}

/// A call's instructions by stack (see [`validate_profile`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The instructions of the whole call, exact.
    pub fuel: u64,
    /// Each stack, outermost function first, joined by `;` (the folded format flame graph tools
    /// read), with the instructions run in its innermost function.
    pub stacks: BTreeMap<String, u64>,
}

impl Profile {
    /// The instructions sampled: a multiple of the step, up to the call's last fuel check.
    pub fn sampled(&self) -> u64 {
        self.stacks.values().sum()
    }

    /// The instructions run in each function itself (not in what it calls), most first.
    pub fn by_function(&self) -> Vec<(&str, u64)> {
        let mut own: BTreeMap<&str, u64> = BTreeMap::new();
        for (stack, fuel) in &self.stacks {
            let innermost = stack.rsplit(';').next().unwrap_or(stack);
            *own.entry(innermost).or_default() += fuel;
        }
        let mut own: Vec<_> = own.into_iter().collect();
        own.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        own
    }

    /// The stacks in the folded format, one per line: `outer;…;inner instructions`.
    pub fn folded(&self) -> String {
        self.stacks
            .iter()
            .map(|(stack, fuel)| format!("{stack} {fuel}\n"))
            .collect()
    }
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

    /// A module written for the profile: `spin` counts down a loop, three times as far when
    /// `long` calls it as when `short` does.
    const SPINS: &str = r#"(module
        (memory (export "memory") 1)
        (func $spin (param $n i32)
            (loop $again
                (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                (br_if $again (local.get $n))))
        (func $short (call $spin (i32.const 100)))
        (func $long (call $spin (i32.const 300)))
        (func $guest_call (export "__guest_call") (param i32 i32) (result i32)
            (call $short)
            (call $long)
            (i32.const 1)))"#;

    /// Each sample lies in the stack that ran it: the longer loop three times the shorter's,
    /// the functions around them almost nothing; a coarser step samples the same call.
    #[test]
    fn a_profile_puts_the_instructions_where_they_run() {
        let fine = validate_profile(SPINS.as_bytes(), b"{}", 1).unwrap();
        let short = fine.stacks["guest_call;short;spin"];
        let long = fine.stacks["guest_call;long;spin"];
        assert!(
            short >= 400 && long * 10 >= short * 29 && long * 10 <= short * 31,
            "{fine:?}"
        );
        assert_eq!(fine.by_function()[0], ("spin", short + long));
        assert!(fine.sampled() - short - long < 20, "{fine:?}");
        assert!(
            fine.fuel >= fine.sampled() && fine.fuel - fine.sampled() < 10,
            "{fine:?}"
        );
        let folded = fine.folded();
        assert!(
            folded.contains(&format!("guest_call;long;spin {long}\n")),
            "{folded}"
        );
        let coarse = validate_profile(SPINS.as_bytes(), b"{}", 7).unwrap();
        assert_eq!(coarse.sampled() % 7, 0);
        assert!(coarse.sampled().abs_diff(fine.sampled()) < 14, "{coarse:?}");
    }

    /// A call that fails for another reason than fuel, and a step of nothing, are errors.
    #[test]
    fn a_profile_refuses_what_it_cannot_sample() {
        let trapping = SPINS.replace("(call $long)", "(call $long) unreachable");
        let error = validate_profile(trapping.as_bytes(), b"{}", 1).unwrap_err();
        assert!(
            error.to_string().contains("before it ran out of fuel"),
            "{error}"
        );
        assert!(validate_profile(SPINS.as_bytes(), b"{}", 0).is_err());
    }

    /// pin-digest's module as built, and the bench's small request without settings.
    fn pin_digest_and_small_request() -> (Vec<u8>, Vec<u8>) {
        let wasm = std::fs::read(built_policy("pin-digest").unwrap()).unwrap();
        let small = read_request(&workspace_root().join(BENCH_REQUEST)).unwrap();
        (wasm, payload(&small, &json!({})))
    }

    /// On a policy, the profile samples the instructions the fuel count gives.
    #[test]
    fn a_policys_profile_samples_its_fuel() {
        let (wasm, small) = pin_digest_and_small_request();
        let fuel = validate_fuel(&wasm, &small).unwrap();
        let profile = validate_profile(&wasm, &small, 500).unwrap();
        assert_eq!(profile.fuel, fuel.first);
        // All but the returns after the last fuel check, which are few.
        assert!(
            profile.sampled() <= fuel.first && fuel.first - profile.sampled() < 1_000,
            "{} {fuel:?}",
            profile.sampled()
        );
        // The dist modules are stripped: functions by index, every stack from the one export.
        let outermost: std::collections::BTreeSet<_> =
            profile.stacks.keys().map(|s| s.split(';').next()).collect();
        assert_eq!(outermost.len(), 1, "{outermost:?}");
    }

    /// Fuel is exact (the same count every time), grows with the request, and a payload the
    /// module refuses is still a counted call.
    #[test]
    fn fuel_counts_the_same_call_the_same() {
        let (wasm, small) = pin_digest_and_small_request();
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
