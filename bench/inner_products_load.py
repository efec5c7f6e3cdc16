"""One query's inner products with 9,742 x 64 stored vectors (ML-latest-small's catalog size): numpy's
BLAS against faiss's single-threaded kernel, quiet and with two busy processes competing for the
cores (a serving machine under load). The exact filtered path of ``VectorIndex`` uses the faiss
kernel: numpy's BLAS starts its own thread pool, which ``threads=`` does not govern.

    PYTHONPATH=src .venv/bin/python bench/inner_products_load.py [--calls 400]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np


def _spin() -> None:
    while True:
        pass


def _timed(f, calls: int) -> tuple[float, float]:
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        f()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds) * 1000), float(np.percentile(seconds, 99) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    import faiss

    rng = np.random.default_rng(0)
    x = rng.normal(size=(9_742, 64)).astype(np.float32)
    q = rng.normal(size=64).astype(np.float32)
    out = np.empty(len(x), np.float32)
    kernels = {
        "numpy x @ q": lambda: x @ q,
        "faiss fvec_inner_products_ny": lambda: faiss.fvec_inner_products_ny(
            faiss.swig_ptr(out), faiss.swig_ptr(q), faiss.swig_ptr(x), 64, len(x)),
    }
    print("| load | kernel | median ms | p99 ms |\n|---|---|---:|---:|")
    for load in ("quiet", "2 busy processes"):
        spinners = [mp.Process(target=_spin, daemon=True) for _ in range(2 if load != "quiet" else 0)]
        for p in spinners:
            p.start()
        try:
            for name, f in kernels.items():
                median, p99 = _timed(f, args.calls)
                print(f"| {load} | {name} | {median:.3f} | {p99:.3f} |")
        finally:
            for p in spinners:
                p.terminate()


if __name__ == "__main__":
    main()
