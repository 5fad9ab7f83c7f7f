#!/usr/bin/env python3
"""A scripted model server on 127.0.0.1 for driving real coding agents offline.

It speaks just enough of three wire protocols for an agent's main loop:
  - Anthropic Messages API (POST /v1/messages, streaming SSE or not): Claude Code;
  - OpenAI Responses API (POST /v1/responses, SSE): Codex;
  - Gemini API (POST /v1beta/models/M:streamGenerateContent?alt=sse or :generateContent): Gemini CLI.

The scenario (a JSON file) is a list of steps, consumed in order by the agent's *main* requests
(those that offer tools); other requests (titles, summaries, quota probes) get a short text.
A step is {"text": "..."} or {"tool": {"anthropic": {"name", "input"}, "openai": {"name",
"arguments"}, "gemini": {"name", "args"}}}. When the steps run out, the answer is "done.".

Every request is appended, as received (path, JSON body and headers), to the log file, one JSON
per line, so a test can check what the agent sent back (e.g. the hook's reason in a tool result)
and with which credential (every header, as [name, value] pairs under "headers").

Usage: model_server.py SCENARIO.json LOG.jsonl PORTFILE [CERT KEY]   (writes the port it listens
on; with CERT and KEY, PEM files, it speaks HTTPS with that certificate)
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCENARIO = json.load(open(sys.argv[1]))
LOG = sys.argv[2]
PORTFILE = sys.argv[3]
LOCK = threading.Lock()
STATE = {"step": 0, "ids": 0}


def next_id(prefix):
    with LOCK:
        STATE["ids"] += 1
        return f"{prefix}_{STATE['ids']:04d}"


def take_step(main):
    """The next scenario step for a main request; a plain answer otherwise."""
    if not main:
        return {"text": "ok"}
    with LOCK:
        i = STATE["step"]
        STATE["step"] += 1
    if i < len(SCENARIO):
        return SCENARIO[i]
    return {"text": "done."}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body(self):
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.headers.get("content-encoding") == "zstd":
            return {"_undecoded": len(raw)}
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return {"_raw": raw.decode("utf-8", "replace")}

    def record(self, body):
        with LOCK, open(LOG, "a") as f:
            f.write(json.dumps({"path": self.path, "body": body,
                                "headers": [[k.lower(), v] for k, v in self.headers.items()]}) + "\n")

    def send_json(self, obj, code=200):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_sse(self):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

    def sse(self, event, data):
        chunk = ""
        if event:
            chunk += f"event: {event}\n"
        chunk += f"data: {json.dumps(data)}\n\n"
        self.wfile.write(chunk.encode())
        self.wfile.flush()

    def do_GET(self):
        self.record(None)
        if "models" in self.path:
            return self.send_json({"data": [], "models": [], "object": "list"})
        self.send_json({}, 404)

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self):
        body = self.body()
        self.record(body)
        p = self.path
        if p.startswith("/v1/messages/count_tokens"):
            return self.send_json({"input_tokens": 10})
        if p.startswith("/v1/messages"):
            return self.anthropic(body)
        if p.rstrip("/").endswith("/responses"):
            return self.openai(body)
        if ":streamGenerateContent" in p or ":generateContent" in p:
            return self.gemini(body, stream=":streamGenerateContent" in p)
        if ":countTokens" in p:
            return self.send_json({"totalTokens": 10})
        self.send_json({"error": "not scripted"}, 404)

    # ---- Anthropic Messages ----
    def anthropic(self, body):
        tools = body.get("tools") or []
        main = any(str(t.get("name", "")).lower() == "bash" for t in tools if isinstance(t, dict))
        step = take_step(main)
        mid = next_id("msg")
        model = body.get("model", "claude-test")
        usage = {"input_tokens": 10, "output_tokens": 1}
        if "tool" in step:
            t = step["tool"]["anthropic"]
            block = {"type": "tool_use", "id": next_id("toolu"), "name": t["name"], "input": {}}
            stop = "tool_use"
            delta = {"type": "input_json_delta", "partial_json": json.dumps(t["input"])}
            full = dict(block, input=t["input"])
        else:
            block = {"type": "text", "text": ""}
            stop = "end_turn"
            delta = {"type": "text_delta", "text": step["text"]}
            full = {"type": "text", "text": step["text"]}
        if not body.get("stream"):
            return self.send_json({"id": mid, "type": "message", "role": "assistant", "model": model,
                                   "content": [full], "stop_reason": stop, "stop_sequence": None,
                                   "usage": usage})
        self.start_sse()
        self.sse("message_start", {"type": "message_start", "message": {
            "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": usage}})
        self.sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
        self.sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        self.sse("content_block_stop", {"type": "content_block_stop", "index": 0})
        self.sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                   "usage": {"output_tokens": 5}})
        self.sse("message_stop", {"type": "message_stop"})

    # ---- OpenAI Responses ----
    def openai(self, body):
        tools = body.get("tools") or []
        main = len(tools) > 0
        step = take_step(main)
        rid = next_id("resp")
        usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}
        if "tool" in step:
            t = step["tool"]["openai"]
            if t.get("custom"):
                item = {"type": "custom_tool_call", "id": next_id("ctc"), "call_id": next_id("call"),
                        "name": t["name"], "input": t["input"]}
            else:
                item = {"type": "function_call", "id": next_id("fc"), "call_id": next_id("call"),
                        "name": t["name"], "arguments": json.dumps(t["arguments"])}
        else:
            item = {"type": "message", "id": next_id("m"), "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": step["text"], "annotations": []}]}
        self.start_sse()
        self.sse("response.created", {"type": "response.created", "response": {"id": rid}})
        self.sse("response.output_item.added", {"type": "response.output_item.added", "output_index": 0, "item": item})
        self.sse("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item})
        self.sse("response.completed", {"type": "response.completed", "response": {
            "id": rid, "status": "completed", "output": [item], "usage": usage}})

    # ---- Gemini ----
    def gemini(self, body, stream):
        tools = body.get("tools") or []
        main = any(t.get("functionDeclarations") for t in tools if isinstance(t, dict))
        step = take_step(main)
        if "tool" in step:
            t = step["tool"]["gemini"]
            parts = [{"functionCall": {"name": t["name"], "args": t["args"]}}]
        else:
            parts = [{"text": step["text"]}]
        resp = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
                "modelVersion": "gemini-test"}
        if not stream:
            return self.send_json(resp)
        self.start_sse()
        self.sse(None, resp)


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if len(sys.argv) > 5:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(PORTFILE + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(PORTFILE + ".tmp", PORTFILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
