"""A small real HTTP server on 127.0.0.1 speaking OpenAI chat completions, for tests.

`script` decides each answer: a list of behaviours consumed one per request (then
`default`): "ok", "ignore_n" (always one choice), ("status", code, message), ("sleep", s),
("say", text) (that text as the answer), ("cut", text) (that text, stopped by the token
limit: finish_reason "length"). `reply`, when set, writes the "ok" answers from
the request body (a judge test answers from the labelled candidates it was shown).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ChatServer:
    script: list[Any] = field(default_factory=list)
    default: Any = "ok"
    reply: Callable[[dict[str, Any]], str] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def next_behaviour(self, body: dict[str, Any]) -> Any:
        with self.lock:
            self.requests.append(body)
            return self.script.pop(0) if self.script else self.default

    def start(self) -> ChatServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length))
                body["_auth"] = self.headers.get("authorization")
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                behaviour = server.next_behaviour(body)
                if isinstance(behaviour, tuple) and behaviour[0] == "sleep":
                    time.sleep(behaviour[1])
                    behaviour = "ok"
                if isinstance(behaviour, tuple) and behaviour[0] == "status":
                    return self._send(behaviour[1], {"error": {"message": behaviour[2]}})
                n = 1 if behaviour == "ignore_n" else int(body.get("n", 1))
                last = body["messages"][-1]["content"]
                said = behaviour[1] if isinstance(behaviour, tuple) else None
                finish = (
                    "length" if isinstance(behaviour, tuple) and behaviour[0] == "cut" else "stop"
                )
                if said is None and server.reply is not None:
                    said = server.reply(body)
                choices = [
                    {
                        "index": i,
                        "message": {
                            "role": "assistant",
                            "content": said
                            if said is not None
                            else f"Answer {i} (seed {body.get('seed')}, "
                            f"t={body.get('temperature')}) to: {last[:40]}",
                        },
                        "finish_reason": finish,
                    }
                    for i in range(n)
                ]
                usage = {
                    "prompt_tokens": 11,
                    "completion_tokens": 7 * n,
                    "total_tokens": 11 + 7 * n,
                }
                self._send(
                    200,
                    {
                        "id": "cmpl-1",
                        "object": "chat.completion",
                        "choices": choices,
                        "usage": usage,
                        "model": body.get("model"),
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and went away

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
