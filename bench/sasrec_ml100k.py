"""SASRec on RecBole's exact ML-100K sequential (leave-one-out) split, side by side with RecBole.

    PYTHONPATH=src .venv/bin/python bench/sasrec_ml100k.py [--params '{"dim": 64}'] [--out FILE] [--test]

Trains with early stopping on validation NDCG@10 (the best epoch's weights are kept), then
prints per-epoch time (wall and process CPU seconds: the machine is shared, so wall time is
noisy), epochs to convergence, valid/test NDCG@10, Recall@10 (= Hit@10, one target per
user), MRR@10 and NDCG@20, next to RecBole 1.2.1's SASRec and GRU4Rec figures from
``recbole_scores.json``, and the per-epoch speed-up over RecBole's SASRec (~280 s an epoch).
Test is scored only with ``--test``: configurations are compared on validation, and only the
one validation selects is run again with ``--test``.
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
    args = parser.parse_args(argv)

    from recstrata.data.registry import load_dataset
    from recstrata.data.split import split_from_files
    from recstrata.evaluation import evaluate
    from recstrata.retrieval.sasrec import SASRec

    ds = load_dataset(str(DATASET))
    split = split_from_files(ds, PROTOCOL / "sequential")
    params = json.loads(args.params)
    model = SASRec(verbose=not args.quiet, **params).fit(split.train, valid=split)
    parts = ("valid", "test") if args.test else ("valid",)
    ours = {
        part: evaluate(model, split, part, ks=[10, 20], beyond_accuracy=False, group_by=[]).metrics
        for part in parts
    }
    recbole = json.loads((PROTOCOL / "recbole_scores.json").read_text())["results"]

    wall = sum(model.epoch_seconds_) / len(model.epoch_seconds_)
    cpu = sum(model.epoch_cpu_seconds_) / len(model.epoch_cpu_seconds_)
    lines = [
        f"### SASRec {json.dumps(params)}",
        "",
        f"`PYTHONPATH=src .venv/bin/python bench/sasrec_ml100k.py --params {shlex.quote(args.params)}"
        f"{' --test' if args.test else ''}` — "
        f"{datetime.date.today()}, 2 shared cores / 24 GiB (other jobs running: wall times are noisy), "
        f"torch threads = {model.threads or os.cpu_count()}",
        "",
        f"- model: {model!r}",
        f"- {model.ensemble} network(s): epochs run {model.epochs_run_}, best epoch {model.best_epoch_}, "
        f"kept weights = mean of epochs {model.averaged_epochs_}, fit {model.fit_seconds_:.0f} s wall",
        f"- per epoch: {wall:.1f} s wall, {cpu:.1f} s process CPU; RecBole SASRec ~{RECBOLE_SASREC_EPOCH_SECONDS:.0f} s "
        f"wall -> speed-up x{RECBOLE_SASREC_EPOCH_SECONDS / wall:.1f} (wall), "
        f"x{RECBOLE_SASREC_EPOCH_SECONDS / cpu:.1f} (vs our CPU seconds)",
        *(f"- valid NDCG@10 by epoch{f' (network {m + 1})' if model.ensemble > 1 else ''}: "
          f"{' '.join(f'{v:.4f}' for v in curve)}" for m, curve in enumerate(model.valid_ndcg_)),
        "",
        "| model | epochs | part | " + " | ".join(METRICS) + " |",
        "|---|---|---|" + "---|" * len(METRICS),
    ]
    for part in parts:
        lines.append(f"| recstrata SASRec | {', '.join(map(str, model.best_epoch_))} | {part} | "
                     + " | ".join(f"{ours[part][m]:.4f}" for m in METRICS) + " |")
    for name in ("SASRec_e6", "GRU4Rec_e15"):
        r = recbole[name]
        for part in ("valid", "test"):
            lines.append(f"| RecBole {r['model']} | {r['epochs_run']} (capped) | {part} | "
                         + " | ".join(f"{r[part][m]:.4f}" for m in METRICS) + " |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with args.out.open("a") as fh:
            fh.write(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
