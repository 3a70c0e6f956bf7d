"""A real HTTP chatbot endpoint on 127.0.0.1 for target tests (``http.server`` in a thread, free port).

Behaviour by question: ``boom`` answers 500, ``slow`` waits until released, ``shape`` answers
without the expected field, anything else answers ``{"data": {"answer": "Answer to ..."}}``.
Every request body is kept in ``requests``.
"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ChatServer:
    """Start with ``start()``; ``url`` is the chat endpoint; ``stop()`` releases slow calls and joins."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                question = str(body.get("question", ""))
                if "boom" in question:
                    self._send(500, {"error": "model backend crashed"})
                elif "slow" in question:
                    server.release.wait(10)
                    self._send(200, {"data": {"answer": "late answer"}})
                elif "shape" in question:
                    self._send(200, {"data": {"reply": "Answer in the wrong field"}})
                else:
                    self._send(200, {"data": {"answer": f"Answer to {question}"}})

            def _send(self, status: int, document: dict[str, Any]) -> None:
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read ``requests`` instead."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="chat-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/chat"

    def start(self) -> ChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
