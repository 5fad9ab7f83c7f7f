#!/usr/bin/env python3
"""Drives an MCP server (stdio) with the official Python SDK, for cordon's tests.

client.py MODE STEPS -- COMMAND [ARGS...]
MODE: legacy | auto | 2026-07-28. STEPS: a JSON list of steps, each one of
  ["list"]                     all pages of tools/list
  ["call", TOOL, ARGS]         one tools/call
  ["concurrent", TOOL, N]      N calls of TOOL {"text": i} at once
Prints one JSON object: {"steps": [...results...]} or {"error": "..."}; the connection error
(a server that could not start) is a result too.
"""
import asyncio, json, os, sys

from mcp import Client
from mcp.client.stdio import StdioServerParameters


def content_text(r):
    return "".join(getattr(c, "text", "") or "" for c in r.content)


async def main():
    mode, steps = sys.argv[1], json.loads(sys.argv[2])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=dict(os.environ))
    out = []
    try:
        async with Client(params, mode=mode, read_timeout_seconds=60) as c:
            for s in steps:
                try:
                    if s[0] == "list":
                        names, cursor = [], None
                        while True:
                            r = await c.list_tools(cursor=cursor) if cursor else await c.list_tools()
                            names += [t.name for t in r.tools]
                            cursor = r.next_cursor
                            if not cursor:
                                break
                        out.append({"tools": names})
                    elif s[0] == "call":
                        r = await c.call_tool(s[1], s[2])
                        out.append({"isError": bool(r.is_error), "text": content_text(r)})
                    elif s[0] == "concurrent":
                        rs = await asyncio.gather(*[c.call_tool(s[1], {"text": str(i)}) for i in range(s[2])])
                        out.append({"texts": [content_text(r) for r in rs]})
                except Exception as e:  # a JSON-RPC error answer
                    out.append({"error": str(e)})
    except BaseException as e:
        msg = str(e)
        if hasattr(e, "exceptions"):
            msg = "; ".join(str(x) for x in e.exceptions)
        print(json.dumps({"steps": out, "error": msg or type(e).__name__}))
        return
    print(json.dumps({"steps": out}))


asyncio.run(main())
