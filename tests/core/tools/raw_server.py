"""An MCP server written from the protocol alone: newline-delimited JSON-RPC 2.0 over stdio.

It speaks the 2025-06-18 handshake (initialize, notifications/initialized), tools/list and
tools/call, and answers any other request with JSON-RPC's "method not found" (which is how a
client learns that it predates newer protocol versions).
"""

import json
import os
import sys

TOOLS = [
    {"name": "reverse", "description": "Reverse a piece of text.",
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}},
                     "required": ["text"]}},
    {"name": "crash", "description": "Exit without answering.",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "weird name/with.dots", "description": "A name no function may have.",
     "inputSchema": {"type": "object", "properties": {}}},
]


def reply(msg_id, result=None, error=None):
    msg = {"jsonrpc": "2.0", "id": msg_id}
    msg.update({"error": error} if error else {"result": result})
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


if "--banner" in sys.argv:  # some servers print a greeting on stdout, which is not JSON-RPC
    print("Weather server v1 starting...", flush=True)

for line in sys.stdin:
    if "--mute" in sys.argv:  # reads everything, answers nothing: a server stuck at start
        continue
    if not line.strip():
        continue
    msg = json.loads(line)
    method, msg_id = msg.get("method"), msg.get("id")
    if msg_id is None:  # a notification: nothing to answer
        continue
    if method == "initialize":
        reply(msg_id, {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                       "serverInfo": {"name": "raw", "version": "1.0"}})
    elif method == "tools/list":
        reply(msg_id, {"tools": TOOLS})
    elif method == "tools/call":
        name = msg["params"]["name"]
        args = msg["params"].get("arguments") or {}
        if name == "reverse":
            reply(msg_id, {"content": [{"type": "text", "text": args.get("text", "")[::-1]}]})
        elif name == "crash":
            sys.stderr.write("raw server: crashing\n")
            os._exit(1)
        elif name == "weird name/with.dots":
            reply(msg_id, {"content": [{"type": "text", "text": "weird ok"}]})
        else:
            reply(msg_id, {"content": [{"type": "text", "text": f"unknown tool {name}"}],
                           "isError": True})
    elif method == "ping":
        reply(msg_id, {})
    else:
        reply(msg_id, error={"code": -32601, "message": f"Method not found: {method}"})
