"""A scripted model API for the agent tests: just enough of Anthropic's
Messages API and OpenAI's Responses API for the real Claude Code and Codex
CLIs to hold a conversation with it.

    python3 model_api.py SCRIPT LOG [PORT] [CERT KEY]

SCRIPT (JSON) is {"rules": [RULE, ...]}; each request gets the reply of the
first rule that matches it. A RULE is
    {"when": {...}, "reply": {...}, "once": true?}
where every key of "when" must hold:
    "tool_result": true|false  the last message carries a tool result
    "last_user": TEXT          the last user message's text contains TEXT
    "body": TEXT               the request body contains TEXT
and "reply" is one of
    {"text": TEXT}
    {"tool": NAME, "input": {...}}   a tool call (Responses API: with
                                     "namespace", a tool of a namespace)
    {"error": STATUS}                an API error
A rule with "once" is used for one request only. With no rule matching,
the reply is the text "no rule matched".

Every request is appended to LOG (JSONL): method, path, headers, body
(parsed when it is JSON). With CERT and KEY it serves HTTPS.
"""

import http.server
import json
import ssl
import sys
import threading
import uuid

SCRIPT, LOG = sys.argv[1], sys.argv[2]
PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 443
LOCK = threading.Lock()
USED = set()


def text_of(content):
    """The text of a message's content, tool results included."""
    if isinstance(content, str):
        return content
    out = []
    for part in content or []:
        if not isinstance(part, dict):
            continue
        for key in ("text", "output"):
            if isinstance(part.get(key), str):
                out.append(part[key])
        if "content" in part:
            out.append(text_of(part["content"]))
    return "\n".join(out)


def facts(body):
    """(last message carries a tool result, text of the last user message)."""
    if "messages" in body:  # Anthropic
        messages = body.get("messages") or [{}]
        last = messages[-1]
        parts = last.get("content") if isinstance(last.get("content"), list) else []
        tool_result = any(p.get("type") == "tool_result" for p in parts if isinstance(p, dict))
        users = [m for m in messages if m.get("role") == "user"]
        return tool_result, text_of(users[-1].get("content")) if users else ""
    items = body.get("input")  # OpenAI Responses
    if isinstance(items, str):
        return False, items
    items = items or [{}]
    tool_result = items[-1].get("type") == "function_call_output"
    users = [i for i in items if i.get("role") == "user"]
    return tool_result, text_of(users[-1].get("content")) if users else ""


def pick(body, raw):
    with open(SCRIPT) as f:
        rules = json.load(f)["rules"]
    tool_result, last_user = facts(body)
    with LOCK:
        for i, rule in enumerate(rules):
            if rule.get("once") and i in USED:
                continue
            when = rule.get("when", {})
            if "tool_result" in when and when["tool_result"] != tool_result:
                continue
            if "last_user" in when and when["last_user"] not in last_user:
                continue
            if "body" in when and when["body"] not in raw:
                continue
            USED.add(i)
            return rule["reply"]
    return {"text": "no rule matched"}


def sse(events):
    return "".join(
        "event: %s\ndata: %s\n\n" % (e["type"], json.dumps(e)) for e in events
    ).encode()


def anthropic(body, reply):
    """(content type, payload) of a Messages API answer."""
    mid = "msg_" + uuid.uuid4().hex[:20]
    if "tool" in reply:
        block = {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:20],
                 "name": reply["tool"], "input": reply.get("input", {})}
        stop = "tool_use"
    else:
        block = {"type": "text", "text": reply["text"]}
        stop = "end_turn"
    usage = {"input_tokens": 10, "output_tokens": 5,
             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    message = {"id": mid, "type": "message", "role": "assistant",
               "model": body.get("model", "test-model"), "content": [block],
               "stop_reason": stop, "stop_sequence": None, "usage": usage}
    if not body.get("stream"):
        return "application/json", json.dumps(message).encode()
    start = dict(message, content=[], stop_reason=None)
    if block["type"] == "text":
        opening = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": block["text"]}
    else:
        opening = dict(block, input={})
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
    return "text/event-stream", sse([
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": opening},
        {"type": "content_block_delta", "index": 0, "delta": delta},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
         "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ])


def openai(body, reply):
    """(content type, payload) of a Responses API answer."""
    rid = "resp_" + uuid.uuid4().hex[:20]
    iid = uuid.uuid4().hex[:20]
    if "tool" in reply:
        item = {"type": "function_call", "id": "fc_" + iid, "call_id": "call_" + iid,
                "name": reply["tool"], "arguments": json.dumps(reply.get("input", {})),
                "status": "completed"}
        if "namespace" in reply:
            item["namespace"] = reply["namespace"]
    else:
        item = {"type": "message", "id": "msg_" + iid, "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": reply["text"], "annotations": []}]}
    usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": 15}
    response = {"id": rid, "object": "response", "status": "completed",
                "model": body.get("model", "test-model"), "output": [item], "usage": usage}
    if not body.get("stream"):
        return "application/json", json.dumps(response).encode()
    events = [{"type": "response.created",
               "response": dict(response, status="in_progress", output=[], usage=None)}]
    if item["type"] == "message":
        text = reply["text"]
        added = dict(item, status="in_progress", content=[])
        events += [
            {"type": "response.output_item.added", "output_index": 0, "item": added},
            {"type": "response.content_part.added", "item_id": item["id"], "output_index": 0,
             "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}},
            {"type": "response.output_text.delta", "item_id": item["id"], "output_index": 0,
             "content_index": 0, "delta": text},
            {"type": "response.output_text.done", "item_id": item["id"], "output_index": 0,
             "content_index": 0, "text": text},
            {"type": "response.content_part.done", "item_id": item["id"], "output_index": 0,
             "content_index": 0, "part": item["content"][0]},
        ]
    else:
        events.append({"type": "response.output_item.added", "output_index": 0,
                       "item": dict(item, arguments="", status="in_progress")})
        events.append({"type": "response.function_call_arguments.delta", "item_id": item["id"],
                       "output_index": 0, "delta": item["arguments"]})
    events += [
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": response},
    ]
    return "text/event-stream", sse(events)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = raw
        with LOCK, open(LOG, "a") as log:
            log.write(json.dumps({
                "method": self.command, "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body}) + "\n")
        path = self.path.split("?")[0]
        status, kind, payload = 200, "application/json", b"{}"
        if self.command == "POST" and path.endswith("/messages/count_tokens"):
            payload = b'{"input_tokens": 10}'
        elif self.command == "POST" and path.endswith("/messages"):
            reply = pick(body, raw)
            if "error" in reply:
                status = reply["error"]
                payload = json.dumps({"type": "error", "error": {
                    "type": "invalid_request_error", "message": "scripted error"}}).encode()
            else:
                kind, payload = anthropic(body, reply)
        elif self.command == "POST" and path.endswith("/responses"):
            reply = pick(body, raw)
            if "error" in reply:
                status = reply["error"]
                payload = json.dumps({"error": {"type": "invalid_request_error",
                                                "message": "scripted error"}}).encode()
            else:
                kind, payload = openai(body, reply)
        elif path.endswith("/models"):
            payload = b'{"data": [], "object": "list", "has_more": false}'
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_HEAD = do_PUT = answer

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
if len(sys.argv) > 5:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
