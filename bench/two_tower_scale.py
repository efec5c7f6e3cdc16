"""Two-tower training cost against catalog size: a fixed number of training steps (the first
``--steps`` batches of a synthetic catalog's interactions, genres and year as item features, no text)
on catalogs of 10,000 to 1,000,000 items, 1 thread.

    PYTHONPATH=src .venv/bin/python bench/two_tower_scale.py [--steps 50] [--items 10000,100000,1000000]

Prints the fit's wall time (the steps plus one final pass that computes every item's vector).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--items", default="10000,100000,1000000")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from serve_load import synthetic_dataset

    from recstrata.data.dataset import Interactions
    from recstrata.retrieval.two_tower import TwoTower

    print("| items | steps | fit s | ms / step (fit / steps) |\n|---:|---:|---:|---:|")
    for n in (int(x) for x in args.items.split(",")):
        full = synthetic_dataset(n)
        inter = full.interactions
        keep = slice(0, args.steps * 256)
        ds = full.with_interactions(Interactions.from_arrays(inter.user[keep], inter.item[keep], None,
                                                             inter.timestamp[keep]))
        start = time.perf_counter()
        TwoTower(text=False, epochs=1, batch_size=256, threads=1).fit(ds)
        total = time.perf_counter() - start
        print(f"| {n:,} | {args.steps} | {total:.2f} | {total / args.steps * 1000:.1f} |", flush=True)

if __name__ == "__main__":
    main()
