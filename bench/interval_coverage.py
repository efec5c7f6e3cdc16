"""How often ``evaluation.stats.interval``'s 95% interval covers the true mean, by number of users, on
zero-inflated per-user values shaped like NDCG@10: a share of users scores 0 (60%, as on the general
split; 88%, as in leave-one-out, where a user's single item is mostly missed), the rest Beta(2, 3).

    PYTHONPATH=src .venv/bin/python bench/interval_coverage.py [--trials 400]
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    args = parser.parse_args()
    from recstrata.evaluation.stats import interval

    rng = np.random.default_rng(0)
    print("| users | coverage, 60% zeros | coverage, 88% zeros |\n|---:|---:|---:|")
    for n in (30, 50, 100, 200, 943):
        row = []
        for hit in (0.4, 0.12):
            true = hit * 2 / 5  # P(non-zero) x mean of Beta(2, 3)
            hits = trials = 0
            for t in range(args.trials):
                x = np.where(rng.random(n) < hit, rng.beta(2, 3, n), 0.0)
                if np.ptp(x) == 0:  # every user 0: no interval to speak of
                    continue
                low, high = interval(x, resamples=1000, seed=t)
                hits, trials = hits + (low <= true <= high), trials + 1
            row.append(f"{hits / trials:.3f}")
        print(f"| {n} | " + " | ".join(row) + " |")

if __name__ == "__main__":
    main()
