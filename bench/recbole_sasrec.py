"""RecBole 1.2.1's own SASRec on ML-100K, defaults, trained to its own early stop (reference run).

Not part of recstrata: it measures the reference implementation the SASRec target of issue #3 was
set from. RecBole needs its own virtualenv (it pins old numpy / setuptools behaviour)::

    python3 -m venv /work/rbvenv
    /work/rbvenv/bin/pip install torch==2.13.0 recbole==1.2.1 "numpy<2" "pandas<2.3" "setuptools<81"
    /work/rbvenv/bin/python bench/recbole_sasrec.py train --threads 2 --epochs 300
    /work/rbvenv/bin/python bench/recbole_sasrec.py per-user CHECKPOINT.pth --out ranks.csv

``train`` prints one ``RESULT {json}`` line: best validation result, test result of the best
checkpoint, fit seconds; per-epoch times and validation scores are in RecBole's log (``log/``), the
checkpoint in ``--checkpoint-dir``. ``per-user`` reloads a checkpoint and writes, for every test
user (raw ids of the user and the test item), the 1-based rank RecBole's full ranking gives the test item (no masking of seen
items, padding item excluded) — what ``bench/sasrec_paired.py`` pairs with recstrata's SASRec.
``--data`` is the folder holding ``ml-100k/`` as RecBole atomic files (default ../shared/datasets).
"""

import argparse
import csv
import functools
import json
import time
from pathlib import Path

import torch

# RecBole reloads the checkpoint it wrote itself; torch >= 2.6 refuses that pickle by default.
torch.load = functools.partial(torch.load, weights_only=False)

from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.utils import get_model, get_trainer, init_logger, init_seed  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _setup(args, epochs: int = 300):
    cfg = {
        "data_path": str(args.data),
        "train_neg_sample_args": None,  # cross-entropy, as in recbole_scores.json
        "epochs": epochs,
        "seed": 2020,
        "reproducibility": True,
        "device": "cpu",
        "use_gpu": False,
        "checkpoint_dir": str(args.checkpoint_dir),
        "show_progress": False,
        "worker": 0,
    }
    config = Config(model="SASRec", dataset="ml-100k", config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    torch.set_num_threads(args.threads)
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    model = get_model(config["model"])(config, train.dataset).to(config["device"])
    return config, dataset, model, (train, valid, test)


def train(args) -> None:
    config, _, model, (train_data, valid, test) = _setup(args, args.epochs)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    start = time.time()
    best_valid, best_result = trainer.fit(train_data, valid, saved=True, show_progress=False)
    fit_s = time.time() - start
    test_result = trainer.evaluate(test, load_best_model=True, show_progress=False)
    out = {"best_valid": best_valid, "valid": dict(best_result), "test": dict(test_result),
           "fit_s": fit_s, "epochs": args.epochs, "threads": args.threads,
           "checkpoint": trainer.saved_model_file}
    print("RESULT", json.dumps(out, default=float))


@torch.no_grad()
def per_user(args) -> None:
    config, dataset, model, (_, _, test) = _setup(args)
    model.load_state_dict(torch.load(args.checkpoint, map_location="cpu")["state_dict"])
    model.eval()
    rows = []
    for interaction, _history, _pos_u, pos_i in test:
        scores = model.full_sort_predict(interaction).view(len(pos_i), -1)
        scores[:, 0] = -float("inf")  # padding item, as RecBole's evaluation does
        target = scores.gather(1, pos_i.view(-1, 1))
        # ties counted in the target's favour (RecBole orders exact ties as torch.topk does: optimistic
        # only on exact float ties, which the reproduced figures show did not occur here)
        rank = 1 + (scores > target).sum(1)
        users = dataset.id2token(config["USER_ID_FIELD"], interaction[config["USER_ID_FIELD"]].numpy())
        items = dataset.id2token(config["ITEM_ID_FIELD"], pos_i.numpy())
        rows += zip(users.tolist(), items.tolist(), rank.tolist())
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "item_id", "rank"])
        w.writerows(rows)
    print(f"wrote {len(rows)} users to {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("train", "per-user"):
        p = sub.add_parser(name)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--data", type=Path, default=DEFAULT_DATA)
        p.add_argument("--checkpoint-dir", type=Path, default=Path("saved_recbole"))
    sub.choices["train"].add_argument("--epochs", type=int, default=300)
    sub.choices["per-user"].add_argument("checkpoint", type=Path)
    sub.choices["per-user"].add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    (train if args.cmd == "train" else per_user)(args)


if __name__ == "__main__":
    main()
