"""Classic baselines on RecBole 1.2.1's exact ML-100K split, side by side with RecBole's own scores.

    python bench/baselines.py [--protocol-dir ../shared/protocol/ml-100k] [--dataset ../shared/datasets/ml-100k]

Prints markdown tables: (1) each model with RecBole-equivalent default hyper-parameters and with
hyper-parameters tuned on validation, test metrics @10 and fit time, next to RecBole's figures;
(2) the end-to-end time of evaluating 5 models (load, split, tune, fit, evaluate).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("recall@10", "ndcg@10", "mrr@10", "hit@10", "precision@10")
# RecBole's default hyper-parameters, where recstrata's model is the same algorithm
RECBOLE_DEFAULTS = {"pop": {}, "itemknn": {"k": 100, "shrink": 0.0}, "ease": {"reg": 250.0}}
RECBOLE_NAMES = {"pop": "Pop", "itemknn": "ItemKNN", "ease": "EASE", "bpr": "BPR"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared/datasets/ml-100k"))
    parser.add_argument("--protocol-dir", default=str(ROOT.parent / "shared/protocol/ml-100k"))
    parser.add_argument("--models", default="pop,itemknn,ease,als,bpr")
    parser.add_argument("--json", default=None, help="also write raw results here")
    args = parser.parse_args()

    from recstrata.data.registry import load_dataset
    from recstrata.data.split import split_from_files
    from recstrata.evaluation import evaluate
    from recstrata.experiment import run_experiment
    from recstrata.retrieval.registry import make_model

    start = time.perf_counter()
    ds = load_dataset(args.dataset)
    split = split_from_files(ds, Path(args.protocol_dir) / "general")
    load_s = time.perf_counter() - start
    names = args.models.split(",")
    tuned = run_experiment(split, names, ks=(10, 20))
    e2e = time.perf_counter() - start

    recbole = json.loads((Path(args.protocol_dir) / "recbole_scores.json").read_text())["results"]
    rows = []
    for report in tuned:
        name = report.model
        if name in RECBOLE_DEFAULTS:
            model = make_model(name, **RECBOLE_DEFAULTS[name]).fit(split.train)
            default = evaluate(model, split, "test", ks=[10], beyond_accuracy=False, group_by=[]).metrics
            default_valid = evaluate(model, split, "valid", ks=[10], beyond_accuracy=False, group_by=[]).metrics
            rows.append((f"{name} (RecBole defaults {RECBOLE_DEFAULTS[name] or ''})", default,
                         default_valid["ndcg@10"], model.fit_seconds_))
        rows.append((f"{name} (tuned on valid: {_params(report.params)})", report.test, report.valid["ndcg@10"],
                     report.fit_seconds))
        if name in RECBOLE_NAMES:
            rb = recbole[RECBOLE_NAMES[name]]
            rows.append((f"RecBole {RECBOLE_NAMES[name]}", rb["test"], rb["valid"]["ndcg@10"], rb["fit_seconds_2_cores"]))

    print(f"## Baselines on RecBole's ML-100K split ({platform.node()}, {time.strftime('%Y-%m-%d')})\n")
    print("| model | " + " | ".join(METRICS) + " | valid ndcg@10 | fit s |")
    print("|---|" + "---:|" * (len(METRICS) + 2))
    for label, test, valid, fit_s in rows:
        print(f"| {label} | " + " | ".join(f"{test[m]:.4f}" for m in METRICS) + f" | {valid:.4f} | {fit_s:.2f} |")
    print(f"\nEnd to end ({len(names)} models: load {load_s:.1f} s, split, grid search on valid, fit, "
          f"evaluate valid + test with beyond-accuracy and group breakdowns): {e2e:.1f} s")
    trials = sum(len(r.trials) for r in tuned)
    print(f"Grid points fitted and scored on validation: {trials}")
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_dict() for r in tuned], indent=2, default=str))


def _params(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items() if k != "seed") or "-"


if __name__ == "__main__":
    main()
