"""Set-up shared by the bench drivers on RecBole's ML-100K general split: arguments, the split, the
validation-tuned source parameters (``bench/results/ranker_sources.json``) and an @10 scorer."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def add_split_args(parser: argparse.ArgumentParser, *, sources: bool = True) -> None:
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared/datasets/ml-100k"))
    parser.add_argument("--split-dir", default=str(ROOT.parent / "shared/protocol/ml-100k/general"))
    if sources:
        parser.add_argument("--sources-json", default=str(ROOT / "bench/results/ranker_sources.json"))


def load_split(args: argparse.Namespace):
    from recstrata.data.registry import load_dataset
    from recstrata.data.split import split_from_files

    return split_from_files(load_dataset(args.dataset), args.split_dir)


def tuned_params(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Each source's validation-chosen parameters (written by bench/tune_sources_ml100k.py)."""
    return {k: v["best"] for k, v in json.loads(Path(args.sources_json).read_text()).items()}


def scorer(split) -> Callable[[Any, str], Any]:
    """``ev(model, part)``: full-ranking @10 accuracy on ``part`` ("valid" or "test")."""
    from recstrata.evaluation import evaluate

    return lambda model, part: evaluate(model, split, part, ks=[10], beyond_accuracy=False, group_by=[])


METRICS = ("ndcg@10", "recall@10", "mrr@10", "hit@10", "precision@10")


def add_selection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--test", action="store_true",
                        help="score the selected candidate on test (once, after selection is final)")
    parser.add_argument("--out", default=None, help="also write the selection as JSON here")


#: RecBole 1.2.1's best model on this split: EASE with its default reg_weight 250 on binary
#: interactions; the project's evaluator reproduces its test NDCG@10 (0.3295) exactly
RECBOLE_BEST = ("ease", {"reg": 250.0})


def finish_selection(args: argparse.Namespace, ev, trials: list[dict], best: tuple[float, str, Any], split=None):
    """Print the selected candidate; with ``--test`` score it (and only it) on test, with its 95%
    bootstrap interval over users and (given ``split``) the paired difference from RecBole's best
    model refitted here; with ``--out`` write every trial and the selection as JSON. Returns the
    test metrics (None without --test). The interval and the comparison describe the selected
    candidate's one test figure: they play no part in the selection."""
    from recstrata.evaluation.stats import compare

    valid, label, model = best
    print(f"\n**selected** {label}: valid ndcg@10 {valid:.4f}")
    test = uncertainty = None
    if args.test:
        result = ev(model, "test")
        test = result.metrics
        print("TEST (sources fit on train only; train + valid items excluded): "
              + ", ".join(f"{m} {test[m]:.4f}" for m in METRICS))
        low, high = result.interval("ndcg@10")
        uncertainty = {"ndcg@10_interval": [low, high]}
        print(f"  test ndcg@10 95% interval over users: {low:.4f}-{high:.4f}")
        if split is not None:
            from recstrata.retrieval.registry import make_model

            name, params = RECBOLE_BEST
            reference = ev(make_model(name, **params).fit(split.train), "test")
            c = compare(result, reference, "ndcg@10")
            uncertainty["vs_recbole_best"] = {"model": f"{name} {params}", **c.to_dict()}
            print(f"  paired vs RecBole's best ({name} {params}, test {c.mean_b:.4f}): {c.difference:+.4f} "
                  f"(95% interval {c.low:+.4f} to {c.high:+.4f}; t-test p {c.p_value:.2g}, "
                  f"Wilcoxon p {c.p_wilcoxon:.2g})")
    if args.out:
        Path(args.out).write_text(json.dumps({"trials": trials, "selected": {
            "candidate": label, "valid_ndcg@10": valid, "test": test and {m: test[m] for m in METRICS},
            "uncertainty": uncertainty}}, indent=2))
    return test
