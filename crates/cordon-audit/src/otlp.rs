//! `cordon audit export --otlp URL`: the records as OpenTelemetry log records, sent with
//! OTLP/HTTP (protobuf) to `URL/v1/logs`. One `LogRecord` per audit record: the time of the
//! record, a severity (WARN for refusals, degradations and recoveries), the one-line summary
//! as the body, `event_name` = `cordon.<event>`, and every field as an attribute `cordon.<field>`
//! (agent-controlled bytes that are not UTF-8 as a bytes value).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub use opentelemetry_proto;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
pub use prost;
use prost::Message;
use serde_json::Value;

use crate::read::{summary, Record};
use crate::Error;

/// Records per request.
const BATCH: usize = 1000;

fn any(v: any_value::Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

fn to_any(v: &Value) -> Option<AnyValue> {
    use any_value::Value as V;
    match v {
        Value::Null => None,
        Value::Bool(b) => any(V::BoolValue(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => any(V::IntValue(i)),
            (None, Some(u)) => any(V::StringValue(u.to_string())),
            _ => any(V::DoubleValue(n.as_f64().unwrap_or(0.0))),
        },
        Value::String(s) => any(V::StringValue(s.clone())),
        Value::Array(a) => any(V::ArrayValue(ArrayValue {
            values: a.iter().filter_map(to_any).collect(),
        })),
        Value::Object(m) => {
            if m.len() == 1 {
                if let Some(b) = m
                    .get("b64")
                    .and_then(Value::as_str)
                    .and_then(crate::b64_decode)
                {
                    return any(V::BytesValue(b));
                }
            }
            any(V::KvlistValue(KeyValueList {
                values: m
                    .iter()
                    .map(|(k, v)| KeyValue {
                        key: k.clone(),
                        value: to_any(v),
                        ..Default::default()
                    })
                    .collect(),
            }))
        }
    }
}

fn severity(r: &Record) -> (i32, &'static str) {
    let refused = matches!(r.str("decision"), "deny")
        || (r.event() == "approval" && r.str("answer") == "deny");
    match r.event() {
        "recovery" => (17, "ERROR"),
        "degradation" | "neutralised" | "mcp_change" | "mcp_error" => (13, "WARN"),
        _ if refused => (13, "WARN"),
        _ => (9, "INFO"),
    }
}

/// One OTLP log record.
pub fn log_record(r: &Record) -> LogRecord {
    let t = (r.ts_ms.max(0) as u64) * 1_000_000;
    let (sev, sev_text) = severity(r);
    let attributes = match &r.v {
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| k.as_str() != "ts")
            .filter_map(|(k, v)| {
                to_any(v).map(|value| KeyValue {
                    key: format!("cordon.{k}"),
                    value: Some(value),
                    ..Default::default()
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    LogRecord {
        time_unix_nano: t,
        observed_time_unix_nano: t,
        severity_number: sev,
        severity_text: sev_text.into(),
        body: any(any_value::Value::StringValue(summary(r, false))),
        attributes,
        event_name: format!("cordon.{}", r.event()),
        ..Default::default()
    }
}

/// The request for `recs`: one resource (`service.name` = cordon, the host), one scope.
pub fn request(recs: &[Record]) -> ExportLogsServiceRequest {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: any(any_value::Value::StringValue(v.into())),
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "cordon"), kv("host.name", &host)],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "cordon.audit".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                log_records: recs.iter().map(log_record).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends `recs` to `url` (`http://host:port[/prefix]`); returns how many were accepted.
pub fn export(url: &str, recs: &[Record]) -> Result<usize, Error> {
    let (host, port, prefix) = parse_url(url)?;
    let path = format!("{}/v1/logs", prefix.trim_end_matches('/'));
    let mut sent = 0;
    for chunk in recs.chunks(BATCH) {
        let body = request(chunk).encode_to_vec();
        post(&host, port, &path, &body)?;
        sent += chunk.len();
    }
    Ok(sent)
}

fn parse_url(url: &str) -> Result<(String, u16, String), Error> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(Error::Export(format!(
            "'{url}' is not an http:// URL; cordon sends OTLP/HTTP without TLS: point it at a collector on this machine or network (e.g. http://127.0.0.1:4318)"
        )));
    };
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
            Ok(p) => (h, p),
            Err(_) => return Err(Error::Export(format!("'{url}': bad port '{p}'"))),
        },
        _ => (authority, 4318),
    };
    if host.is_empty() {
        return Err(Error::Export(format!("'{url}': no host")));
    }
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
        prefix.to_string(),
    ))
}

fn post(host: &str, port: u16, path: &str, body: &[u8]) -> Result<(), Error> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::Export(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = None;
    let mut conn = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, Duration::from_secs(10)) {
            Ok(s) => {
                conn = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(mut s) = conn else {
        return Err(Error::Export(format!(
            "cannot connect to {host}:{port}: {}; is the collector running?",
            last.map(|e| e.to_string())
                .unwrap_or_else(|| "no address".into())
        )));
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(30)));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: {}\r\nUser-Agent: cordon/{}\r\nConnection: close\r\n\r\n",
        body.len(),
        env!("CARGO_PKG_VERSION")
    );
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body))
        .map_err(|e| Error::Export(format!("cannot send to {host}:{port}: {e}")))?;
    let mut resp = Vec::new();
    let _ = s.take(64 << 10).read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok());
    match status {
        Some(c) if (200..300).contains(&c) => Ok(()),
        Some(c) => Err(Error::Export(format!(
            "the collector answered {c}: {}",
            crate::term_safe(text.lines().next().unwrap_or(""))
        ))),
        None => Err(Error::Export("no HTTP answer from the collector".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:4318").unwrap(),
            ("127.0.0.1".into(), 4318, "".into())
        );
        assert_eq!(
            parse_url("http://collector/otlp/").unwrap(),
            ("collector".into(), 4318, "/otlp/".into())
        );
        assert_eq!(
            parse_url("http://[::1]:9").unwrap(),
            ("::1".into(), 9, "".into())
        );
        assert!(parse_url("https://x").is_err());
    }
}
