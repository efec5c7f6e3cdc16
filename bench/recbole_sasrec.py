"""RecBole 1.2.1's own SASRec on ML-100K, defaults, trained to its own early stop (reference run).

Not part of recstrata: it measures the reference implementation the SASRec target of issue #3 was
set from. RecBole needs its own virtualenv (it pins old numpy / setuptools behaviour)::

    python3 -m venv /work/rbvenv
    /work/rbvenv/bin/pip install torch==2.13.0 recbole==1.2.1 "numpy<2" "pandas<2.3" "setuptools<81"
    /work/rbvenv/bin/python bench/recbole_sasrec.py THREADS EPOCHS [DATA_PATH]

DATA_PATH is the folder holding ``ml-100k/`` as RecBole atomic files (default ../shared/datasets).
Prints one ``RESULT {json}`` line: best validation result, test result of the best checkpoint,
fit seconds. Per-epoch times and validation scores are in RecBole's log (``log/``).
"""

import functools
import json
import sys
import time
from pathlib import Path

import torch

# RecBole reloads the checkpoint it wrote itself; torch >= 2.6 refuses that pickle by default.
torch.load = functools.partial(torch.load, weights_only=False)

from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.utils import get_model, get_trainer, init_logger, init_seed  # noqa: E402


def main() -> None:
    threads, epochs = int(sys.argv[1]), int(sys.argv[2])
    default_data = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    data_path = sys.argv[3] if len(sys.argv) > 3 else str(default_data)
    cfg = {
        "data_path": data_path,
        "train_neg_sample_args": None,  # cross-entropy, as in recbole_scores.json
        "epochs": epochs,
        "seed": 2020,
        "reproducibility": True,
        "device": "cpu",
        "use_gpu": False,
        "checkpoint_dir": "saved_recbole",
        "show_progress": False,
        "worker": 0,
    }
    config = Config(model="SASRec", dataset="ml-100k", config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    torch.set_num_threads(threads)
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    model = get_model(config["model"])(config, train.dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    start = time.time()
    best_valid, best_result = trainer.fit(train, valid, saved=True, show_progress=False)
    fit_s = time.time() - start
    test_result = trainer.evaluate(test, load_best_model=True, show_progress=False)
    out = {"best_valid": best_valid, "valid": dict(best_result), "test": dict(test_result),
           "fit_s": fit_s, "epochs": epochs, "threads": threads}
    print("RESULT", json.dumps(out, default=float))


if __name__ == "__main__":
    main()
