"""Reciprocal-rank-fusion settings of the blended pipeline, scored on VALIDATION only (no test).

    PYTHONPATH=src python bench/fusion_sweep_ml100k.py [--sources ease,als,two_tower]

Sources fitted once on train with their validation-tuned parameters (bench/results/ranker_sources.json);
sweeps N per source, the fusion constant k and per-source weights. A follow-up to
bench/ranker_folds_ml100k.py, whose selection (and single test look) is already final.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared/datasets/ml-100k"))
    parser.add_argument("--split-dir", default=str(ROOT.parent / "shared/protocol/ml-100k/general"))
    parser.add_argument("--sources-json", default=str(ROOT / "bench/results/ranker_sources.json"))
    parser.add_argument("--sources", default="ease,als,two_tower")
    args = parser.parse_args()

    from recstrata.data.registry import load_dataset
    from recstrata.data.split import split_from_files
    from recstrata.evaluation import evaluate
    from recstrata.ranking import Pipeline
    from recstrata.retrieval.registry import make_model

    split = split_from_files(load_dataset(args.dataset), args.split_dir)
    tuned = {k: v["best"] for k, v in json.loads(Path(args.sources_json).read_text()).items()}
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
