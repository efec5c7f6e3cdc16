"""Shared plumbing for the torch models: lazy import, seeded runs, weights <-> npz arrays, sparse tensors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from recstrata._optional import require


def torch_module(purpose: str):
    return require("torch", extra="torch", purpose=purpose)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch inside the block without disturbing the caller's global RNG state."""
    torch = torch_module("seeding")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def module_arrays(module, prefix: str) -> dict[str, np.ndarray]:
    """A module's parameters and buffers as ``{prefix + name: float32 array}`` (for ``.npz``)."""
    return {f"{prefix}{k}": v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def load_module_arrays(module, arrays: dict[str, np.ndarray], prefix: str) -> None:
    torch = torch_module("loading weights")
    state = {k[len(prefix):]: torch.from_numpy(np.asarray(v))
             for k, v in arrays.items() if k.startswith(prefix)}
    module.load_state_dict(state)


def sparse_tensor(matrix: sp.spmatrix):
    """scipy sparse -> torch sparse COO float32 tensor of the same shape."""
    torch = torch_module("sparse tensors")
    coo = sp.coo_matrix(matrix, dtype=np.float32)
    index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data)
    return torch.sparse_coo_tensor(index, values, coo.shape, check_invariants=False).coalesce()


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Run torch ops in the block on ``n`` intra-op threads (``None``: torch's default), then restore.

    The models here multiply small matrices; on a shared machine torch's default of one thread per
    core spends most of its time spin-waiting (measured: 12x slower on 2 busy cores), so they use 1.
    """
    torch = torch_module("setting threads")
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
