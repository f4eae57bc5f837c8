"""A real webhook receiver for tests: an http.server on a loopback port, in a thread.

It verifies every request's signature with `standardwebhooks.Webhook(secret).verify`, as a
receiver in production would, answers from a script (a status code, or "sleep" to outlast
the sender's timeout), and processes an event once per `webhook-id` (a receiver's dedupe).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

SLEEP = "sleep"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int | str


@dataclass
class Receiver:
    base_url: str
    secrets: dict[str, str] = field(default_factory=dict)  # path -> endpoint secret
    script: dict[str, list[int | str]] = field(default_factory=dict)  # path -> answers
    sleep_seconds: float = 1.0
    requests: list[Received] = field(default_factory=list)
    processed: dict[str, Any] = field(default_factory=dict)  # webhook-id -> payload
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base_url + path

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int | str:
        with self.lock:
            answers = self.script.get(path, [])
            answer = answers.pop(0) if len(answers) > 1 else (answers[0] if answers else 200)
        try:
            payload = Webhook(self.secrets[path]).verify(body, headers)
            verified = True
        except Exception:
            payload, verified = None, False
        with self.lock:
            self.requests.append(Received(path, headers, body, verified, answer))
            if verified and answer == 200:
                self.processed.setdefault(headers["webhook-id"], payload)
        return answer


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            assert receiver is not None
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = receiver.handle(self.path, headers, body)
            if answer == SLEEP:
                time.sleep(receiver.sleep_seconds)  # the sender has given up by now
                answer = 200
            self.send_response(int(answer))
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            return None

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 64  # the sender connects up to 8 at once; 5 dropped SYNs (1 s)

        def handle_error(self, request: Any, client_address: Any) -> None:
            return None  # a sender that timed out closed the socket: expected here

    server = Server(("127.0.0.1", 0), Handler)
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
