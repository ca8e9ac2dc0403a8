//! Helpers shared by the end-to-end tests: compiled policies, loaded once per test binary.
#![allow(dead_code)]

use e2e::{
    built_policy, read_request, workspace_root, HostCapabilities, PolicyInstance, PolicyModule,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The compiled module of a policy from `dist/`, compiled once per test binary.
pub fn module(policy: &str) -> Arc<PolicyModule> {
    static MODULES: OnceLock<Mutex<HashMap<String, Arc<PolicyModule>>>> = OnceLock::new();
    let mut modules = MODULES.get_or_init(Default::default).lock().unwrap();
    modules
        .entry(policy.to_string())
        .or_insert_with(|| {
            let path = built_policy(policy).unwrap_or_else(|e| panic!("{e}"));
            Arc::new(PolicyModule::load(&path).unwrap_or_else(|e| panic!("{e:#}")))
        })
        .clone()
}

/// A fresh instance of a policy with these host capabilities.
pub fn instance(policy: &str, capabilities: HostCapabilities) -> PolicyInstance {
    module(policy)
        .instantiate(Arc::new(capabilities))
        .expect("instantiate")
}

/// Each settings value is refused by the policy with a message containing the expected text.
pub fn assert_settings_rejected(policy: &PolicyInstance, cases: &[(Value, &str)]) {
    for (settings, expected) in cases {
        let answer = policy.validate_settings(settings).unwrap();
        assert!(!answer.valid, "{settings}");
        let message = answer.message.as_deref().unwrap_or("");
        assert!(message.contains(expected), "{settings}: {message}");
    }
}

/// A request fixture from the policy's own `test_data/`.
pub fn request(policy: &str, fixture: &str) -> Value {
    let path = workspace_root()
        .join("policies")
        .join(policy)
        .join("test_data")
        .join(fixture);
    read_request(&path).unwrap_or_else(|e| panic!("{e:#}"))
}
