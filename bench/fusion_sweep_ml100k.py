"""Reciprocal-rank-fusion settings of the blended pipeline, scored on VALIDATION only (no test).

    PYTHONPATH=src python bench/fusion_sweep_ml100k.py [--sources ease,als,two_tower]

Sources fitted once on train with their validation-tuned parameters (bench/results/ranker_sources.json);
sweeps N per source, the fusion constant k and per-source weights. A follow-up to
bench/ranker_folds_ml100k.py, whose selection (and single test look) is already final.
"""

from __future__ import annotations

import argparse
import itertools

from _general import add_split_args, load_split, tuned_params  # bench/ is sys.path[0] when a driver runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_args(parser)
    parser.add_argument("--sources", default="ease,als,two_tower")
    args = parser.parse_args()

    from recstrata.evaluation import evaluate
    from recstrata.ranking import Pipeline
    from recstrata.retrieval.registry import make_model

    split = load_split(args)
    tuned = tuned_params(args)
    names = args.sources.split(",")
    fitted = {s: make_model(s, **tuned[s]).fit(split.train) for s in names}
    print("| N | fusion k | weights | valid ndcg@10 |\n|---:|---:|---|---:|")
    weight_grid = [dict(zip(names, w)) for w in itertools.product([0.5, 1.0, 1.5], repeat=len(names))
                   if max(w) == 1.0]  # weights are relative: fix the largest at 1
    for n, k, w in itertools.product([50, 100, 200], [10.0, 30.0, 60.0, 120.0], weight_grid):
        pipe = Pipeline(fitted, n_per_source=n, fusion_k=k, fusion_weights=w).fit(split.train, fit_sources=False)
        ndcg = evaluate(pipe, split, "valid", ks=[10], beyond_accuracy=False, group_by=[]).metrics["ndcg@10"]
        print(f"| {n} | {k:g} | {w} | {ndcg:.4f} |", flush=True)


if __name__ == "__main__":
    main()
