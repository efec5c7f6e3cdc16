"""Enrichment benchmark on ML-100K: throughput, the full run, and whether the outputs help models.

    PYTHONPATH=src python bench/enrich_ml100k.py throughput --n 40       # (a) per backend, +/- constrained
    PYTHONPATH=src python bench/enrich_ml100k.py full --store runs/enrich-ml100k.db   # (b) 1,682 items (2 workers x
                                                                                      # 1 thread), then the no-op re-run
    PYTHONPATH=src python bench/enrich_ml100k.py negatives --store runs/enrich-ml100k.db  # hard negatives (train)
    PYTHONPATH=src python bench/enrich_ml100k.py profiles --store runs/profiles-train.db   # taste profiles (train)
    PYTHONPATH=src python bench/enrich_ml100k.py payoff --store runs/enrich-ml100k.db     # (c) simple consumers
    PYTHONPATH=src python bench/enrich_ml100k.py two-tower --store runs/enrich-ml100k.db  # (c) two-tower

Each part writes ``bench/results/enrichment-<part>.json``; the figures are summarised by hand in
``bench/results/enrichment.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
ML100K = "/work/shared/datasets/ml-100k"
GENERAL = "/work/shared/protocol/ml-100k/general"


def _save(part: str, payload: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"enrichment-{part}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=float))
    print(json.dumps(payload, indent=2, default=float))
    print(f"wrote {path}")


def throughput(args: argparse.Namespace) -> None:
    from recstrata.data.registry import load_dataset
    from recstrata.enrichment import EnrichmentStore, ItemAttributesJob, run_job
    from recstrata.llm.registry import get_backend

    from recstrata.llm.settings import LLMSettings

    ds = load_dataset(ML100K)
    rows = []
    for name in args.backends.split(","):
        backend = get_backend(name, LLMSettings(n_threads=args.threads))
        for constrained in (True, False):
            with tempfile.TemporaryDirectory() as tmp, EnrichmentStore(Path(tmp) / "s.db") as store:
                r = run_job(ItemAttributesJob(), ds, backend, store, limit=args.n, constrained=constrained,
                            progress=False)
            calls = max(r.calls, 1)
            rows.append({
                "backend": name, "model": r.model, "constrained": constrained, "items": r.calls,
                "items_per_s": r.calls / r.wall_seconds, "s_per_item": r.wall_seconds / calls,
                "tokens_in_per_item": r.tokens_in / calls, "tokens_out_per_item": r.tokens_out / calls,
                "tokens_in_per_s": r.tokens_in / r.wall_seconds, "tokens_out_per_s": r.tokens_out / r.wall_seconds,
                "schema_valid_share": r.stored / calls, "failures": dict(r.reasons), "threads": args.threads,
            })
            print(rows[-1], flush=True)
        close = getattr(backend, "close", None)
        if close:
            close()
    _save("throughput", {"n_items": args.n, "rows": rows})


def _cli(*argv: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from recstrata.cli import main; main()", *argv], check=True, env=env)
    return time.perf_counter() - t


def full(args: argparse.Namespace) -> None:
    base = ("enrich", "items", "--dataset", ML100K, "--backend", args.backend, "--store", args.store,
            "--workers", str(args.workers), "--threads", str(args.threads))
    first = _cli(*base)
    second = _cli(*base)
    from recstrata.enrichment import EnrichmentStore

    with EnrichmentStore(args.store) as store:
        usage = store.usage("items")
        failures = store.failures("items")
    _save("full", {"backend": args.backend, "first_run_s": first, "noop_rerun_s": second, "usage": usage,
                   "failures_logged": len(failures),
                   "failure_reasons": {r: sum(1 for _, x, _ in failures if x == r) for _, r, _ in failures}})


def negatives(args: argparse.Namespace) -> None:
    from recstrata.data.registry import load_dataset
    from recstrata.data.split import split_from_files
    from recstrata.enrichment import HardNegativeJob
    from recstrata.llm.registry import get_backend

    from recstrata.llm.settings import LLMSettings

    from functools import partial

    from recstrata.enrichment.parallel import run_job_parallel

    split = split_from_files(load_dataset(ML100K), GENERAL)
    factory = partial(get_backend, args.backend, LLMSettings(n_threads=args.threads))
    r = run_job_parallel(HardNegativeJob(), split.train, factory, args.store, workers=args.workers, limit=args.limit)
    _save("negatives", r.as_dict())


def profiles(args: argparse.Namespace) -> None:
    """Taste profiles of every user from the general split's TRAIN interactions only (a profile
    written from all of ML-100K would describe the validation and test items the ranker is judged on)."""
    from functools import partial

    from recstrata.data.registry import load_dataset
    from recstrata.data.split import split_from_files
    from recstrata.enrichment import EnrichmentStore, UserProfileJob, user_genre_matrix
    from recstrata.enrichment.parallel import run_job_parallel
    from recstrata.llm.registry import get_backend
    from recstrata.llm.settings import LLMSettings

    split = split_from_files(load_dataset(ML100K), GENERAL)
    factory = partial(get_backend, args.backend, LLMSettings(n_threads=args.threads))
    start = time.perf_counter()
    r = run_job_parallel(UserProfileJob(), split.train, factory, args.store, workers=args.workers, limit=args.limit)
    with EnrichmentStore(args.store) as store:
        m, stats = user_genre_matrix(store, split.train)
    _save("profiles", r.as_dict() | {"seconds": time.perf_counter() - start, "genre_matrix": stats,
                                     "users_with_genres": int((np.diff(m.indptr) > 0).sum())})


def _evaluate(model, split, part: str) -> dict:
    from recstrata.evaluation.protocol import evaluate

    m = evaluate(model, split, part, ks=(10, 20), beyond_accuracy=False).metrics
    return {"recall@20": m["recall@20"], "ndcg@10": m["ndcg@10"]}


def payoff(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    from enrich_consumers import Blend, NumpyBPR, TagContent

    from recstrata.data.registry import load_dataset
    from recstrata.data.split import make_split, split_from_files
    from recstrata.enrichment import EnrichmentStore, HardNegativeJob, item_tag_matrix, negative_pairs
    from recstrata.enrichment.negatives import candidate_shortlist

    ds = load_dataset(ML100K)
    genres, _ = ds.genre_matrix
    with EnrichmentStore(args.store) as store:
        tags, names = item_tag_matrix(store, ds, min_count=args.min_count)
        general = split_from_files(ds, GENERAL)
        hard_u, hard_i = negative_pairs(store, general.train, exclude=general.train.user_items)
    tagged = int((np.diff(tags.indptr) > 0).sum())
    print(f"tag matrix: {tags.shape}, {tags.nnz} entries, {tagged} items tagged, {len(names)} tags")
    feats = {"genres": genres, "llm-tags": tags, "genres+llm-tags": sp.hstack([genres, tags]).tocsr()}
    out: dict = {"tags": {"n_tags": len(names), "items_tagged": tagged, "nnz": int(tags.nnz),
                          "top": _top_tags(tags, names)}}

    # cold items: only content can score them
    cold = make_split(ds, "cold-items", seed=2020)
    out["cold_items"] = {name: {"valid": _evaluate(TagContent(f).fit(cold.train), cold, "valid"),
                                "test": _evaluate(TagContent(f).fit(cold.train), cold, "test")}
                         for name, f in feats.items()}
    print(json.dumps(out["cold_items"], indent=1), flush=True)

    # warm items, RecBole general split: EASE + beta * content, beta chosen on validation
    blend = {}
    for name in ("genres", "genres+llm-tags"):
        scores = {b: _evaluate(Blend(feats[name], beta=b).fit(general.train), general, "valid")
                  for b in (0.0, 0.05, 0.1, 0.2, 0.4)}
        best = max(scores, key=lambda b: scores[b]["ndcg@10"])
        blend[name] = {"beta": best, "valid": scores[best],
                       "test": _evaluate(Blend(feats[name], beta=best).fit(general.train), general, "test")}
    out["general_blend"] = blend
    print(json.dumps(blend, indent=1), flush=True)

    # hard negatives for BPR: uniform vs + LLM picks vs + random picks from the same shortlist
    control_u, control_i = _shortlist_control(general.train, hard_u, candidate_shortlist, HardNegativeJob())
    variants = {"uniform": None, "llm-hard": (hard_u, hard_i), "shortlist-random": (control_u, control_i)}
    bpr: dict = {"pairs": {"llm": len(hard_u), "control": len(control_u)}}
    for name, hard in variants.items():
        runs = [_evaluate(NumpyBPR(epochs=30, hard=hard, hard_share=args.hard_share if hard else 0.0, seed=s)
                          .fit(general.train), general, "test") for s in range(args.seeds)]
        bpr[name] = {m: (float(np.mean([r[m] for r in runs])), float(np.std([r[m] for r in runs])))
                     for m in runs[0]}
        print(name, bpr[name], flush=True)
    out["general_bpr_negatives"] = bpr
    out["hard_share"], out["seeds"] = args.hard_share, args.seeds
    _save("payoff", out)


def two_tower(args: argparse.Namespace) -> None:
    """TwoTower (neural branch) with / without LLM tags and LLM hard negatives, cold-items + general."""
    from recstrata.data.registry import load_dataset
    from recstrata.data.split import make_split, split_from_files
    from recstrata.enrichment import EnrichmentStore, item_tag_matrix, negative_pairs
    from recstrata.retrieval.two_tower import TwoTower

    ds = load_dataset(ML100K)
    general = split_from_files(ds, GENERAL)
    cold = make_split(ds, "cold-items", seed=2020)
    with EnrichmentStore(args.store) as store:
        tags, names = item_tag_matrix(store, ds, min_count=args.min_count)
        hard_u, hard_i = negative_pairs(store, general.train, exclude=general.train.user_items)
    cache = str(ROOT / "runs" / "emb")
    out: dict = {"epochs": args.epochs, "n_tags": len(names), "tagged_items": int((np.diff(tags.indptr) > 0).sum()),
                 "hard_pairs": len(hard_u)}
    for split_name, split in (("cold-items", cold), ("general", general)):
        if split_name not in args.splits.split(","):
            continue
        keep = np.ones(len(hard_u), bool)
        if split_name == "cold-items":  # negatives were picked on the general split: drop pairs on held-out
            held = np.concatenate([split.valid_candidates, split.test_candidates])  # items and train positives
            keep = ~np.isin(hard_i, held) & (np.asarray(split.train.user_items[hard_u, hard_i]).ravel() == 0)
        pairs = np.stack([hard_u[keep], hard_i[keep]], axis=1)
        variants = {"base": {}, "+llm-tags": {"item_features": {"llm_tags": tags}},
                    "+llm-negatives": {"hard_negatives": pairs},
                    "+both": {"item_features": {"llm_tags": tags}, "hard_negatives": pairs}}
        res = {}
        for name, kw in variants.items():
            if ("hard_negatives" in kw and not len(pairs)) or name not in args.variants.split(","):
                continue
            t = time.perf_counter()
            model = TwoTower(epochs=args.epochs, embedding_cache=cache, threads=1).fit(split.train, **kw)
            res[name] = {"valid": _evaluate(model, split, "valid"), "test": _evaluate(model, split, "test"),
                         "fit_s": time.perf_counter() - t}
            print(split_name, name, res[name], flush=True)
            out[split_name] = res
            _save("two-tower", out)  # after every fit: a cut-off run keeps what it measured
    _save("two-tower", out)


def _shortlist_control(train, hard_u, shortlist_fn, job) -> tuple[np.ndarray, np.ndarray]:
    """For every user with LLM negatives, as many items drawn at random from the same shortlist."""
    rng = np.random.default_rng(0)
    genre_m, _ = train.genre_matrix
    by_pop = np.argsort(-train.item_counts, kind="stable")
    seen = train.user_items
    us, its = [], []
    users, counts = np.unique(hard_u, return_counts=True)
    for u, c in zip(users, counts):
        hist = seen.indices[seen.indptr[u] : seen.indptr[u + 1]]
        cands = shortlist_fn(genre_m, by_pop, hist, job.top_genres, job.shortlist)
        for i in rng.choice(cands, size=min(c, len(cands)), replace=False):
            us.append(u)
            its.append(i)
    return np.asarray(us, np.int32), np.asarray(its, np.int32)


def _top_tags(tags: sp.csr_matrix, names: list[str], n: int = 25) -> list[tuple[str, int]]:
    df = np.asarray(tags.sum(axis=0)).ravel()
    return [(names[j], int(df[j])) for j in np.argsort(-df)[:n]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="part", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--n", type=int, default=40)
    t.add_argument("--backends", default="smollm2,gemma3-270m")
    t.add_argument("--threads", type=int, default=1)
    for name in ("full", "negatives", "profiles", "payoff", "two-tower"):
        s = sub.add_parser(name)
        s.add_argument("--store", default=str(ROOT / "runs" / "enrich-ml100k.db"))
        s.add_argument("--backend", default="smollm2")
        s.add_argument("--limit", type=int, default=None)
        s.add_argument("--min-count", type=int, default=3)
        s.add_argument("--hard-share", type=float, default=0.2)
        s.add_argument("--seeds", type=int, default=2)
        s.add_argument("--epochs", type=int, default=40)
        s.add_argument("--threads", type=int, default=1, help="llama.cpp threads per worker")
        s.add_argument("--workers", type=int, default=2, help="worker processes (full part)")
        s.add_argument("--splits", default="cold-items,general")
        s.add_argument("--variants", default="base,+llm-tags,+llm-negatives,+both")
    args = p.parse_args()
    parts = {"throughput": throughput, "full": full, "negatives": negatives, "profiles": profiles, "payoff": payoff,
             "two-tower": two_tower}
    parts[args.part](args)


if __name__ == "__main__":
    main()
