"""Selecting the blended pipeline on VALIDATION only, with an honest score for every candidate.

    PYTHONPATH=src python bench/ranker_folds_ml100k.py [--folds 4] [--configs 0,1] [--test] [--out f.json]

Candidates, all with sources fitted on TRAIN (RecBole's ML-100K general split):

- each source alone and reciprocal rank fusion (no ranker): scored on validation directly;
- the ranker trained on validation labels, 5-fold cross-fitting over validation users: the
  out-of-fold score, each fold's trees early-stopped on other users than the ones it scores;
- the ranker trained on train holdout folds only (recstrata.ranking.folds): per fold a random 1/9
  of each user's train items is held out, the sources are refitted on the rest and the held-out
  items label the candidates; early stopping on the fold groups of 15% of users; the validation
  part stays untouched and scores it directly.

The best validation NDCG@10 is selected; with ``--test`` only that one is scored on test (train +
valid items excluded, as RecBole does).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from _general import (  # bench/ is sys.path[0] when a driver runs
    add_selection_args, add_split_args, finish_selection, load_split, scorer, tuned_params)

SLOW = dict(num_leaves=15, learning_rate=0.02, min_data_in_leaf=200)
WIDE = dict(num_leaves=63, learning_rate=0.03, min_data_in_leaf=100)
CONFIGS = [  # (sources, N per source, ranker parameters); item vectors from ALS
    (("ease", "als", "two_tower"), 200, SLOW),
    (("ease", "als", "two_tower"), 200, WIDE),
    (("ease", "als", "two_tower", "rp3beta"), 200, SLOW),
]
STOP_USERS = 0.15  # share of users whose fold groups early-stop the ranker instead of training it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_args(parser)
    parser.add_argument("--folds", default="4", help="comma-separated fold counts to compare")
    parser.add_argument("--configs", default=None, help="comma-separated indices into CONFIGS (default: all)")
    parser.add_argument("--threads", type=int, default=1, help="LightGBM training threads")
    add_selection_args(parser)
    args = parser.parse_args()

    from recstrata.ranking import LambdaRanker, Pipeline
    from recstrata.ranking.folds import RankingData, fold_ranking_data
    from recstrata.retrieval.registry import make_model

    split = load_split(args)
    tuned = tuned_params(args)
    ev = scorer(split)
    fold_counts = [int(f) for f in args.folds.split(",")]
    chosen = [CONFIGS[int(i)] for i in args.configs.split(",")] if args.configs else CONFIGS

    def make(sources, n, params):
        return lambda: Pipeline({s: make_model(s, **tuned[s]) for s in sources}, n_per_source=n,
                                ranker=LambdaRanker(**params, train_threads=args.threads),
                                vector_source="als" if "als" in sources else None)

    print(f"## Ranker trained on train holdout folds, ML-100K general split ({platform.node()}, "
          f"{time.strftime('%Y-%m-%d')})\n")
    print("| candidate | valid ndcg@10 | trees | seconds |\n|---|---:|---:|---:|")
    trials, best = [], None

    def record(label: str, valid: float, model, trees: int | str, seconds: float, kind: str) -> None:
        nonlocal best
        print(f"| {label} | {valid:.4f} | {trees} | {seconds:.0f} |", flush=True)
        trials.append({"candidate": label, "kind": kind, "valid_ndcg@10": valid})
        if best is None or valid > best[0]:
            best = (valid, label, model)

    alone: dict = {}
    for name in sorted({s for c in chosen for s in c[0]}):
        start = time.perf_counter()
        alone[name] = make_model(name, **tuned[name]).fit(split.train)
        record(f"{name} alone {tuned[name]}", ev(alone[name], "valid").metrics["ndcg@10"], alone[name], "-",
               time.perf_counter() - start, "source")
    fold_cache: dict = {}  # (sources, n, fold) -> RankingData
    for sources, n, params in chosen:
        key = (sources, n)
        label = f"{'+'.join(sources)}, N={n}"
        ranker_label = f"{label}, {params}"
        start = time.perf_counter()
        rrf = Pipeline({s: alone[s] for s in sources}, n_per_source=n, vector_source="als").fit(
            split.train, fit_sources=False)
        if not any(t["candidate"] == f"RRF {label}" for t in trials):
            record(f"RRF {label}", ev(rrf, "valid").metrics["ndcg@10"], rrf, "-", time.perf_counter() - start, "rrf")

        # (a) ranker on validation labels, 5-fold cross-fitting over validation users (out-of-fold score)
        start = time.perf_counter()
        on_valid = Pipeline({s: alone[s] for s in sources}, n_per_source=n, vector_source="als",
                            ranker=LambdaRanker(**params, train_threads=args.threads)).fit(split.train, fit_sources=False)
        on_valid.fit_ranker(split.valid, folds=5)
        record(f"ranker on valid labels (5-fold cross-fit, out-of-fold) {ranker_label}", on_valid.ranker_valid_ndcg_,
               on_valid, "/".join(map(str, on_valid.ranker_fold_iterations_)), time.perf_counter() - start, "valid")

        # (b) ranker on train holdout folds only; validation untouched
        for folds in fold_counts:
            start = time.perf_counter()
            for f in range(folds):
                if key + (f,) not in fold_cache:
                    fold_cache[key + (f,)] = fold_ranking_data(make(sources, n, params), split.train, folds=1, seed=f)
            data = RankingData.concat([fold_cache[key + (f,)] for f in range(folds)])
            users = np.unique(data.users)
            stop_users = np.random.default_rng(0).choice(users, int(STOP_USERS * len(users)), replace=False)
            stop = np.isin(data.users, stop_users)
            pipe = Pipeline({s: alone[s] for s in sources}, n_per_source=n, vector_source="als",
                            ranker=LambdaRanker(**params, train_threads=args.threads)).fit(split.train, fit_sources=False)
            pipe.fit_ranker_on(data.take(~stop), valid=data.take(stop))
            record(f"ranker on {folds} train folds {ranker_label}", ev(pipe, "valid").metrics["ndcg@10"], pipe,
                   pipe.ranker_.best_iteration_, time.perf_counter() - start, "folds")

    model = best[2]
    finish_selection(args, ev, trials, best, split)
    ranker = getattr(model, "ranker_", None)
    if ranker is not None:
        print("\nTop features by gain:",
              ", ".join(f"{k} {v:.0f}" for k, v in list(ranker.feature_importance().items())[:10]))


if __name__ == "__main__":
    main()
