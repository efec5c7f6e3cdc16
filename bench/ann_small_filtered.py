"""Filtered top-10 on small catalogs, where every request takes the exact path (allowed set within
``filter_exact_below``): the serving shape of ML-100K (1,682 items) and ML-latest-small (9,742).

    PYTHONPATH=src .venv/bin/python bench/ann_small_filtered.py [--queries 500]

Random unit vectors (64 dims), one query at a time with 60 excluded ("seen") items, 1 thread; prints
the mean latency per kind and catalog size and checks each answer against brute force.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()

    from recstrata.retrieval.ann.kinds import make_index

    rng = np.random.default_rng(0)
    print("| items | kind | mean ms / query | exact answers |\n|---:|---|---:|---:|")
    for n in (1_682, 9_742, 50_000):
        x = rng.normal(size=(n, 64)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        q = rng.normal(size=(args.queries, 64)).astype(np.float32)
        seen = [rng.choice(n, 60, replace=False) for _ in range(args.queries)]
        for kind in ("exact", "hnsw"):
            index = make_index(kind, threads=1).build(x)
            index.search(q[:1], 10, exclude=[seen[0]])  # warm-up
            got, start = [], time.perf_counter()
            for i in range(args.queries):
                got.append(index.search(q[i : i + 1], 10, exclude=[seen[i]])[0][0])
            ms = (time.perf_counter() - start) / args.queries * 1000
            ok = 0
            for i in range(args.queries):
                ref = x @ q[i]
                ref[seen[i]] = -np.inf
                ok += set(got[i].tolist()) == set(np.argpartition(-ref, 10)[:10].tolist())
            print(f"| {n:,} | {kind} | {ms:.3f} | {ok}/{args.queries} |")


if __name__ == "__main__":
    main()
