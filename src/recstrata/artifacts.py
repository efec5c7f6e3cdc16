"""Versioned, hash-checked artefact directories.

Every saved model or index is a directory holding plain data files (``.npz``, ``.json``, native
index files: never a pickle) and a ``manifest.json`` that records what wrote it, its parameters,
and the sha256 and size of every file. :func:`read_manifest` refuses a directory whose files do
not match, naming the file, so a truncated or corrupted artefact is never half-loaded.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from recstrata import __version__
from recstrata._atomic import atomic_write_text, sha256_file
from recstrata.errors import ArtifactError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def write_manifest(
    directory: str | os.PathLike[str], *, kind: str, params: dict[str, Any], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Hash every file in ``directory`` and write ``manifest.json`` beside them (atomically)."""
    root = Path(directory)
    files = {
        p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(root.iterdir())
        if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
    }
    manifest = {
        "format": FORMAT_VERSION,
        "kind": kind,
        "params": params,
        "files": files,
        "recstrata_version": __version__,
        "created_unix": time.time(),
        **(extra or {}),
    }
    atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True, default=_jsonable))
    return manifest


def read_manifest(
    directory: str | os.PathLike[str], *, kind: str | None = None, verify: bool = True
) -> dict[str, Any]:
    """Read and check ``manifest.json``; raise :class:`ArtifactError` naming any bad file."""
    root = Path(directory)
    path = root / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{path} is missing: {root} is not a saved recstrata artefact (save it with .save(dir)).")
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}); the artefact is corrupt: save it again.") from exc
    if kind is not None and manifest.get("kind") != kind:
        raise ArtifactError(f"{root} holds a {manifest.get('kind')!r} artefact, not a {kind!r}.")
    if verify:
        for name, meta in manifest.get("files", {}).items():
            file = root / name
            if not file.is_file():
                raise ArtifactError(f"{file} is listed in the manifest but missing; save the artefact again.")
            if file.stat().st_size != meta["bytes"]:
                raise ArtifactError(
                    f"{file} is {file.stat().st_size} bytes, the manifest says {meta['bytes']}: "
                    "the file is truncated or was replaced; save the artefact again."
                )
            if sha256_file(file) != meta["sha256"]:
                raise ArtifactError(f"{file} fails its sha256 check: the file is corrupt; save the artefact again.")
    return manifest


def save_arrays(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Write arrays to an ``.npz`` (uncompressed, no pickled objects)."""
    with open(path, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})


def load_arrays(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path} could not be read as an array file ({exc}); save the artefact again.") from exc


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a manifest")
