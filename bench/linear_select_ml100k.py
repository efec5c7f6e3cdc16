"""Selecting among the linear models (EDLAE, GF-CF) and rank fusions on VALIDATION only.

    PYTHONPATH=src python bench/linear_select_ml100k.py [--test] [--out f.json]

Every source is fitted on TRAIN of RecBole's ML-100K general split with the hyper-parameters that
bench/tune_sources_ml100k.py chose on validation (``--sources-json``). The candidates - each source
alone and a few reciprocal rank fusions (RRF, no ranker) - are scored on validation (train items
excluded); the highest validation NDCG@10 is selected (ties keep the earlier, simpler candidate).
With ``--test`` that one candidate, and only it, is scored on test (train + valid items excluded).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from _general import add_split_args, load_split, tuned_params, scorer  # bench/ is sys.path[0] when a driver runs

METRICS = ("ndcg@10", "recall@10", "mrr@10", "hit@10", "precision@10")
SOURCES = ("ease", "als", "two_tower", "edlae", "gfcf")
FUSIONS = [  # the incumbent, then each new linear model in place of / beside EASE
    ("ease", "als", "two_tower"),
    ("edlae", "als", "two_tower"),
    ("gfcf", "als", "two_tower"),
    ("edlae", "gfcf", "als", "two_tower"),
]
N_PER_SOURCE = 200  # as in the incumbent fusion (bench/results/ranker-folds.md)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_args(parser)
    parser.add_argument("--test", action="store_true",
                        help="score the selected candidate on test (once, after selection is final)")
    parser.add_argument("--out", default=None, help="also write the selection as JSON here")
    args = parser.parse_args()

    from recstrata.ranking import Pipeline
    from recstrata.retrieval.registry import make_model

    split = load_split(args)
    tuned = tuned_params(args)
    ev = scorer(split)

    print(f"## Linear models and rank fusion, ML-100K general split ({platform.node()}, "
          f"{time.strftime('%Y-%m-%d')})\n")
    print("| candidate | valid ndcg@10 | valid recall@10 | seconds |\n|---|---:|---:|---:|")
    trials, best = [], None

    def record(label: str, model, seconds: float) -> None:
        nonlocal best
        m = ev(model, "valid").metrics
        print(f"| {label} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {seconds:.0f} |", flush=True)
        trials.append({"candidate": label, "valid_ndcg@10": m["ndcg@10"], "valid_recall@10": m["recall@10"]})
        if best is None or m["ndcg@10"] > best[0]:
            best = (m["ndcg@10"], label, model)

    alone = {}
    for name in SOURCES:
        start = time.perf_counter()
        alone[name] = make_model(name, **tuned[name]).fit(split.train)
        record(f"{name} alone {tuned[name]}", alone[name], time.perf_counter() - start)
    for sources in FUSIONS:
        start = time.perf_counter()
        rrf = Pipeline({s: alone[s] for s in sources}, n_per_source=N_PER_SOURCE, vector_source="als").fit(
            split.train, fit_sources=False)
        record(f"RRF {'+'.join(sources)}, N={N_PER_SOURCE}", rrf, time.perf_counter() - start)

    valid, label, model = best
    print(f"\n**selected** {label}: valid ndcg@10 {valid:.4f}")
    test = None
    if args.test:
        test = ev(model, "test").metrics
        print("TEST (sources fit on train only; train + valid items excluded): "
              + ", ".join(f"{m} {test[m]:.4f}" for m in METRICS))
    if args.out:
        Path(args.out).write_text(json.dumps({"trials": trials, "selected": {
            "candidate": label, "valid_ndcg@10": valid, "test": test and {m: test[m] for m in METRICS}}}, indent=2))


if __name__ == "__main__":
    main()
