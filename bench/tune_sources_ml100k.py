"""Tune each retrieval source on the VALIDATION part of RecBole's ML-100K general split.

    PYTHONPATH=src python bench/tune_sources_ml100k.py [--out bench/results/ranker_sources.json]

Grid search (fit on train, NDCG@10 on valid, train items excluded); test is never looked at.
Models whose ``fit`` takes ``valid=`` (Mult-VAE) also early-stop on that same validation NDCG@10.
Writes the best parameters per model and every trial to a JSON file that bench/ranker_ml100k.py reads.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import time
from pathlib import Path

from _general import add_split_args, load_split  # bench/ is sys.path[0] when a driver runs

ROOT = Path(__file__).resolve().parents[1]
GRIDS = {
    "pop": {},
    "ease": {"reg": [100.0, 250.0, 500.0, 750.0, 1000.0, 1500.0]},
    "itemknn": {"k": [50, 100, 200, 400], "shrink": [0.0, 10.0, 50.0]},
    "rp3beta": {"k": [100, 200, 400], "alpha": [0.5, 1.0], "beta": [0.0, 0.3, 0.6]},
    "edlae": {"dropout": [0.1, 0.33, 0.5], "reg": [50.0, 200.0, 500.0, 1000.0], "zero_diagonal": [True, False]},
    "gfcf": {"k": [32, 64, 128, 256], "alpha": [0.1, 0.3, 1.0]},
    "als": {"factors": [32, 64, 128], "regularization": [1.0, 5.0, 20.0, 50.0], "alpha": [1.0, 2.0, 5.0]},
    "bpr": {"factors": [64, 128], "learning_rate": [0.005, 0.01, 0.05], "regularization": [0.01, 0.05],
            "iterations": [100, 200]},
    "two_tower": {"epochs": [5, 8], "temperature": [0.1, 0.2], "embedding_cache": ["runs/emb"]},
    "userknn": {"k": [30, 50, 80, 120], "shrink": [0.0, 10.0], "asymmetry": [0.3, 0.4, 0.5],
                "locality": [1.0, 3.0]},
    # the third pass; the two before it (bench/results/sources-vae.md) put the best at larger batches,
    # lr 5e-4 and the fastest annealing
    "multvae": {"batch_size": [256, 500], "learning_rate": [5e-4], "total_anneal_steps": [200, 2000],
                "anneal_cap": [0.2, 0.5]},
    "recvae": {"batch_size": [100, 250], "learning_rate": [5e-4, 1e-3], "gamma": [0.005, 0.01]},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_args(parser, sources=False)
    parser.add_argument("--models", default="pop,ease,itemknn,als,bpr,two_tower")
    parser.add_argument("--out", default=str(ROOT / "bench/results/ranker_sources.json"))
    args = parser.parse_args()

    from recstrata.evaluation import evaluate
    from recstrata.retrieval.registry import make_model

    split = load_split(args)
    out = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}  # other models kept
    for name in args.models.split(","):
        grid = GRIDS[name]
        trials = []
        for values in itertools.product(*grid.values()):
            params = dict(zip(grid, values))
            start = time.perf_counter()
            model = make_model(name, **params)
            early_stops = "valid" in inspect.signature(model.fit).parameters
            model.fit(split.train, valid=split) if early_stops else model.fit(split.train)
            ndcg = evaluate(model, split, "valid", ks=[10], beyond_accuracy=False, group_by=[]).metrics["ndcg@10"]
            trial = {"params": params, "valid_ndcg@10": ndcg, "seconds": time.perf_counter() - start,
                     "fit_seconds": model.fit_seconds_}
            if early_stops:  # fit_seconds then include one validation pass per epoch
                trial |= {"best_epoch": model.best_epoch_, "epochs_run": model.epochs_run_}
            trials.append(trial)
            print(f"{name} {params} valid ndcg@10={ndcg:.4f} fit {model.fit_seconds_:.1f}s", flush=True)
        best = max(trials, key=lambda t: t["valid_ndcg@10"])
        out[name] = {"best": best["params"], "valid_ndcg@10": best["valid_ndcg@10"], "trials": trials}
        if "best_epoch" in best:
            # the drivers fit without valid=: pin the early-stopped epoch count and check that a plain
            # fit with it reproduces the early-stopped model (training is seeded; validation draws no
            # random numbers)
            pinned = best["params"] | {"epochs": best["best_epoch"]}
            model = make_model(name, **pinned).fit(split.train)
            again = evaluate(model, split, "valid", ks=[10], beyond_accuracy=False, group_by=[]).metrics["ndcg@10"]
            print(f"{name} {pinned} refit without early stopping: valid ndcg@10={again:.4f}", flush=True)
            out[name] |= {"best": pinned, "refit_valid_ndcg@10": again, "refit_fit_seconds": model.fit_seconds_}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    for name, r in out.items():
        print(f"best {name}: {r['best']} valid ndcg@10 {r['valid_ndcg@10']:.4f}")


if __name__ == "__main__":
    main()
