"""Recorded judge-endpoint responses and a scripted ``httpx.MockTransport`` handler.

The response bodies under ``recordings/`` were captured from real endpoints (llama.cpp's
``llama-server`` for chat completions; the OpenAI error envelope for errors). Tests swap
in the message content they need and keep everything else as recorded, so the real
``openai`` SDK parses exactly what a server sends.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

RECORDINGS = Path(__file__).parent / "recordings"
SECRET_KEY = "sk-test-DO-NOT-LOG-4f1c2b9e7d"

Step = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def _recording(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDINGS / name).read_text(encoding="utf-8"))
    return data


def chat_completion(content: str, *, prompt_tokens: int = 120, completion_tokens: int = 18) -> dict[str, Any]:
    """A recorded llama-server chat completion with ``content`` as the assistant's message."""
    body = copy.deepcopy(_recording("llama_server_chat_completion.json"))
    body["choices"][0]["message"]["content"] = content
    body["usage"] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    return body


def ok(content: str | dict[str, Any], **usage: int) -> httpx.Response:
    """HTTP 200 with a chat completion whose message is ``content`` (dicts are sent as JSON text)."""
    text = content if isinstance(content, str) else json.dumps(content)
    return httpx.Response(200, json=chat_completion(text, **usage))


def error(
    status: int, *, headers: dict[str, str] | None = None, message: str | None = None
) -> httpx.Response:
    """An error response with the recorded OpenAI error envelope for ``status``."""
    bodies = _recording("openai_errors.json")
    body = copy.deepcopy(bodies.get(str(status), bodies["500"]))
    if message is not None:
        body["error"]["message"] = message
    return httpx.Response(status, json=body, headers=headers)


class ScriptedEndpoint:
    """A MockTransport handler answering requests with a script of steps, in order.

    A step is a response, an exception to raise (e.g. ``httpx.ReadTimeout``), or a
    callable. Requests beyond the script get HTTP 599 and are counted in ``unexpected``,
    so a test that made more calls than planned fails on its request count.
    """

    def __init__(self, *steps: Step, repeat_last: bool = False) -> None:
        self.steps = list(steps)
        self.repeat_last = repeat_last
        self.requests: list[httpx.Request] = []
        self.unexpected = 0
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
            if index < len(self.steps):
                step = self.steps[index]
            elif self.repeat_last and self.steps:
                step = self.steps[-1]
            else:
                self.unexpected += 1
                return httpx.Response(599, json={"error": {"message": "unexpected request"}})
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return httpx.Response(step.status_code, headers=step.headers, content=step.content)
        return step(request)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the requests received so far."""
        return [json.loads(request.content) for request in self.requests]

    def client(self) -> httpx.Client:
        """An ``httpx.Client`` whose transport is this endpoint (close it after the test)."""
        return httpx.Client(transport=httpx.MockTransport(self))
