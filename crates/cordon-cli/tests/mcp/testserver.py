#!/usr/bin/env python3
"""A small MCP server (stdio) for cordon's gateway tests, both protocol eras.

Its tools come from the JSON file named by the first argument, read again at each tools/list,
so a test can change a description between two lists (the rug pull). Tools:
- echo {text}: returns the text;
- big {bytes}: returns a text of that many bytes;
- die: exits at once, without answering (a server that dies mid-call);
- read {path}: returns the file's content, or the error.
Lines that are not JSON are answered with nothing (the gateway must cope).
"""
import json, os, sys

tools_file = sys.argv[1]

def tools():
    with open(tools_file) as f:
        return json.load(f)

def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

def modern(params):
    return "io.modelcontextprotocol/protocolVersion" in (params or {}).get("_meta", {})

def result(mid, res, params):
    if modern(params):
        res = dict(res, resultType="complete")
    send({"jsonrpc": "2.0", "id": mid, "result": res})

def text(s, err=False):
    return {"content": [{"type": "text", "text": s}], "isError": err}

for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if "method" not in msg or "id" not in msg:
        if msg.get("method") == "notifications/initialized" and os.environ.get("TESTSERVER_NOTIFY"):
            send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        continue
    mid, method, params = msg["id"], msg["method"], msg.get("params") or {}
    caps = {"tools": {"listChanged": True}}
    info = {"name": "cordon-testserver", "version": "1"}
    instructions = os.environ.get("TESTSERVER_INSTRUCTIONS", "A test server.")
    if method == "initialize":
        result(mid, {"protocolVersion": params.get("protocolVersion", "2025-06-18"), "capabilities": caps,
                     "serverInfo": info, "instructions": instructions}, params)
    elif method == "server/discover":
        result(mid, {"supportedVersions": ["2026-07-28"], "capabilities": caps, "instructions": instructions,
                     "_meta": {"io.modelcontextprotocol/serverInfo": info}, "ttlMs": 0, "cacheScope": "private"}, params)
    elif method == "tools/list":
        all_tools = tools()
        page = int(params.get("cursor") or 0)
        size = int(os.environ.get("TESTSERVER_PAGE", "1000"))
        res = {"tools": all_tools[page:page + size]}
        if page + size < len(all_tools):
            res["nextCursor"] = str(page + size)
        if modern(params):
            res.update(ttlMs=0, cacheScope="private")
        result(mid, res, params)
    elif method == "tools/call":
        name, args = params.get("name"), params.get("arguments") or {}
        if name == "echo":
            result(mid, text(str(args.get("text", ""))), params)
        elif name == "big":
            result(mid, text("x" * int(args.get("bytes", 0))), params)
        elif name == "die":
            os._exit(3)
        elif name == "read":
            try:
                with open(args.get("path", "")) as f:
                    result(mid, text(f.read()), params)
            except OSError as e:
                result(mid, text("error: %s" % e, True), params)
        else:
            send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32602, "message": "unknown tool %s" % name}})
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "Method not found"}})
