//! `cordon audit report --html FILE`: one self-contained page (inline CSS, inline SVG, no
//! script, nothing fetched): sessions on a timeline, counts by decision and rule, the denied and
//! asked commands, the domains contacted with their bytes, and activity over time.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::read::{value_text, Record};

/// HTML-escapes text that went through `value_text` (already free of control characters).
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn field(r: &Record, k: &str) -> String {
    esc(&r.v.get(k).map(value_text).unwrap_or_default())
}

#[derive(Default)]
struct Session {
    id: String,
    start: i64,
    end: i64,
    command: String,
    argv: String,
    agent: String,
    mode: String,
    records: usize,
    exit: Option<String>,
    denied: usize,
}

#[derive(Default)]
struct Domain {
    allowed: u64,
    denied: u64,
    up: u64,
    down: u64,
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#fff}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde}\
.meta{color:#667}table{border-collapse:collapse;margin:4px 0}td,th{padding:3px 10px;border-bottom:1px solid #eef;text-align:left;vertical-align:top}\
th{background:#f4f5fa}td.n{text-align:right;font-variant-numeric:tabular-nums}code{font:12px ui-monospace,monospace;word-break:break-all}\
.deny{color:#b3261e;font-weight:600}.ask{color:#9a6700;font-weight:600}.allow{color:#1a7f37}\
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #dde;border-radius:6px;padding:8px 14px;min-width:90px}\
.card b{display:block;font-size:22px}svg text{font:11px system-ui,sans-serif;fill:#445}";

/// Denied and asked commands, approvals.
fn flagged_table(h: &mut String, flagged: &[&Record]) {
    h.push_str("<h2>Denied and asked commands</h2><table><tr><th>time</th><th>session</th><th>decision</th><th>rule</th><th>command</th><th>reason</th></tr>");
    for r in flagged {
        let (d, cmd, rule, reason) = if r.event() == "approval" {
            (
                format!(
                    "approval: {} by {}",
                    field(r, "answer"),
                    field(r, "answered_by")
                ),
                field(r, "prompt"),
                field(r, "rule"),
                field(r, "note"),
            )
        } else if r.event() == "hook" {
            (
                field(r, "decision"),
                format!(
                    "{} {}: {}",
                    field(r, "agent"),
                    field(r, "tool"),
                    field(r, "target")
                ),
                field(r, "rule"),
                field(r, "reason"),
            )
        } else {
            (
                field(r, "decision"),
                field(r, "command"),
                field(r, "rule"),
                field(r, "reason"),
            )
        };
        let class = if d == "deny" { "deny" } else { "ask" };
        let _ = write!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"{class}\">{d}</td><td><code>{rule}</code></td><td><code>{cmd}</code></td><td>{reason}</td></tr>",
            crate::rfc3339_ms(r.ts_ms),
            esc(r.session().get(..8).unwrap_or(r.session())),
        );
    }
    h.push_str("</table>");
}

/// What the page counts, in one pass over the records.
struct Tally<'a> {
    sessions: BTreeMap<String, Session>,
    by_decision: BTreeMap<String, usize>,
    by_rule: BTreeMap<(String, String), usize>,
    by_event: BTreeMap<String, usize>,
    domains: BTreeMap<String, Domain>,
    /// Denied and asked decisions, approvals.
    flagged: Vec<&'a Record>,
    /// The first and last record's time (0 when there is none).
    t0: i64,
    t1: i64,
}

fn tally(recs: &[Record]) -> Tally<'_> {
    let mut sessions: BTreeMap<String, Session> = BTreeMap::new();
    let mut by_decision: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_rule: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut by_event: BTreeMap<String, usize> = BTreeMap::new();
    let mut domains: BTreeMap<String, Domain> = BTreeMap::new();
    let mut flagged: Vec<&Record> = Vec::new();
    let (mut t0, mut t1) = (i64::MAX, i64::MIN);
    for r in recs {
        t0 = t0.min(r.ts_ms);
        t1 = t1.max(r.ts_ms);
        *by_event.entry(r.event().to_string()).or_default() += 1;
        let s = sessions
            .entry(r.session().to_string())
            .or_insert_with(|| Session {
                id: r.session().to_string(),
                start: r.ts_ms,
                ..Default::default()
            });
        s.records += 1;
        s.end = s.end.max(r.ts_ms);
        match r.event() {
            "session_start" => {
                s.start = r.ts_ms;
                s.command = field(r, "command");
                s.agent = field(r, "agent");
                s.mode = field(r, "mode");
            }
            "exit" => s.exit = Some(field(r, "status")),
            // What ran (the first exec of a session; an on-failure rerun has the same argv).
            "exec" if s.argv.is_empty() => s.argv = field(r, "argv"),
            // An agent's hook decisions count as decisions (events that decide nothing do not).
            "decision" | "hook" if r.str("decision") != "none" => {
                let d = r.str("decision").to_string();
                *by_decision.entry(d.clone()).or_default() += 1;
                *by_rule
                    .entry((r.str("rule").to_string(), d.clone()))
                    .or_default() += 1;
                if d != "allow" {
                    flagged.push(r);
                }
                if d == "deny" {
                    s.denied += 1;
                }
            }
            "approval" => flagged.push(r),
            "connection" => {
                let key = format!("{}:{}", value_text(&r.v["host"]), r.u64("port"));
                let d = domains.entry(key).or_default();
                if r.str("decision") == "allow" {
                    d.allowed += 1;
                } else {
                    d.denied += 1;
                }
                d.up += r.u64("bytes_up");
                d.down += r.u64("bytes_down");
            }
            _ => {}
        }
    }
    if recs.is_empty() {
        t0 = 0;
        t1 = 0;
    }
    Tally {
        sessions,
        by_decision,
        by_rule,
        by_event,
        domains,
        flagged,
        t0,
        t1,
    }
}

/// The page for `recs` (already filtered); `source` names the log.
pub fn html(recs: &[Record], source: &str) -> String {
    let Tally {
        sessions,
        by_decision,
        by_rule,
        by_event,
        domains,
        flagged,
        t0,
        t1,
    } = tally(recs);
    let mut h = String::with_capacity(64 << 10);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>cordon audit report</title><style>{CSS}</style></head><body>\
         <h1>cordon audit report</h1><p class=\"meta\">{} records from <code>{}</code>, {} → {}; generated {}</p>",
        recs.len(),
        esc(&crate::term_safe(source)),
        crate::rfc3339_ms(t0),
        crate::rfc3339_ms(t1),
        crate::rfc3339_ms(crate::now_ms())
    );
    // Cards.
    h.push_str("<div class=\"cards\">");
    let card = |h: &mut String, label: &str, n: usize, class: &str| {
        let _ = write!(
            h,
            "<div class=\"card\"><b class=\"{class}\">{n}</b>{label}</div>"
        );
    };
    card(&mut h, "sessions", sessions.len(), "");
    for d in ["allow", "ask", "deny"] {
        card(
            &mut h,
            &format!("{d} decisions"),
            *by_decision.get(d).unwrap_or(&0),
            d,
        );
    }
    card(
        &mut h,
        "connections",
        *by_event.get("connection").unwrap_or(&0),
        "",
    );
    card(
        &mut h,
        "degradations",
        *by_event.get("degradation").unwrap_or(&0),
        "ask",
    );
    h.push_str("</div>");

    // Activity over time.
    h.push_str("<h2>Activity</h2>");
    h.push_str(&activity_svg(recs, t0, t1));

    // Sessions timeline.
    h.push_str("<h2>Sessions</h2>");
    h.push_str(&timeline_svg(&sessions, t0, t1));
    h.push_str("<table><tr><th>start</th><th>session</th><th>command</th><th>ran</th><th>agent</th><th>mode</th><th>records</th><th>denied</th><th>exit</th></tr>");
    let mut ss: Vec<&Session> = sessions.values().collect();
    ss.sort_by_key(|s| s.start);
    for s in &ss {
        let _ = write!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n{}\">{}</td><td>{}</td></tr>",
            crate::rfc3339_ms(s.start),
            esc(&s.id),
            s.command,
            s.argv,
            s.agent,
            s.mode,
            s.records,
            if s.denied > 0 { " deny" } else { "" },
            s.denied,
            s.exit.clone().unwrap_or_else(|| "—".into())
        );
    }
    h.push_str("</table>");

    // Decisions by rule.
    h.push_str(
        "<h2>Decisions by rule</h2><table><tr><th>rule</th><th>decision</th><th>count</th></tr>",
    );
    let mut rules: Vec<_> = by_rule.iter().collect();
    rules.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for ((rule, d), n) in rules {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td class=\"{}\">{}</td><td class=\"n\">{n}</td></tr>",
            esc(&crate::term_safe(rule)),
            esc(d),
            esc(d)
        );
    }
    h.push_str("</table>");

    flagged_table(&mut h, &flagged);

    // Domains.
    h.push_str("<h2>Domains contacted</h2><table><tr><th>host:port</th><th>allowed</th><th>denied</th><th>bytes up</th><th>bytes down</th></tr>");
    for (k, d) in &domains {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td class=\"n allow\">{}</td><td class=\"n{}\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(k),
            d.allowed,
            if d.denied > 0 { " deny" } else { "" },
            d.denied,
            d.up,
            d.down
        );
    }
    h.push_str("</table>");

    // Events.
    h.push_str("<h2>Records by event</h2><table>");
    for (e, n) in &by_event {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{n}</td></tr>",
            esc(&crate::term_safe(e))
        );
    }
    h.push_str("</table></body></html>\n");
    h
}

/// Bars of records per time bucket; the denied part in red.
fn activity_svg(recs: &[Record], t0: i64, t1: i64) -> String {
    const N: usize = 40;
    const W: f64 = 800.0;
    const H: f64 = 140.0;
    let span = (t1 - t0).max(1) as f64;
    let mut all = [0usize; N];
    let mut deny = [0usize; N];
    for r in recs {
        let i = (((r.ts_ms - t0) as f64 / span) * (N as f64 - 1.0)).round() as usize;
        let i = i.min(N - 1);
        all[i] += 1;
        if r.str("decision") == "deny" {
            deny[i] += 1;
        }
    }
    let max = *all.iter().max().unwrap_or(&1).max(&1) as f64;
    let bw = W / N as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"records over time\">\
         <rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"#f7f8fc\"/>",
        W,
        H + 20.0
    );
    for i in 0..N {
        let x = i as f64 * bw + 1.0;
        let h = all[i] as f64 / max * (H - 10.0);
        let hd = deny[i] as f64 / max * (H - 10.0);
        if all[i] > 0 {
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#4c6ef5\"><title>{} records</title></rect>",
                H - h,
                bw - 2.0,
                all[i]
            );
        }
        if deny[i] > 0 {
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{hd:.1}\" fill=\"#e03131\"><title>{} denied</title></rect>",
                H - hd,
                bw - 2.0,
                deny[i]
            );
        }
    }
    let _ = write!(
        s,
        "<text x=\"0\" y=\"{}\">{}</text><text x=\"{W}\" y=\"{}\" text-anchor=\"end\">{}</text>\
         <text x=\"{}\" y=\"12\" text-anchor=\"end\">max {} records per bucket</text></svg>",
        H + 14.0,
        crate::rfc3339_ms(t0),
        H + 14.0,
        crate::rfc3339_ms(t1),
        W - 4.0,
        max
    );
    s
}

/// One row per session (at most 50) from its first to its last record.
fn timeline_svg(sessions: &BTreeMap<String, Session>, t0: i64, t1: i64) -> String {
    const W: f64 = 800.0;
    let mut ss: Vec<&Session> = sessions.values().collect();
    ss.sort_by_key(|s| s.start);
    ss.truncate(50);
    let row = 16.0;
    let h = row * ss.len() as f64 + 4.0;
    let span = (t1 - t0).max(1) as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" role=\"img\" aria-label=\"sessions\">"
    );
    for (i, x) in ss.iter().enumerate() {
        let a = 120.0 + (x.start - t0) as f64 / span * (W - 130.0);
        let b = 120.0 + (x.end - t0) as f64 / span * (W - 130.0);
        let colour = if x.denied > 0 { "#e03131" } else { "#2f9e44" };
        let y = i as f64 * row + 2.0;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{:.1}\">{} {}</text><rect x=\"{a:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"3\" fill=\"{colour}\"><title>{} {}</title></rect>",
            y + 11.0,
            esc(x.id.get(..8).unwrap_or(&x.id)),
            x.command,
            (b - a).max(4.0),
            row - 4.0,
            x.command,
            x.agent
        );
    }
    s.push_str("</svg>");
    s
}
