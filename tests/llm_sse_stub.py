#!/usr/bin/python3
"""Slow streaming stand-in for an OpenAI-compatible LLM (server-sent events).

    /usr/bin/python3 tests/llm_sse_stub.py --port 8082 --log sse.jsonl [--events 5] [--interval 0.5]
        [--pid-file F] [--bind 127.0.0.1]

POST /v1/chat/completions whose JSON body has "stream": true answers 200 with
"content-type: text/event-stream" and a chunked body: --events chat.completion.chunk events,
--interval seconds apart, each written and flushed on its own, then "data: [DONE]". Every event
sent is logged to --log as one JSON line {"event": i, "sent": unix time (float)} right after it
was flushed (i = 1..N; "[DONE]" is N + 1), so a test can compare arrival times at the client with
send times here. Without "stream": true, a plain chat.completion JSON answer. Other paths: 404.
Every answer carries "x-stub-name: sse" and "x-echo-authorization". Standard library only.
"""

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llm-sse-stub"
    sys_version = ""

    def log_message(self, fmt, *args):
        sys.stderr.write("sse %s\n" % (fmt % args))

    def _log(self, rec):
        with LOCK, open(self.server.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")

    def _headers(self, status, ctype, extra=()):
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("x-stub-name", "sse")
        auth = self.headers.get("authorization")
        if auth is not None:
            self.send_header("x-echo-authorization", auth)
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            req = {}
        if self.path.split("?", 1)[0] != "/v1/chat/completions":
            data = b'{"error": {"message": "unknown path"}}'
            self._headers(404, "application/json", [("content-length", str(len(data)))])
            self.wfile.write(data)
            return
        model = req.get("model", "stub-model") if isinstance(req, dict) else "stub-model"
        if not (isinstance(req, dict) and req.get("stream") is True):
            data = json.dumps({"id": "chatcmpl-sse", "object": "chat.completion", "model": model,
                               "choices": [{"index": 0, "finish_reason": "stop", "message":
                                            {"role": "assistant", "content": "not streamed"}}]}).encode()
            self._headers(200, "application/json", [("content-length", str(len(data)))])
            self.wfile.write(data)
            return
        self._headers(200, "text/event-stream", [("transfer-encoding", "chunked"),
                                                 ("cache-control", "no-cache")])
        n_ev, pause = self.server.events, self.server.interval
        for i in range(1, n_ev + 1):
            if i > 1:
                time.sleep(pause)
            ev = {"id": "chatcmpl-sse", "object": "chat.completion.chunk", "created": int(time.time()),
                  "model": model, "choices": [{"index": 0, "delta": {"content": "part%d " % i},
                                               "finish_reason": "stop" if i == n_ev else None}]}
            self._chunk(b"data: " + json.dumps(ev).encode() + b"\n\n")
            self._log({"event": i, "sent": time.time()})
        self._chunk(b"data: [DONE]\n\n")
        self._log({"event": n_ev + 1, "sent": time.time()})
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--log", required=True)
    ap.add_argument("--events", type=int, default=5)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--pid-file")
    a = ap.parse_args()
    srv = ThreadingHTTPServer((a.bind, a.port), Handler)
    srv.daemon_threads = True
    srv.log_path, srv.events, srv.interval = a.log, a.events, a.interval
    open(a.log, "a").close()
    if a.pid_file:
        with open(a.pid_file, "w") as f:
            f.write("%d\n" % os.getpid())
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
