#!/usr/bin/python3
"""OpenAI-compatible stand-in for the LLM backend (and for the default backend).

    /usr/bin/python3 tests/llm_stub.py --port 8082 --name llm --log llm.jsonl [--pid-file llm.pid]
        [--bind 127.0.0.1] [--tls-cert cert.pem --tls-key key.pem]

POST /v1/chat/completions, /v1/completions and /v1/embeddings answer 200 with a JSON body shaped
like OpenAI's; any other request gets 200 with a small JSON body too when --name is not "llm"
(the default backend answers everything), else 404. Every request is appended to --log as one
JSON line {name, method, path, headers: [[name, value], ...], body}, written and flushed before
the answer is sent. Every answer carries "x-stub-name: <name>" and "x-echo-authorization: <the
Authorization header received>" (absent if none was received). Standard library only.
"""

import argparse
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20
LOG_LOCK = threading.Lock()


def completion_body(path, req):
    model = req.get("model", "stub-model") if isinstance(req, dict) else "stub-model"
    now = int(time.time())
    if path == "/v1/chat/completions":
        return {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": now,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the LLM stand-in."},
                "finish_reason": "stop",
            }],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        }
    if path == "/v1/completions":
        return {
            "id": "cmpl-stub",
            "object": "text_completion",
            "created": now,
            "model": model,
            "choices": [{"index": 0, "text": "Hello from the LLM stand-in.",
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        }
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.0023, -0.0091, 0.0154]}],
        "model": model,
        "usage": {"prompt_tokens": 5, "total_tokens": 5},
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llm-stub"
    sys_version = ""

    def log_message(self, fmt, *args):  # access log to stderr, one line
        sys.stderr.write("%s %s\n" % (self.server.stub_name, fmt % args))

    def _read_body(self):
        n = self.headers.get("content-length")
        if n is not None:
            try:
                n = int(n)
            except ValueError:
                return None
            if n < 0 or n > MAX_BODY:
                return None
            return self.rfile.read(n)
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline(16)
                if len(data) > MAX_BODY:
                    return None
        return b""

    def _handle(self):
        body = self._read_body()
        if body is None:
            self._send(400, {"error": {"message": "bad body"}})
            return
        text = body.decode("utf-8", "replace")
        with LOG_LOCK:
            with open(self.server.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps({
                    "name": self.server.stub_name,
                    "method": self.command,
                    "path": self.path,
                    "headers": [[k, v] for k, v in self.headers.items()],
                    "body": text,
                }) + "\n")
                f.flush()
        path = self.path.split("?", 1)[0]
        if path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
            try:
                req = json.loads(text) if text else {}
            except ValueError:
                req = {}
            self._send(200, completion_body(path, req))
        elif self.server.stub_name != "llm":
            self._send(200, {"backend": self.server.stub_name, "path": self.path})
        else:
            self._send(404, {"error": {"message": "unknown path", "type": "invalid_request_error"}})

    def _send(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-stub-name", self.server.stub_name)
        auth = self.headers.get("authorization")
        if auth is not None:
            self.send_header("x-echo-authorization", auth)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--name", default="llm")
    ap.add_argument("--log", required=True, help="JSON-lines request log")
    ap.add_argument("--pid-file")
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="private key of --tls-cert (PEM)")
    a = ap.parse_args()

    srv = ThreadingHTTPServer((a.bind, a.port), Handler)
    srv.daemon_threads = True
    srv.stub_name = a.name
    srv.log_path = a.log
    open(a.log, "a").close()
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if a.pid_file:
        with open(a.pid_file, "w") as f:
            f.write("%d\n" % os.getpid())
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
