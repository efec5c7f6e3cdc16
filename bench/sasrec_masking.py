"""How much of a saved SASRec's leave-one-out figure comes from not ranking seen items: NDCG@10 on
RecBole's ML-100K sequential split unmasked (the protocol), with the latest ``max_len`` items masked
at scoring time (the network's window), and with every seen item masked; plus how many users' top-10
equal the window-masked top-10. Diagnosis only: masking is not the protocol.

    PYTHONPATH=src .venv/bin/python bench/sasrec_masking.py DIR [DIR ...] [--test]

``DIR`` is a model saved by ``bench/sasrec_ml100k.py --save``. Validation only, unless ``--test``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

PROTOCOL = Path("/work/shared/protocol/ml-100k/sequential")
DATASET = Path("/work/shared/datasets/ml-100k")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--test", action="store_true", help="also score test")
    args = parser.parse_args()

    from recstrata.data.registry import load_dataset
    from recstrata.data.split import split_from_files
    from recstrata.evaluation import evaluate
    from recstrata.retrieval.base import Recommender

    ds = load_dataset(str(DATASET))
    plain, masked = split_from_files(ds, PROTOCOL), split_from_files(ds, PROTOCOL, exclude_seen=True)
    parts = ("valid", "test") if args.test else ("valid",)

    def ndcg(model, split) -> str:
        figures = (evaluate(model, split, p, ks=[10], beyond_accuracy=False, group_by=[]).metrics["ndcg@10"]
                   for p in parts)
        return " / ".join(f"{x:.4f}" for x in figures)

    print(f"| model | repeat_score | unmasked | window masked | every seen item masked "
          f"| users whose top-10 = the window-masked top-10 |   ({' / '.join(parts)})")
    print("|---|---|---:|---:|---:|---:|")
    for path in args.models:
        model = Recommender.load(path)
        scores = model._score_sequences
        row = [path.name, str(getattr(model, "repeat_score", False)), ndcg(model, plain)]

        def window_masked(sequences, histories, scores=scores, width=model.max_len):
            s = scores(sequences, histories)
            for r, seq in enumerate(sequences):
                s[r, np.asarray(seq, np.int64)[-width:]] = -np.inf
            return s

        model._score_sequences = window_masked
        row += [ndcg(model, plain), ndcg(model, masked)]
        users = [np.asarray(s) for s in model.sequences_]
        a = np.argsort(-scores(users, None), 1)[:, :10]
        b = np.argsort(-window_masked(users, None), 1)[:, :10]
        row.append(f"{int((a == b).all(1).sum())} / {len(users)}")
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
