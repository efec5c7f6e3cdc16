"""Paired test comparison of saved recstrata SASRec models with RecBole's own SASRec, user by user.

    PYTHONPATH=src .venv/bin/python bench/sasrec_paired.py RECBOLE_RANKS.csv MODEL_DIR [MODEL_DIR ...]

``RECBOLE_RANKS.csv`` is written by ``bench/recbole_sasrec.py per-user`` (raw user id, 1-based rank
of the test item in RecBole's unmasked full ranking). Each ``MODEL_DIR`` is a SASRec saved by
``bench/sasrec_ml100k.py --save``. Both sides score the same 943 test targets of RecBole's
leave-one-out split without masking, so per-user NDCG@10 values pair up; prints each model's
NDCG@10 and the paired difference (recstrata - RecBole) with its 95% bootstrap interval and p-values
(``recstrata.evaluation.stats.compare``).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from pathlib import Path

import numpy as np

PROTOCOL = Path("/work/shared/protocol/ml-100k")
DATASET = Path("/work/shared/datasets/ml-100k")


def recbole_ndcg(path: Path, user_ids: np.ndarray, targets: np.ndarray, k: int = 10) -> np.ndarray:
    """Per-user NDCG@k (one target each) from RecBole's ranks, in the order of ``user_ids``; the file
    must hold exactly these users, once each, with the same test items (``targets``, raw ids)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    users = [row["user_id"] for row in rows]
    if len(set(users)) != len(users):
        raise SystemExit(f"{path}: a user appears twice")
    if set(users) != set(map(str, user_ids)):
        raise SystemExit(f"{path}: its {len(set(users))} users are not the split's {len(user_ids)} test users")
    by_user = {row["user_id"]: row for row in rows}
    wrong = [u for u, t in zip(map(str, user_ids), map(str, targets)) if by_user[u]["item_id"] != t]
    if wrong:
        raise SystemExit(f"{path}: {len(wrong)} users have another test item than the split (first: {wrong[:3]})")
    r = np.array([int(by_user[str(u)]["rank"]) for u in user_ids], np.float64)
    return np.where(r <= k, 1.0 / np.log2(r + 1.0), 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ranks", type=Path, help="CSV from bench/recbole_sasrec.py per-user")
    parser.add_argument("models", type=Path, nargs="+", help="saved recstrata SASRec directories")
    args = parser.parse_args(argv)

    from recstrata.data.registry import load_dataset
    from recstrata.data.split import split_from_files
    from recstrata.evaluation import evaluate
    from recstrata.evaluation.stats import compare
    from recstrata.retrieval.base import Recommender

    ds = load_dataset(str(DATASET))
    split = split_from_files(ds, PROTOCOL / "sequential")
    for model_dir in args.models:
        ours = evaluate(Recommender.load(model_dir), split, "test", ks=[10], beyond_accuracy=False, group_by=[])
        truth = split.part("test").user_items[ours.users]  # one test item per user
        targets = ds.item_ids.to_external(truth.indices[truth.indptr[:-1]])
        ndcg = recbole_ndcg(args.ranks, ds.user_ids.to_external(ours.users), targets)
        theirs = dataclasses.replace(ours, per_user={"ndcg@10": ndcg}, metrics={"ndcg@10": float(ndcg.mean())},
                                     ranked=np.zeros((len(ndcg), 0), np.int64), groups={})
        c = compare(ours, theirs, "ndcg@10")
        print(f"{model_dir}: recstrata {c.mean_a:.4f}  RecBole {c.mean_b:.4f}  "
              f"difference {c.difference:+.4f} (95% {c.low:+.4f} to {c.high:+.4f}), "
              f"p t-test {c.p_value:.3f}, Wilcoxon {c.p_wilcoxon:.3f}, {c.n_users} users")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
