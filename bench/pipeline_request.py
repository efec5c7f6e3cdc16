"""Cost of one request to a published pipeline, with and without querying its sources of fusion weight 0.

    python bench/pipeline_request.py runs/blend/2 [--requests 2000] [--k 10]

Loads the pipeline, then answers one user per call (``recommend_explained``, as the server does),
round-robin over its users: first as served (weight-0 sources not queried:
``Pipeline.unqueried_sources``), then with every source queried, and checks both give the same ids
and scores. Prints p50 / p99 per request in ms.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np

from recstrata.ranking.pipeline import Pipeline


def timed(pipe: Pipeline, users: np.ndarray, k: int) -> tuple[np.ndarray, list[np.ndarray]]:
    pipe.recommend_explained(users[:20], k=k)  # warm-up
    ms, answers = [], []
    for u in users:
        t = time.perf_counter()
        out = pipe.recommend_explained([int(u)], k=k)
        ms.append((time.perf_counter() - t) * 1e3)
        answers.append(np.concatenate([out.ids[0], out.scores[0]]))
    return np.array(ms), answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pipeline", help="a published pipeline version directory, e.g. runs/blend/2")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    served = Pipeline.load(args.pipeline)
    every = copy.copy(served)
    every.unqueried_sources = lambda: ()
    users = np.arange(args.requests) % served.n_users_
    print(f"sources {list(served.sources)}, fusion weights {served.fusion_weights}, "
          f"not queried: {list(served.unqueried_sources()) or 'none'}")
    results = {}
    for label, pipe in (("served", served), ("every source", every)):
        ms, answers = timed(pipe, users, args.k)
        results[label] = answers
        print(f"{label:>13}: p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms "
              f"over {len(ms)} requests (k={args.k})")
    same = all(np.array_equal(a, b) for a, b in zip(results["served"], results["every source"]))
    print(f"identical ids and scores: {same}")


if __name__ == "__main__":
    main()
