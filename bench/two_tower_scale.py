"""Two-tower training cost against catalog size: a fixed number of training steps (the first
``--steps`` batches of a synthetic catalog's interactions, genres and year as item features, no text)
on catalogs of 10,000 to 1,000,000 items, 1 thread.

    PYTHONPATH=src .venv/bin/python bench/two_tower_scale.py [--steps 30] [--items 10000,100000,1000000]
                                                             [--adam dense,lazy] [--repeat 3]

Each catalog is fitted twice, for ``--steps`` and for 3x as many steps: the difference is the cost of
the extra steps alone; the rest of a fit is per-fit work (features, the final pass over the catalog).
Every fit runs ``--repeat`` times and the fastest counts (one difference of two single fits can be off
by 2x on a shared machine).
``--adam`` picks the ID tables' optimiser(s): ``dense`` (AdamW, the default model) and/or ``lazy``
(``lazy_adam=True``). Times are wall seconds and, per step, also this process's CPU seconds (a
steadier figure when other work shares the cores).
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
    parser.add_argument("--adam", default="dense", help="comma-separated: dense, lazy")
    parser.add_argument("--repeat", type=int, default=3, help="fits per measurement; the fastest counts")
    args = parser.parse_args()
    kinds = args.adam.split(",")
    if not set(kinds) <= {"dense", "lazy"}:
        parser.error(f"--adam takes dense and/or lazy, got {args.adam!r}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from serve_load import synthetic_dataset

    from recstrata.data.dataset import Interactions
    from recstrata.retrieval.two_tower import TwoTower

    warm = synthetic_dataset(2_000)  # imports and torch's first-call costs stay out of the figures
    TwoTower(text=False, epochs=1, batch_size=256, threads=1).fit(
        warm.with_interactions(Interactions.from_arrays(*(getattr(warm.interactions, c)[:512]
                                                          for c in ("user", "item")), None,
                                                        warm.interactions.timestamp[:512])))
    print("| items | ID tables' Adam | fit of S steps s | fit of 3S steps s "
          "| ms per step (the difference / 2S) | CPU ms per step |\n|---:|---|---:|---:|---:|---:|")
    for n in (int(x) for x in args.items.split(",")):
        full = synthetic_dataset(n)
        inter = full.interactions
        for kind in kinds:
            wall, cpu = [], []
            for steps in (args.steps, 3 * args.steps):
                keep = slice(0, steps * 256)
                ds = full.with_interactions(Interactions.from_arrays(inter.user[keep], inter.item[keep], None,
                                                                     inter.timestamp[keep]))
                runs = []
                for _ in range(max(1, args.repeat)):
                    start, start_cpu = time.perf_counter(), time.process_time()
                    TwoTower(text=False, epochs=1, batch_size=256, threads=1, lazy_adam=kind == "lazy").fit(ds)
                    runs.append((time.perf_counter() - start, time.process_time() - start_cpu))
                wall.append(min(r[0] for r in runs))
                cpu.append(min(r[1] for r in runs))
            per_step, cpu_step = ((t[1] - t[0]) / (2 * args.steps) * 1000 for t in (wall, cpu))
            print(f"| {n:,} | {kind} | {wall[0]:.2f} | {wall[1]:.2f} | {per_step:.1f} | {cpu_step:.1f} |",
                  flush=True)

if __name__ == "__main__":
    main()
