// Unit tests of the hook live in tests/hooks.rs (they need the binary and a fake home).
