//! Canonical JSON: object keys sorted (by their UTF-8 bytes), no insignificant whitespace,
//! strings and numbers as serde_json writes them. The same value gives the same bytes whatever
//! order a server sent its keys in, so a pin changes only when the content does.

use serde_json::Value;
use sha2::Digest;

/// Appends the canonical form of `v` to `out`.
pub fn write(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The canonical form of `v`.
pub fn to_string(v: &Value) -> String {
    let mut s = String::new();
    write(v, &mut s);
    s
}

/// SHA-256 (lower-case hex) of the canonical form of `v`.
pub fn sha256(v: &Value) -> String {
    sha256_bytes(to_string(v).as_bytes())
}

/// SHA-256 (lower-case hex) of bytes.
pub fn sha256_bytes(b: &[u8]) -> String {
    let d = sha2::Sha256::digest(b);
    d.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_does_not_matter() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[1,"x"],"x":null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":null,"y":[1,"x"]},"b":1}"#).unwrap();
        assert_eq!(to_string(&a), r#"{"a":{"x":null,"y":[1,"x"]},"b":1}"#);
        assert_eq!(sha256(&a), sha256(&b));
        let c: Value = serde_json::from_str(r#"{"a":{"x":null,"y":[1,"X"]},"b":1}"#).unwrap();
        assert_ne!(sha256(&a), sha256(&c));
    }

    #[test]
    fn strings_are_escaped() {
        let v = serde_json::json!({"k\"": "a\nb\u{200b}"});
        assert_eq!(to_string(&v), "{\"k\\\"\":\"a\\nb\u{200b}\"}");
    }
}
