pub fn spec_json(spec: &cordon_sandbox::SandboxSpec) -> crate::Result<String> { serde_json::to_string_pretty(spec).map_err(|e| crate::Error::Usage(format!("cannot encode the spec: {e}"))) }
