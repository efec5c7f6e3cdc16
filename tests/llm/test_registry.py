"""Backends by name, the offline listing, lazy imports, and the plain-text prompt rendering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from recstrata.errors import ConfigError, LLMUnavailableError
from recstrata.llm import (
    LlamaCppBackend, LLMSettings, Message, MockBackend, OpenAIHTTPBackend, available_backends, get_backend,
    render_transcript,
)


def test_names_resolve_without_loading_anything(tmp_path):
    assert isinstance(get_backend("mock"), MockBackend)
    smol = get_backend("smollm2")
    assert isinstance(smol, LlamaCppBackend) and smol.prompt_mode == "chat" and smol._llm is None
    gemma = get_backend("gemma3-270m", LLMSettings(model_dir=tmp_path))
    assert gemma.prompt_mode == "completion" and not list(tmp_path.iterdir())  # assembled lazily
    http = get_backend("openai:http://127.0.0.1:9/v1", env={})
    assert isinstance(http, OpenAIHTTPBackend) and http.base_url == "http://127.0.0.1:9/v1"
    assert isinstance(get_backend(None, LLMSettings(backend="mock")), MockBackend)


def test_gguf_path_spec(tmp_path):
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"x")
    assert get_backend(str(path)).model == "tiny"
    with pytest.raises(LLMUnavailableError):
        get_backend(str(tmp_path / "absent.gguf"))


def test_unknown_names_and_missing_url_are_config_errors():
    with pytest.raises(ConfigError, match="smollm2"):
        get_backend("gpt-17")
    with pytest.raises(ConfigError, match="BASE_URL"):
        get_backend("openai")


def test_prices_come_from_settings():
    s = LLMSettings(prices={"mock": {"input_per_1m": 1.0, "output_per_1m": 2.0}})
    assert get_backend("mock", s).price.output_per_1m == 2.0


def test_available_backends_lists_every_name_with_a_reason():
    infos = {b.name: b for b in available_backends()}
    assert set(infos) == {"mock", "smollm2", "gemma3-270m", "openai"}
    assert infos["mock"].usable
    assert not infos["openai"].usable and "BASE_URL" in infos["openai"].reason
    assert all(b.reason for b in infos.values())


def test_import_is_lazy():
    code = "import sys, recstrata.llm; print('llama_cpp' in sys.modules, 'httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(Path(__file__).parents[2] / "src")}).stdout
    assert out.split() == ["False", "False"]


def test_transcript_for_base_models():
    msgs = [Message("system", "Tag movies."), Message("user", "Heat"), Message("assistant", "crime"),
            Message("user", "Toy Story")]
    assert render_transcript(msgs) == "Tag movies.\n\nUser: Heat\nAssistant: crime\nUser: Toy Story\nAssistant:"
    assert render_transcript([Message("user", "x"), Message("assistant", "{")]).endswith("Assistant: {")
