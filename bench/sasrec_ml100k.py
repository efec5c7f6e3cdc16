"""SASRec on RecBole's exact ML-100K sequential (leave-one-out) split, side by side with RecBole.

    PYTHONPATH=src .venv/bin/python bench/sasrec_ml100k.py [--params '{"dim": 64}'] [--out FILE] [--test]
        [--save DIR | --load DIR]

Trains with early stopping on validation NDCG@10 (the best epoch's weights are kept), then
prints per-epoch time (wall and process CPU seconds: the machine is shared, so wall time is
noisy), epochs to convergence, valid/test NDCG@10, Recall@10 (= Hit@10, one target per
user), MRR@10 and NDCG@20, next to RecBole 1.2.1's SASRec and GRU4Rec figures from
``recbole_scores.json``, and the per-epoch speed-up over RecBole's SASRec (~280 s an epoch).
Test is scored only with ``--test``: configurations are compared on validation, and only the
one validation selects is scored on test (train it with ``--save DIR``, then ``--load DIR --test``
scores that very model without retraining).
With ``--out`` the same report is appended to a Markdown file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
from pathlib import Path

PROTOCOL = Path("/work/shared/protocol/ml-100k")
DATASET = Path("/work/shared/datasets/ml-100k")
RECBOLE_SASREC_EPOCH_SECONDS = 1703.48 / 6  # recbole_scores.json: SASRec fit seconds / epochs run
METRICS = ("ndcg@10", "recall@10", "mrr@10", "ndcg@20")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="{}", help="SASRec hyper-parameters as JSON")
    parser.add_argument("--out", type=Path, help="append the Markdown report to this file")
    parser.add_argument("--quiet", action="store_true", help="do not print per-epoch progress")
    parser.add_argument("--test", action="store_true",
                        help="also score test (only for the configuration chosen on validation)")
    parser.add_argument("--save", type=Path, help="save the fitted model to this directory")
    parser.add_argument("--load", type=Path,
                        help="score a model saved by an earlier --save run instead of training one")
    args = parser.parse_args(argv)

    from recstrata.data.registry import load_dataset
    from recstrata.data.split import split_from_files
    from recstrata.evaluation import evaluate
    from recstrata.retrieval.base import Recommender
    from recstrata.retrieval.sasrec import SASRec

    ds = load_dataset(str(DATASET))
    split = split_from_files(ds, PROTOCOL / "sequential")
    params = json.loads(args.params)
    if args.load:
        model = Recommender.load(args.load)
    else:
        model = SASRec(verbose=not args.quiet, **params).fit(split.train, valid=split)
    if args.save:
        model.save(args.save)
    parts = ("valid", "test") if args.test else ("valid",)
    results = {part: evaluate(model, split, part, ks=[10, 20], beyond_accuracy=False, group_by=[]) for part in parts}
    ours = {part: r.metrics for part, r in results.items()}
    command = " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    lines = [
        f"### SASRec {json.dumps(params) if not args.load else f'saved in {args.load}'}",
        "",
        f"`PYTHONPATH=src .venv/bin/python bench/sasrec_ml100k.py {command}` — "
        f"{datetime.date.today()}, 2 shared cores / 24 GiB (other jobs running: wall times are noisy), "
        f"torch threads = {model.threads or os.cpu_count()}",
        "",
        f"- model: {model!r}",
        *([] if args.load else training_lines(model)),
        "",
        *score_table(model, ours),
        "",
        "- NDCG@10, 95% bootstrap interval over users: "
        + ", ".join(f"{part} {lo:.4f}-{hi:.4f}" for part, (lo, hi) in
                     ((p, r.interval("ndcg@10")) for p, r in results.items())),
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with args.out.open("a") as fh:
            fh.write(report + "\n")
    return 0


def training_lines(model) -> list[str]:
    """Epochs, time per epoch and the validation curve of a model fitted in this run."""
    wall = sum(model.epoch_seconds_) / len(model.epoch_seconds_)
    cpu = sum(model.epoch_cpu_seconds_) / len(model.epoch_cpu_seconds_)
    return [
        f"- {model.ensemble} network(s): epochs run {model.epochs_run_}, best epoch {model.best_epoch_}, "
        f"kept weights = mean of epochs {model.averaged_epochs_}, fit {model.fit_seconds_:.0f} s wall",
        f"- per epoch (of one network): {wall:.1f} s wall, {cpu:.1f} s process CPU; RecBole SASRec "
        f"~{RECBOLE_SASREC_EPOCH_SECONDS:.0f} s wall -> speed-up x{RECBOLE_SASREC_EPOCH_SECONDS / wall:.1f} (wall), "
        f"x{RECBOLE_SASREC_EPOCH_SECONDS / cpu:.1f} (vs our CPU seconds)",
        *(f"- valid NDCG@10 by epoch{f' (network {m + 1})' if model.ensemble > 1 else ''}: "
          f"{' '.join(f'{v:.4f}' for v in curve)}" for m, curve in enumerate(model.valid_ndcg_)),
    ]


def score_table(model, ours: dict[str, dict[str, float]]) -> list[str]:
    """Our scores on the parts scored, next to RecBole's SASRec and GRU4Rec."""
    recbole = json.loads((PROTOCOL / "recbole_scores.json").read_text())["results"]
    best = ", ".join(map(str, getattr(model, "best_epoch_", ["-"])))
    lines = [
        "| model | epochs | part | " + " | ".join(METRICS) + " |",
        "|---|---|---|" + "---|" * len(METRICS),
    ]
    for part, scores in ours.items():
        lines.append(f"| recstrata SASRec | {best} | {part} | " + " | ".join(f"{scores[m]:.4f}" for m in METRICS) + " |")
    for name in ("SASRec_e6", "GRU4Rec_e15"):
        r = recbole[name]
        for part in ("valid", "test"):
            lines.append(f"| RecBole {r['model']} | {r['epochs_run']} (capped) | {part} | "
                         + " | ".join(f"{r[part][m]:.4f}" for m in METRICS) + " |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
