//! What the gateway does with each message. Transparent by default: a message is forwarded as
//! the bytes it came as, unless it is one of the few the gateway looks into:
//!
//! - client → server `tools/call`: refused (a tool error the model can read) when the tool is
//!   withheld or a tool rule denies it; otherwise forwarded, and its answer recorded;
//! - server → client answer to `tools/list`: each tool checked against its pin and for
//!   poisoning; withheld tools are removed from the list (the rest of the answer, `nextCursor`,
//!   `ttlMs`, `_meta`, stays);
//! - answers to `initialize` (2025-06-18, 2025-11-25) and `server/discover` (2026-07-28): the
//!   server's `instructions` pinned and scanned like a tool;
//! - `notifications/cancelled`: forgets the cancelled request.
//!
//! Both protocol eras go through the same path: the 2026-07-28 era's per-request `_meta`, its
//! `resultType`, `subscriptions/listen` and every method the gateway does not know are passed
//! on unchanged. A refusal is shaped for the era of the request it answers (`resultType` when
//! the request carried `io.modelcontextprotocol/protocolVersion`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use cordon_audit::{Event, Text};
use serde_json::{json, Value};

use crate::canon;
use crate::pins::{self, Identity, PendingTool, PinnedText, PinnedTool, Store};
use crate::poison::{self, Finding};
use crate::wire::Msg;

/// What to do with a tool flagged for poisoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoisonMode {
    /// Withhold it until a person approves it (default).
    Withhold,
    /// Show it; say so on stderr and in the audit log.
    Warn,
}

/// What to do the first time a server is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstUse {
    /// Pin its tools as they are (default).
    Trust,
    /// Withhold everything until `cordon mcp approve NAME`.
    Ask,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// The server's name (`--name`): the pin file's and the rules' name.
    pub name: String,
    pub first_use: FirstUse,
    pub poison: PoisonMode,
    /// The largest message accepted, in bytes (both directions).
    pub max_message: usize,
}

/// The tool rules' answer on one call (after any question).
#[derive(Debug, Clone)]
pub struct CallDecision {
    /// The policy's word: `allow`, `ask` or `deny`.
    pub decision: String,
    /// Whether the call goes on (an `ask` answered yes, or allow).
    pub allowed: bool,
    pub rule: String,
    pub reason: String,
}

/// Decides a `tools/call` (the tool rules, and a question for `ask`).
pub trait CallPolicy: Send + Sync {
    fn decide(
        &self,
        server: &str,
        tool: &str,
        args: &Value,
        annotations: Option<&Value>,
    ) -> CallDecision;
}

/// Where a message goes (each with its newline).
#[derive(Debug, PartialEq, Eq)]
pub enum Out {
    Client(Vec<u8>),
    Server(Vec<u8>),
}

/// JSON-RPC error codes used by the gateway.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
/// Implementation-defined server error (the range the 2026-07-28 spec leaves to implementations).
pub const GATEWAY_ERROR: i64 = -32000;

enum Pending {
    List,
    Call {
        tool: String,
        args_sha256: String,
        decision: String,
        rule: String,
        reason: String,
        started: Instant,
    },
    Init,
    Other,
}

#[derive(Debug, Clone)]
enum Shown {
    Ok { annotations: Option<Value> },
    Withheld(String),
}

struct State {
    pending: HashMap<String, Pending>,
    tools: HashMap<String, Shown>,
    /// Names of a paginated listing so far (for tools that disappeared).
    listing: Vec<String>,
    server_gone: bool,
}

pub type Recorder = Box<dyn Fn(Event) + Send + Sync>;

/// A change to record: (tool, change, old sha256, new sha256, detail).
type ChangeEv = (
    Option<String>,
    &'static str,
    Option<String>,
    Option<String>,
    String,
);

pub struct Gateway {
    opts: Options,
    store: Store,
    /// The server's identity matches its pin (or was pinned now).
    identity_ok: bool,
    identity_note: String,
    state: Mutex<State>,
    policy: Box<dyn CallPolicy>,
    record: Recorder,
}

fn now() -> String {
    cordon_audit::rfc3339_ms(cordon_audit::now_ms())
}

fn key(id: &Value) -> String {
    canon::to_string(id)
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

fn line(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// A JSON-RPC error answer.
pub fn error(id: &Value, code: i64, message: &str) -> Vec<u8> {
    line(&json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}))
}

/// Does the request carry the 2026-07-28 per-request metadata?
fn modern(msg: &Value) -> bool {
    msg.pointer("/params/_meta")
        .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
        .is_some()
}

/// A tool error (a `CallToolResult` with `isError`), which the model reads.
pub fn tool_error(id: &Value, modern: bool, text: &str) -> Vec<u8> {
    let mut result = json!({"content": [{"type": "text", "text": text}], "isError": true});
    if modern {
        result["resultType"] = json!("complete");
    }
    line(&json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

impl Gateway {
    /// Checks the server's identity against its pin (pinning it on first use) and returns the
    /// gateway. The error is about the pin store.
    pub fn new(
        opts: Options,
        store: Store,
        identity: Identity,
        policy: Box<dyn CallPolicy>,
        record: Recorder,
    ) -> Result<Gateway, crate::Error> {
        pins::check_name(&opts.name)?;
        let name = opts.name.clone();
        let first_use = opts.first_use;
        let mut events = Vec::new();
        let ((ok, note), _) = store.update(&name, |p| {
            p.name = name.clone();
            match &p.identity {
                Some(id) if *id == identity => {
                    p.pending_identity = None;
                    (true, String::new())
                }
                None if first_use == FirstUse::Trust => {
                    events.push(("pinned", None, Some(identity.sha256()), describe(&identity)));
                    p.identity = Some(identity.clone());
                    (true, String::new())
                }
                old => {
                    let detail = match old {
                        Some(old) => identity_diff(old, &identity),
                        None => format!(
                            "first use of {} (first use is set to ask)",
                            describe(&identity)
                        ),
                    };
                    if p.pending_identity.as_ref() != Some(&identity) {
                        events.push((
                            "identity",
                            old.as_ref().map(|o| o.sha256()),
                            Some(identity.sha256()),
                            detail.clone(),
                        ));
                    }
                    p.pending_identity = Some(identity.clone());
                    (false, detail)
                }
            }
        })?;
        for (change, old, new, detail) in events {
            record(Event::McpChange {
                server: name.clone(),
                tool: None,
                change: change.into(),
                old_sha256: old,
                new_sha256: new,
                detail: Text::from(detail.as_str()),
            });
        }
        if !ok {
            errln!(
                "cordon: mcp {name}: every tool is withheld: {note}; a person must review it: cordon mcp approve {name}"
            );
        }
        Ok(Gateway {
            opts,
            store,
            identity_ok: ok,
            identity_note: note,
            state: Mutex::new(State {
                pending: HashMap::new(),
                tools: HashMap::new(),
                listing: Vec::new(),
                server_gone: false,
            }),
            policy,
            record,
        })
    }

    fn name(&self) -> &str {
        &self.opts.name
    }

    fn rec(&self, ev: Event) {
        (self.record)(ev)
    }

    fn wire_error(&self, what: &str, detail: String) {
        self.rec(Event::McpError {
            server: self.name().into(),
            what: what.into(),
            detail: Text::from(detail.as_str()),
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A message from the client.
    pub fn from_client(&self, m: Msg) -> Vec<Out> {
        let raw = match m {
            Msg::Line(l) => l,
            Msg::Oversized { len, id } => {
                let msg = format!(
                    "cordon: message of {len} bytes refused: over the gateway's limit of {} bytes (--max-message)",
                    self.opts.max_message
                );
                self.wire_error("oversized", format!("from the client: {msg}"));
                return vec![Out::Client(error(
                    &id.unwrap_or(Value::Null),
                    INVALID_REQUEST,
                    &msg,
                ))];
            }
        };
        let msg: Value = match serde_json::from_slice(&raw) {
            Ok(v) => v,
            Err(e) => {
                let msg = format!("cordon: parse error: the message is not JSON ({e})");
                self.wire_error("malformed", format!("from the client: {msg}"));
                let id = crate::wire::id_in_head(&raw).unwrap_or(Value::Null);
                return vec![Out::Client(error(&id, PARSE_ERROR, &msg))];
            }
        };
        let Some(obj) = msg.as_object() else {
            let msg = "cordon: invalid request: a message must be one JSON-RPC object (batches were removed from MCP in 2025-06-18)";
            self.wire_error("malformed", format!("from the client: {msg}"));
            return vec![Out::Client(error(&Value::Null, INVALID_REQUEST, msg))];
        };
        let method = obj.get("method").and_then(Value::as_str);
        let id = obj.get("id").filter(|v| !v.is_null());
        let mut raw = raw;
        raw.push(b'\n');
        match (method, id) {
            (Some(method), Some(id)) => self.client_request(method, id, &msg, raw),
            (Some("notifications/cancelled"), None) => {
                if let Some(rid) = msg.pointer("/params/requestId") {
                    self.lock().pending.remove(&key(rid));
                }
                vec![Out::Server(raw)]
            }
            // Notifications, and answers to the server's own requests (legacy era).
            _ => {
                if self.lock().server_gone {
                    return Vec::new();
                }
                vec![Out::Server(raw)]
            }
        }
    }

    fn client_request(&self, method: &str, id: &Value, msg: &Value, raw: Vec<u8>) -> Vec<Out> {
        let k = key(id);
        {
            let st = self.lock();
            if st.server_gone {
                return vec![Out::Client(error(
                    id,
                    GATEWAY_ERROR,
                    &format!(
                        "cordon: the MCP server {} is no longer running",
                        self.name()
                    ),
                ))];
            }
            if st.pending.contains_key(&k) {
                drop(st);
                let m = format!(
                    "cordon: invalid request: id {k} is already in use by a request in flight"
                );
                self.wire_error("duplicate_id", m.clone());
                return vec![Out::Client(error(id, INVALID_REQUEST, &m))];
            }
        }
        let pending = match method {
            "tools/call" => match self.decide_call(id, msg) {
                Ok(p) => p,
                Err(answer) => return vec![Out::Client(answer)],
            },
            "tools/list" => Pending::List,
            "initialize" | "server/discover" => Pending::Init,
            _ => Pending::Other,
        };
        self.lock().pending.insert(k, pending);
        vec![Out::Server(raw)]
    }

    /// Ok: forward the call; Err: the answer that refuses it.
    fn decide_call(&self, id: &Value, msg: &Value) -> Result<Pending, Vec<u8>> {
        let name = msg.pointer("/params/name").and_then(Value::as_str);
        let args = msg
            .pointer("/params/arguments")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let args_sha256 = canon::sha256(&args);
        let Some(name) = name else {
            // Malformed: the server answers it (nothing runs without a name).
            return Ok(Pending::Other);
        };
        let shown = self.lock().tools.get(name).cloned();
        let shown = match shown {
            Some(s) => s,
            None => self.shown_from_store(name),
        };
        let refuse = |rule: &str, reason: String, decision: &str| {
            self.rec(Event::McpCall {
                server: self.name().into(),
                tool: Text::from(name),
                args_sha256: args_sha256.clone(),
                decision: decision.into(),
                rule: rule.into(),
                reason: Text::from(reason.as_str()),
                result_bytes: None,
                is_error: None,
                duration_ms: None,
            });
            tool_error(id, modern(msg), &reason)
        };
        let annotations = match shown {
            Shown::Withheld(why) => {
                return Err(refuse(
                    "pin",
                    format!(
                        "cordon refused the call: tool {name:?} of MCP server {:?} is withheld: {why}. A person must review it with: cordon mcp approve {} {name}",
                        self.name(),
                        self.name()
                    ),
                    "deny",
                ))
            }
            Shown::Ok { annotations } => annotations,
        };
        let d = self
            .policy
            .decide(self.name(), name, &args, annotations.as_ref());
        if !d.allowed {
            let text = format!(
                "cordon refused the call of tool {name:?} (MCP server {:?}): {} ({}: {})",
                self.name(),
                d.reason,
                if d.decision == "ask" {
                    "asked, not approved"
                } else {
                    "denied by rule"
                },
                d.rule
            );
            return Err(refuse(&d.rule, text, &d.decision));
        }
        Ok(Pending::Call {
            tool: name.to_string(),
            args_sha256,
            decision: d.decision,
            rule: d.rule,
            reason: d.reason,
            started: Instant::now(),
        })
    }

    /// A tool not listed in this session: allowed only if pinned and unchanged as far as the
    /// store knows.
    fn shown_from_store(&self, name: &str) -> Shown {
        if !self.identity_ok {
            return Shown::Withheld(format!(
                "the server's identity changed: {}",
                self.identity_note
            ));
        }
        match self.store.load(self.name()) {
            Ok(p) => match (p.tools.get(name), p.pending.get(name)) {
                (_, Some(pend)) => Shown::Withheld(pending_reason(pend)),
                (Some(t), None) => Shown::Ok {
                    annotations: t.def.get("annotations").cloned(),
                },
                (None, None) => Shown::Withheld(
                    "it is not a tool the server listed through the gateway (call tools/list first)".into(),
                ),
            },
            Err(e) => Shown::Withheld(e.to_string()),
        }
    }

    /// A message from the server.
    pub fn from_server(&self, m: Msg) -> Vec<Out> {
        let raw = match m {
            Msg::Line(l) => l,
            Msg::Oversized { len, id } => {
                let msg = format!(
                    "cordon: the MCP server {} sent a message of {len} bytes, over the gateway's limit of {} bytes (--max-message); it was dropped",
                    self.name(),
                    self.opts.max_message
                );
                self.wire_error("oversized", format!("from the server: {msg}"));
                return self.answer_dropped(id, &msg);
            }
        };
        let msg: Value = match serde_json::from_slice(&raw) {
            Ok(v) => v,
            Err(e) => {
                let msg = format!(
                    "cordon: the MCP server {} sent a message that is not JSON ({e}); it was dropped",
                    self.name()
                );
                self.wire_error("malformed", format!("from the server: {msg}"));
                return self.answer_dropped(crate::wire::id_in_head(&raw), &msg);
            }
        };
        let mut raw = raw;
        raw.push(b'\n');
        let Some(obj) = msg.as_object() else {
            self.wire_error(
                "malformed",
                "from the server: not a JSON-RPC object; dropped".into(),
            );
            return Vec::new();
        };
        let id = obj.get("id").filter(|v| !v.is_null());
        let is_response = obj.get("method").is_none() && id.is_some();
        if !is_response {
            if obj.get("method").and_then(Value::as_str) == Some("notifications/tools/list_changed")
            {
                self.rec(Event::McpChange {
                    server: self.name().into(),
                    tool: None,
                    change: "list_changed".into(),
                    old_sha256: None,
                    new_sha256: None,
                    detail: Text::from("the server says its tools changed; the next tools/list is checked against the pins"),
                });
            }
            // Requests of the server (legacy era: sampling, elicitation, roots) and
            // notifications pass through.
            return vec![Out::Client(raw)];
        }
        let Some(id) = id else {
            return vec![Out::Client(raw)];
        };
        let pending = self.lock().pending.remove(&key(id));
        match pending {
            Some(Pending::List) => self.list_answer(msg, raw),
            Some(Pending::Init) => self.init_answer(msg, raw),
            Some(Pending::Call {
                tool,
                args_sha256,
                decision,
                rule,
                reason,
                started,
            }) => {
                self.rec(Event::McpCall {
                    server: self.name().into(),
                    tool: Text::from(tool.as_str()),
                    args_sha256,
                    decision,
                    rule,
                    reason: Text::from(reason.as_str()),
                    result_bytes: Some(raw.len() as u64 - 1),
                    is_error: Some(
                        msg.pointer("/result/isError").and_then(Value::as_bool) == Some(true)
                            || msg.get("error").is_some(),
                    ),
                    duration_ms: Some(started.elapsed().as_millis() as u64),
                });
                vec![Out::Client(raw)]
            }
            _ => vec![Out::Client(raw)],
        }
    }

    /// A server message was dropped: if it answered a request in flight, answer that request.
    fn answer_dropped(&self, id: Option<Value>, msg: &str) -> Vec<Out> {
        let Some(id) = id else { return Vec::new() };
        if self.lock().pending.remove(&key(&id)).is_some() {
            vec![Out::Client(error(&id, GATEWAY_ERROR, msg))]
        } else {
            Vec::new()
        }
    }

    /// The server is gone (its stdout closed): every request in flight gets an error.
    pub fn server_gone(&self, status: &str) -> Vec<Out> {
        let mut st = self.lock();
        st.server_gone = true;
        let ids: Vec<String> = st.pending.keys().cloned().collect();
        st.pending.clear();
        drop(st);
        let msg = format!(
            "cordon: the MCP server {} exited ({status}) before answering",
            self.name()
        );
        self.wire_error(
            "server_exit",
            format!(
                "{msg}; {} request(s) in flight answered with an error",
                ids.len()
            ),
        );
        ids.iter()
            .filter_map(|k| serde_json::from_str::<Value>(k).ok())
            .map(|id| Out::Client(error(&id, GATEWAY_ERROR, &msg)))
            .collect()
    }

    /// The client is gone (stdin closed or stdout broken).
    pub fn client_gone(&self, why: &str) {
        let n = self.lock().pending.len();
        self.wire_error(
            "client_disconnect",
            format!("{why}; {n} request(s) in flight dropped; the server is stopped"),
        );
    }

    fn init_answer(&self, mut msg: Value, raw: Vec<u8>) -> Vec<Out> {
        let Some(text) = msg
            .pointer("/result/instructions")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return vec![Out::Client(raw)];
        };
        let others = self.other_tool_names(&[]);
        let findings = poison::scan_instructions(&text, &others);
        let sha = canon::sha256_bytes(text.as_bytes());
        let first = self.opts.first_use == FirstUse::Trust;
        let mut events = Vec::new();
        let withhold = self.store.update(self.name(), |p| {
            let flagged = !findings.is_empty() && self.opts.poison == PoisonMode::Withhold;
            let accepted = |pt: &PinnedText| pt.findings == findings;
            let ok = match &p.instructions {
                Some(pt) if pt.sha256 == sha => !flagged || accepted(pt),
                None if first && !flagged && self.identity_ok => {
                    events.push(("pinned", None, "first use".to_string()));
                    p.instructions = Some(PinnedText {
                        sha256: sha.clone(),
                        text: text.clone(),
                        findings: Vec::new(),
                    });
                    true
                }
                _ => false,
            };
            if !ok && p.pending_instructions.as_ref().map(|x| &x.sha256) != Some(&sha) {
                let kind = if flagged { "flagged" } else { "instructions" };
                let detail = if flagged {
                    findings
                        .iter()
                        .map(|f| f.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                } else {
                    "the server's instructions changed since they were pinned".into()
                };
                events.push((
                    kind,
                    p.instructions.as_ref().map(|x| x.sha256.clone()),
                    detail,
                ));
                p.pending_instructions = Some(PinnedText {
                    sha256: sha.clone(),
                    text: text.clone(),
                    findings: findings.clone(),
                });
            }
            !ok || !self.identity_ok
        });
        for (change, old, detail) in events {
            self.rec(Event::McpChange {
                server: self.name().into(),
                tool: None,
                change: change.into(),
                old_sha256: old,
                new_sha256: Some(sha.clone()),
                detail: Text::from(format!("instructions: {detail}").as_str()),
            });
        }
        match withhold {
            Ok((false, _)) => {
                if !findings.is_empty() {
                    self.warn_findings(None, &findings);
                }
                vec![Out::Client(raw)]
            }
            other => {
                if let Err(e) = &other {
                    errln!(
                        "cordon: mcp {}: {e}; the instructions are withheld",
                        self.name()
                    );
                }
                if let Some(r) = msg.get_mut("result").and_then(Value::as_object_mut) {
                    r.remove("instructions");
                }
                vec![Out::Client(line(&msg))]
            }
        }
    }

    fn warn_findings(&self, tool: Option<&str>, findings: &[Finding]) {
        for f in findings {
            errln!(
                "cordon: mcp {}{}: WARNING: possible poisoning ({f}); shown anyway (--on-poison warn)",
                self.name(),
                tool.map(|t| format!("/{t}")).unwrap_or_default()
            );
        }
    }

    /// Names of other servers' tools, except those this server also has (a mention of its own
    /// tool is not shadowing).
    fn other_tool_names(&self, own: &[String]) -> Vec<String> {
        let mut v: Vec<String> = self
            .store
            .other_tools(self.name())
            .into_iter()
            .map(|(_, t)| t)
            .filter(|t| !own.contains(t))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Each listed tool against its pin: shown, or withheld and why (pending approvals and the
    /// change events recorded on the way). On the last page, tools no longer listed are noted.
    fn verdicts(
        &self,
        p: &mut pins::ServerPins,
        tools: &[Value],
        checked: &[(String, String, Vec<Finding>)],
        listing: &[String],
        last_page: bool,
        events: &mut Vec<ChangeEv>,
    ) -> Vec<Shown> {
        let first = self.opts.first_use == FirstUse::Trust;
        let warn = self.opts.poison == PoisonMode::Warn;
        let identity_ok = self.identity_ok;
        let trusting = first && !p.listed && identity_ok;
        let mut verdicts = Vec::with_capacity(tools.len());
        for (i, (name, sha, findings)) in checked.iter().enumerate() {
            let def = pins::tool_def(&tools[i]);
            let flagged = !findings.is_empty() && !warn;
            let pend =
                |kind: &str, p: &mut pins::ServerPins, events: &mut Vec<_>, detail: String| {
                    pend_tool(p, events, (name, sha, findings), &def, kind, detail);
                };
            let findings_text = || {
                findings
                    .iter()
                    .map(|f| f.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let verdict = match p.tools.get(name) {
                Some(t) if t.sha256 == *sha => {
                    if flagged && t.accepted != *findings {
                        pend("flagged", p, events, findings_text());
                        Shown::Withheld(format!(
                            "flagged as possible poisoning: {}",
                            findings_text()
                        ))
                    } else {
                        p.pending.remove(name);
                        Shown::Ok {
                            annotations: def.get("annotations").cloned(),
                        }
                    }
                }
                Some(t) => {
                    let what = changed_fields(&t.def, &def);
                    let old = short(&t.sha256).to_string();
                    pend("changed", p, events, format!("{what} changed"));
                    Shown::Withheld(format!(
                        "its definition changed since it was pinned ({what}; sha256 {old}… → {}…)",
                        short(sha)
                    ))
                }
                None if trusting && !flagged => {
                    p.tools.insert(
                        name.clone(),
                        PinnedTool {
                            sha256: sha.clone(),
                            def: def.clone(),
                            pinned_at: now(),
                            how: "first-use".into(),
                            accepted: Vec::new(),
                        },
                    );
                    events.push((
                        Some(name.clone()),
                        "pinned",
                        None,
                        Some(sha.clone()),
                        "first use".into(),
                    ));
                    Shown::Ok {
                        annotations: def.get("annotations").cloned(),
                    }
                }
                None if flagged => {
                    pend("flagged", p, events, findings_text());
                    Shown::Withheld(format!(
                        "flagged as possible poisoning: {}",
                        findings_text()
                    ))
                }
                None => {
                    pend(
                        "new",
                        p,
                        events,
                        "a tool that was not there when the server was pinned".into(),
                    );
                    Shown::Withheld(if p.listed {
                        "it is new: it was not there when the server's tools were pinned".into()
                    } else {
                        "the server was never approved (first use is set to ask)".into()
                    })
                }
            };
            let verdict = match verdict {
                Shown::Ok { .. } if !identity_ok => Shown::Withheld(format!(
                    "the server's identity changed: {}",
                    self.identity_note
                )),
                v => v,
            };
            if warn && !findings.is_empty() {
                events.push((
                    Some(name.clone()),
                    "flagged",
                    None,
                    Some(sha.clone()),
                    format!("warned: {}", findings_text()),
                ));
            }
            verdicts.push(verdict);
        }
        if last_page {
            if identity_ok {
                p.listed = true;
            }
            for gone in p.tools.keys().filter(|k| listing.binary_search(k).is_err()) {
                events.push((
                    Some(gone.clone()),
                    "removed",
                    None,
                    None,
                    "no longer listed by the server".into(),
                ));
            }
        }
        verdicts
    }

    fn list_answer(&self, mut msg: Value, raw: Vec<u8>) -> Vec<Out> {
        let last_page = msg.pointer("/result/nextCursor").is_none_or(Value::is_null);
        let Some(tools) = msg
            .pointer_mut("/result/tools")
            .and_then(Value::as_array_mut)
        else {
            return vec![Out::Client(raw)];
        };
        let names: Vec<String> = tools
            .iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        let others = self.other_tool_names(&names);
        let lens: Vec<usize> = tools
            .iter()
            .map(|t| {
                t.get("description")
                    .and_then(Value::as_str)
                    .map_or(0, |d| d.chars().count())
            })
            .collect();
        let checked: Vec<(String, String, Vec<Finding>)> = tools
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let peers: Vec<usize> = lens
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, l)| *l)
                    .collect();
                (
                    t.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    pins::tool_sha256(t),
                    poison::scan_tool(t, &peers, &others),
                )
            })
            .collect();
        let mut events: Vec<ChangeEv> = Vec::new();
        let mut listing = {
            let mut st = self.lock();
            st.listing.extend(names.iter().cloned());
            if last_page {
                std::mem::take(&mut st.listing)
            } else {
                Vec::new()
            }
        };
        listing.sort();
        let warn = self.opts.poison == PoisonMode::Warn;
        let result = self.store.update(self.name(), |p| {
            self.verdicts(p, tools, &checked, &listing, last_page, &mut events)
        });
        let verdicts = match result {
            Ok((v, _)) => v,
            Err(e) => {
                // Without the store nothing can be checked: withhold everything (fail closed).
                errln!("cordon: mcp {}: {e}; every tool is withheld", self.name());
                names
                    .iter()
                    .map(|_| Shown::Withheld(format!("the pin store failed: {e}")))
                    .collect()
            }
        };
        for (tool, change, old, new, detail) in events {
            if change == "flagged" && warn {
                self.warn_findings(
                    tool.as_deref(),
                    &checked
                        .iter()
                        .find(|c| Some(&c.0) == tool.as_ref())
                        .map(|c| c.2.clone())
                        .unwrap_or_default(),
                );
            }
            self.rec(Event::McpChange {
                server: self.name().into(),
                tool: tool.as_deref().map(Text::from),
                change: change.into(),
                old_sha256: old,
                new_sha256: new,
                detail: Text::from(detail.as_str()),
            });
        }
        let mut withheld = Vec::new();
        {
            let mut st = self.lock();
            for (name, v) in names.iter().zip(&verdicts) {
                if let Shown::Withheld(why) = v {
                    withheld.push(name.clone());
                    errln!(
                        "cordon: mcp {}: tool {name:?} withheld: {why}; review it with: cordon mcp approve {} {name}",
                        self.name(),
                        self.name()
                    );
                }
                st.tools.insert(name.clone(), v.clone());
            }
        }
        let mut i = 0;
        tools.retain(|_| {
            let keep = matches!(verdicts.get(i), Some(Shown::Ok { .. }));
            i += 1;
            keep
        });
        let shown = tools.len() as u64;
        self.rec(Event::McpList {
            server: self.name().into(),
            shown,
            withheld: withheld.iter().map(|w| Text::from(w.as_str())).collect(),
        });
        if withheld.is_empty() {
            vec![Out::Client(raw)]
        } else {
            vec![Out::Client(line(&msg))]
        }
    }
}

/// Records a tool as pending approval (`kind`: new, changed, flagged), and a change event unless
/// it was pending already for the same definition and reason.
fn pend_tool(
    p: &mut pins::ServerPins,
    events: &mut Vec<ChangeEv>,
    (name, sha, findings): (&String, &String, &Vec<Finding>),
    def: &Value,
    kind: &str,
    detail: String,
) {
    let again = p
        .pending
        .get(name)
        .is_some_and(|x| x.sha256 == *sha && x.kind == kind);
    if !again {
        events.push((
            Some(name.clone()),
            match kind {
                "new" => "new",
                "changed" => "changed",
                _ => "flagged",
            },
            p.tools.get(name).map(|t| t.sha256.clone()),
            Some(sha.clone()),
            detail,
        ));
    }
    p.pending.insert(
        name.clone(),
        PendingTool {
            sha256: sha.clone(),
            def: def.clone(),
            kind: kind.into(),
            findings: findings.clone(),
            seen_at: now(),
        },
    );
}

fn pending_reason(p: &PendingTool) -> String {
    match p.kind.as_str() {
        "new" => "it is new: it was not there when the server's tools were pinned".into(),
        "changed" => "its definition changed since it was pinned".into(),
        _ => format!(
            "flagged as possible poisoning: {}",
            p.findings
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

/// Which pinned fields differ: `description, inputSchema`.
pub fn changed_fields(old: &Value, new: &Value) -> String {
    let v: Vec<&str> = poison::TOOL_FIELDS
        .iter()
        .filter(|f| old.get(**f) != new.get(**f))
        .copied()
        .collect();
    if v.is_empty() {
        "nothing visible".into()
    } else {
        v.join(", ")
    }
}

fn describe(id: &Identity) -> String {
    let files: Vec<String> = id
        .files
        .iter()
        .map(|(p, h)| format!("{p} (sha256 {}…)", short(h)))
        .collect();
    format!(
        "{}{}",
        cordon_policy::unicode::escape(&id.argv.join(" ")),
        if files.is_empty() {
            String::new()
        } else {
            format!("; runs {}", files.join(", "))
        }
    )
}

/// What differs between two identities, for people.
pub fn identity_diff(old: &Identity, new: &Identity) -> String {
    let mut parts = Vec::new();
    if old.argv != new.argv {
        parts.push(format!(
            "command line {:?} → {:?}",
            old.argv.join(" "),
            new.argv.join(" ")
        ));
    }
    for (p, h) in &new.files {
        match old.files.iter().find(|(q, _)| q == p) {
            Some((_, oh)) if oh == h => {}
            Some((_, oh)) => parts.push(format!(
                "{p} changed (sha256 {}… → {}…)",
                short(oh),
                short(h)
            )),
            None => parts.push(format!("runs {p} (sha256 {}…), not pinned", short(h))),
        }
    }
    for (p, _) in &old.files {
        if !new.files.iter().any(|(q, _)| q == p) {
            parts.push(format!("no longer runs {p}"));
        }
    }
    if parts.is_empty() {
        "identity changed".into()
    } else {
        parts.join("; ")
    }
}
