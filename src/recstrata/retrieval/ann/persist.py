"""Atomic, hash-checked save/load of a VectorIndex directory.

Layout: ``shard-000.faiss`` ... (faiss.write_index), ``ids.npy`` (external int64 ids in row
order), ``vectors.npy`` (float32 originals, kinds that re-rank), ``manifest.json`` (kind
"vector_index", parameters, sha256 of every file). The directory is written under a temp name,
fsynced and renamed into place, so readers see the old index or the complete new one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from recstrata._atomic import atomic_directory
from recstrata.artifacts import read_manifest, write_manifest
from recstrata.errors import ArtifactError
from recstrata.retrieval.ann.base import MANIFEST_KIND, METRIC, VectorIndex, faiss_module

IDS_FILE = "ids.npy"
VECTORS_FILE = "vectors.npy"


def _shard_file(s: int) -> str:
    return f"shard-{s:03d}.faiss"


def save_index(index: VectorIndex, directory: str | os.PathLike[str]) -> Path:
    faiss = faiss_module()
    target = Path(directory)
    with atomic_directory(target) as tmp:
        for s, shard in enumerate(index.shards_):
            faiss.write_index(shard, str(tmp / _shard_file(s)))
        np.save(tmp / IDS_FILE, np.asarray(index.ids_, dtype=np.int64))
        if index.vectors_ is not None:
            np.save(tmp / VECTORS_FILE, np.asarray(index.vectors_, dtype=np.float32))
        write_manifest(
            tmp,
            kind=MANIFEST_KIND,
            params={
                "kind": index.kind,
                "metric": METRIC,
                "dim": index.dim_,
                "count": len(index),
                "shard_bounds": index.bounds_.tolist(),
                "index_params": index.get_params(),
            },
            extra={"faiss_version": faiss.__version__},
        )
    return target


def _load_npy(path: Path, mmap: bool, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            f"{path} could not be read ({exc}); the index is corrupt: save it again."
        ) from exc
    if arr.dtype != dtype or arr.shape != shape:
        raise ArtifactError(
            f"{path} holds {arr.dtype} {arr.shape}, the manifest expects {np.dtype(dtype)} {shape}; "
            "save the index again."
        )
    return arr


def load_index(directory: str | os.PathLike[str], *, mmap: bool = True, verify: bool = True) -> VectorIndex:
    from recstrata.retrieval.ann.kinds import INDEX_KINDS

    faiss = faiss_module()
    root = Path(directory)
    manifest = read_manifest(root, kind=MANIFEST_KIND, verify=verify)
    p = manifest["params"]
    cls = INDEX_KINDS.get(p.get("kind"))
    if cls is None or p.get("metric") != METRIC:
        raise ArtifactError(
            f"{root}: unknown index kind {p.get('kind')!r} / metric {p.get('metric')!r}; "
            "it was written by another recstrata version: rebuild the index."
        )
    index = cls(**p["index_params"])
    bounds = np.asarray(p["shard_bounds"], dtype=np.int64)
    dim, count = int(p["dim"]), int(p["count"])
    # IO_FLAG_MMAP_IFC maps the codes of every kind here zero-copy (faiss 1.15: flat, HNSW, IVF,
    # IVF-PQ, SQ); the older IO_FLAG_MMAP still copies flat/fp16 codes into RAM. Mapped files stay
    # valid after a later save swaps the directory: the old inodes live until unmapped.
    flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
    shards = []
    for s in range(len(bounds) - 1):
        path = root / _shard_file(s)
        try:
            shard = faiss.read_index(str(path), flags)
        except RuntimeError as exc:
            raise ArtifactError(f"{path} could not be read by faiss ({exc}); save the index again.") from exc
        if shard.ntotal != bounds[s + 1] - bounds[s] or shard.d != dim:
            raise ArtifactError(
                f"{path} holds {shard.ntotal} vectors of dim {shard.d}, the manifest expects "
                f"{bounds[s + 1] - bounds[s]} of dim {dim}; save the index again."
            )
        shards.append(shard)
    ids = _load_npy(root / IDS_FILE, mmap, np.int64, (count,))
    vectors = _load_npy(root / VECTORS_FILE, mmap, np.float32, (count, dim)) if cls.keeps_vectors else None
    index._set_state(shards, bounds, ids, vectors, dim)
    return index
