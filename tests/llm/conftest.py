"""Fixtures for the LLM tests: the backends of the conformance suite and a real local OpenAI-style server.

Real-model fixtures are session-scoped (SmolLM2 loads in about a second; the server in a few) and
only built when an ``integration`` test asks for them.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from recstrata.llm import LlamaCppBackend, MockBackend, OpenAIHTTPBackend, UsageLedger
from recstrata.llm.base import Request




def _mock_reply(request: Request) -> str:
    """A plausible model: JSON when a schema is asked for, a sentence otherwise."""
    if request.contract is not None:
        return json.dumps({"tags": ["comedy", "family"], "summary": "A light film."})
    return "A short answer about the item that goes on for a few words more than needed"


@pytest.fixture(scope="session")
def smollm2_path():
    from recstrata.llm.gguf import check_model_file, locate_smollm2

    try:
        return check_model_file(locate_smollm2(), verify_sha256=False)
    except Exception as exc:  # not installed here: the integration tests that need it are skipped
        pytest.skip(f"SmolLM2 GGUF not available: {exc}")


@pytest.fixture(scope="session")
def smollm2_backend(smollm2_path):
    pytest.importorskip("llama_cpp")
    backend = LlamaCppBackend(smollm2_path, model_id="SmolLM2-135M-Instruct-Q4_1", n_threads=TEST_THREADS)
    backend.load()
    yield backend
    backend.close()


# One thread in tests: CI machines and shared dev boxes are often oversubscribed, and llama.cpp's
# 2-thread barrier then stalls (measured here under load ~20: 0.2 tok/s on 2 threads, 6 tok/s on 1).
TEST_THREADS = 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server(smollm2_path, tmp_path_factory):
    """``python -m llama_cpp.server`` on a free local port; yields its ``/v1`` base URL."""
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server] extras")
    httpx = pytest.importorskip("httpx")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", "2048", "--n_threads", str(TEST_THREADS), "--verbose", "False",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        give_up = time.monotonic() + 60.0
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > give_up:
                pytest.fail(f"llama_cpp.server not ready after 60 s: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(
    params=[
        "mock",
        pytest.param("llama.cpp", marks=pytest.mark.integration),
        pytest.param("http", marks=pytest.mark.integration),
    ]
)
def backend(request):
    """Every backend of the conformance suite, each with a fresh ledger (``backend.ledger``)."""
    ledger = UsageLedger()
    if request.param == "mock":
        b = MockBackend(default=_mock_reply, latency=0.02, ledger=ledger)
        yield b
        return
    if request.param == "llama.cpp":
        b = request.getfixturevalue("smollm2_backend")
        b.ledger = ledger  # share the loaded model; only the ledger is per test
        yield b
        b.ledger = None
        return
    base_url = request.getfixturevalue("llama_server")
    with OpenAIHTTPBackend(base_url, "smollm2", structured_output="json_object", timeout_s=60, ledger=ledger) as b:
        yield b
