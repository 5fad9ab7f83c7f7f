//! `cordon audit export --otlp` against a receiver started by the test, and `cordon audit
//! report --html` rendered in headless Chromium.

mod harness;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

use cordon_audit::otlp::opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use cordon_audit::otlp::opentelemetry_proto::tonic::common::v1::any_value::Value as AV;
use cordon_audit::otlp::opentelemetry_proto::tonic::logs::v1::LogRecord;
use cordon_audit::otlp::prost::Message;
use harness::{code, text, Case, Who};

/// A minimal OTLP/HTTP receiver: records (path, content-type, decoded request) and answers 200.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<(String, String, ExportLogsServiceRequest)>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head_end, len) = loop {
                    let n = s.read(&mut chunk).unwrap();
                    assert!(n > 0, "connection closed before the body");
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .unwrap()
                            .trim()
                            .parse()
                            .unwrap();
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = s.read(&mut chunk).unwrap();
                    assert!(n > 0);
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let path = head.split(' ').nth(1).unwrap().to_string();
                let ctype = head
                    .lines()
                    .find_map(|l| {
                        l.to_lowercase()
                            .strip_prefix("content-type:")
                            .map(|v| v.trim().to_string())
                    })
                    .unwrap_or_default();
                let req = ExportLogsServiceRequest::decode(&buf[head_end..head_end + len]).unwrap();
                g.lock().unwrap().push((path, ctype, req));
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        Receiver { port, got }
    }
}

fn attr<'a>(r: &'a LogRecord, k: &str) -> Option<&'a AV> {
    r.attributes
        .iter()
        .find(|a| a.key == k)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn s(v: Option<&AV>) -> String {
    match v {
        Some(AV::StringValue(s)) => s.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

#[test]
fn otlp_export_reaches_a_receiver_with_the_fields() {
    use std::os::unix::ffi::OsStrExt;
    let c = Case::new(Who::Invoker, false);
    c.cordon(&["check", "--agent", "exp", "--", "rm -rf /"]);
    c.cordon(&["run", "--", "true", "arg one"]);
    c.command(&["check", "--"])
        .arg(std::ffi::OsStr::from_bytes(b"ls \xff"))
        .output()
        .unwrap();
    let n = {
        let raw = std::fs::read_to_string(c.audit_dir().join("audit.jsonl")).unwrap();
        raw.lines().count()
    };
    let rx = Receiver::start();
    let url = format!("http://127.0.0.1:{}", rx.port);
    let o = c.cordon(&["audit", "export", "--otlp", &url]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("exported {n} records")),
        "{}",
        text(&o)
    );
    let got = rx.got.lock().unwrap();
    assert_eq!(got.len(), 1);
    let (path, ctype, req) = &got[0];
    assert_eq!(path, "/v1/logs");
    assert_eq!(ctype, "application/x-protobuf");
    let rl = &req.resource_logs[0];
    let res = rl.resource.as_ref().unwrap();
    assert!(res.attributes.iter().any(|a| a.key == "service.name"
        && matches!(a.value.as_ref().and_then(|v| v.value.as_ref()), Some(AV::StringValue(s)) if s == "cordon")));
    let sl = &rl.scope_logs[0];
    assert_eq!(sl.scope.as_ref().unwrap().name, "cordon.audit");
    let logs = &sl.log_records;
    assert_eq!(logs.len(), n);
    for (i, l) in logs.iter().enumerate() {
        assert_eq!(attr(l, "cordon.seq"), Some(&AV::IntValue(i as i64 + 1)));
        assert!(l.time_unix_nano > 1_600_000_000_000_000_000);
        assert_eq!(s(attr(l, "cordon.prev")).len(), 64);
    }
    let start = &logs[0];
    assert_eq!(start.event_name, "cordon.session_start");
    assert_eq!(s(attr(start, "cordon.agent")), "exp");
    let deny = &logs[1];
    assert_eq!(deny.event_name, "cordon.decision");
    assert_eq!(deny.severity_text, "WARN");
    assert_eq!(s(attr(deny, "cordon.decision")), "deny");
    assert_eq!(s(attr(deny, "cordon.command")), "rm -rf /");
    assert!(s(attr(deny, "cordon.rule")).starts_with("builtin:"));
    match deny.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(AV::StringValue(b)) => assert!(b.contains("deny") && b.contains("rm -rf /"), "{b}"),
        other => panic!("{other:?}"),
    }
    let exec = logs.iter().find(|l| l.event_name == "cordon.exec").unwrap();
    match attr(exec, "cordon.argv") {
        Some(AV::ArrayValue(a)) => {
            let words: Vec<String> = a.values.iter().map(|v| s(v.value.as_ref())).collect();
            assert_eq!(words, vec!["true", "arg one"]);
        }
        other => panic!("{other:?}"),
    }
    // Bytes that are not UTF-8 arrive as bytes.
    let last = logs.last().unwrap();
    assert_eq!(
        attr(last, "cordon.command"),
        Some(&AV::BytesValue(b"ls \xff".to_vec()))
    );
    drop(got);

    // Filters apply; a collector that is not there is an error with the cause.
    let o = c.cordon(&["audit", "export", "--otlp", &url, "--decision", "deny"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        rx.got.lock().unwrap()[1].2.resource_logs[0].scope_logs[0]
            .log_records
            .len(),
        1
    );
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let o = c.cordon(&[
        "audit",
        "export",
        "--otlp",
        &format!("http://127.0.0.1:{dead_port}"),
    ]);
    assert_eq!(code(&o), 125);
    assert!(
        text(&o).contains("cannot connect") && text(&o).contains("collector"),
        "{}",
        text(&o)
    );
    let o = c.cordon(&["audit", "export", "--otlp", "https://example.com"]);
    assert_eq!(code(&o), 125);
    assert!(text(&o).contains("not an http:// URL"), "{}", text(&o));
}

fn chromium() -> String {
    for b in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return b.to_string();
        }
    }
    panic!("headless Chromium is needed for this test: install Debian's 'chromium' package (apt-get install chromium; .ci/run does)");
}

/// A PNG, and not blank: a blank page of the same size, rendered by the same Chromium, compresses
/// to a few KB; the report (text, tables, bars) to several times more.
fn assert_png_not_blank(p: &std::path::Path, blank: &std::path::Path) {
    let png = std::fs::read(p).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let blank = std::fs::read(blank).unwrap();
    assert!(
        png.len() > blank.len() * 3,
        "the screenshot ({} bytes) is hardly larger than a blank page's ({} bytes)",
        png.len(),
        blank.len()
    );
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let chrome = chromium();
    let c = Case::new(Who::Invoker, false);
    c.cordon(&["check", "--agent", "<i>rep</i>", "--", "rm -rf /"]);
    c.cordon(&["check", "--", "git push --force origin main"]);
    c.cordon(&["run", "--", "sh", "-c", "echo hi"]);
    let page = c.base.join("report.html");
    let o = c.cordon(&["audit", "report", "--html", page.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("src=") && !html.contains("href="),
        "nothing fetched"
    );
    assert!(!html.contains("<script"), "no script");
    assert!(
        html.contains("&lt;i&gt;rep&lt;/i&gt;") && !html.contains("<i>rep"),
        "escaped"
    );

    let prof = c.base.join("chrome-profile");
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&chrome);
        cmd.args([
            "--headless",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", prof.display()));
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            cmd.arg("--no-sandbox");
        }
        cmd.args(args).env("HOME", &c.base);
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{chrome} {args:?}: {}", text(&o));
        o
    };
    let url = format!("file://{}", page.display());
    let dom = String::from_utf8(run(&["--dump-dom", &url]).stdout).unwrap();
    assert!(dom.contains("cordon audit report"), "{dom}");
    assert!(dom.contains("rm -rf /"), "the denied command is shown");
    assert!(dom.contains("class=\"deny\">deny</td>"), "as denied");
    assert!(dom.contains("git push --force origin main"));
    assert!(dom.contains("<svg"), "the chart");
    assert!(
        dom.contains("<td><code>sh -c echo hi</code></td>"),
        "what the run session ran"
    );
    assert!(dom.contains("&lt;i&gt;rep&lt;/i&gt;"), "the agent, as text");

    let shot = c.base.join("report.png");
    run(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1000,1400",
        &url,
    ]);
    let blank_html = c.base.join("blank.html");
    std::fs::write(&blank_html, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank = c.base.join("blank.png");
    run(&[
        &format!("--screenshot={}", blank.display()),
        "--window-size=1000,1400",
        &format!("file://{}", blank_html.display()),
    ]);
    assert_png_not_blank(&shot, &blank);
    // Kept for people: target/audit-report.png
    let keep = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("audit-report.png");
    let _ = std::fs::copy(&shot, keep);
}
