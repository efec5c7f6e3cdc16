"""Two-tower training cost against catalog size: a fixed number of training steps (the first
``--steps`` batches of a synthetic catalog's interactions, genres and year as item features, no text)
on catalogs of 10,000 to 1,000,000 items, 1 thread.

    PYTHONPATH=src .venv/bin/python bench/two_tower_scale.py [--steps 30] [--items 10000,100000,1000000]

Each catalog is fitted twice, for ``--steps`` and for 3x as many steps: the difference is the cost of
the extra steps alone; the rest of a fit is per-fit work (features, the final pass over the catalog).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--items", default="10000,100000,1000000")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from serve_load import synthetic_dataset

    from recstrata.data.dataset import Interactions
    from recstrata.retrieval.two_tower import TwoTower

    warm = synthetic_dataset(2_000)  # imports and torch's first-call costs stay out of the figures
    TwoTower(text=False, epochs=1, batch_size=256, threads=1).fit(
        warm.with_interactions(Interactions.from_arrays(*(getattr(warm.interactions, c)[:512]
                                                          for c in ("user", "item")), None,
                                                        warm.interactions.timestamp[:512])))
    print("| items | fit of S steps s | fit of 3S steps s | ms per step (the difference / 2S) |\n"
          "|---:|---:|---:|---:|")
    for n in (int(x) for x in args.items.split(",")):
        full = synthetic_dataset(n)
        inter = full.interactions
        seconds = []
        for steps in (args.steps, 3 * args.steps):
            keep = slice(0, steps * 256)
            ds = full.with_interactions(Interactions.from_arrays(inter.user[keep], inter.item[keep], None,
                                                                 inter.timestamp[keep]))
            start = time.perf_counter()
            TwoTower(text=False, epochs=1, batch_size=256, threads=1).fit(ds)
            seconds.append(time.perf_counter() - start)
        per_step = (seconds[1] - seconds[0]) / (2 * args.steps) * 1000
        print(f"| {n:,} | {seconds[0]:.2f} | {seconds[1]:.2f} | {per_step:.1f} |", flush=True)

if __name__ == "__main__":
    main()
