"""Do the new sources (Mult-VAE, RecVAE, UserKNN) add to the incumbent rank fusion? VALIDATION only.

    PYTHONPATH=src python bench/vae_fusion_valid_ml100k.py

Every source is fitted on TRAIN of RecBole's ML-100K general split with its validation-tuned
parameters (``--sources-json``, written by bench/tune_sources_ml100k.py). The incumbent reciprocal
rank fusion (edlae+gfcf+als+two_tower, N=200, bench/results/ranker-linear.md), that fusion with
each new source added, and with each new source in place of each incumbent source, are scored on
validation (train items excluded). This script has no test
option: choosing a candidate and scoring it on test once is bench/fusion_select_ml100k.py's job.
Also printed: how often each source's top-10 overlaps the incumbent's (a low overlap at a similar
NDCG means differently-erring lists, what fusion feeds on).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _general import add_split_args, load_split, scorer, tuned_params  # bench/ is sys.path[0]

INCUMBENT = ("edlae", "gfcf", "als", "two_tower")
NEW = ("multvae", "recvae", "userknn")
N_PER_SOURCE = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_args(parser)
    parser.add_argument("--new", default=",".join(NEW), help="comma-separated new sources to try")
    args = parser.parse_args()

    from recstrata.ranking import Pipeline
    from recstrata.retrieval.registry import make_model

    split = load_split(args)
    tuned = tuned_params(args)
    ev = scorer(split)
    new = [n for n in args.new.split(",") if n]
    users = np.flatnonzero(np.diff(split.valid.user_items.indptr) > 0)

    alone, tops = {}, {}
    print("| candidate | valid ndcg@10 | valid recall@10 | top-10 overlap with incumbent | seconds |")
    print("|---|---:|---:|---:|---:|")

    def row(label: str, model, seconds: float, overlap: str = "") -> None:
        m = ev(model, "valid").metrics
        print(f"| {label} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {overlap} | {seconds:.0f} |", flush=True)

    for name in INCUMBENT + tuple(new):
        start = time.perf_counter()
        alone[name] = make_model(name, **tuned[name]).fit(split.train)
        tops[name] = alone[name].recommend(users, k=10)[0]
        seconds = time.perf_counter() - start
        if name in new:
            row(f"{name} alone {tuned[name]}", alone[name], seconds)
    start = time.perf_counter()
    base = Pipeline({s: alone[s] for s in INCUMBENT}, n_per_source=N_PER_SOURCE, vector_source="als").fit(
        split.train, fit_sources=False)
    base_top = base.recommend(users, k=10)[0]
    row(f"RRF {'+'.join(INCUMBENT)} (incumbent)", base, time.perf_counter() - start)
    for name in INCUMBENT + tuple(new):
        shared = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(tops[name], base_top, strict=True)])
        print(f"| ({name} top-10 overlap) | | | {shared:.3f} | |")
    added = [INCUMBENT + (n,) for n in new] + ([INCUMBENT + tuple(new)] if len(new) > 1 else [])
    swapped = [tuple(n if s == old else s for s in INCUMBENT) for n in new for old in INCUMBENT]
    for sources in added + swapped:
        start = time.perf_counter()
        vector = "als" if "als" in sources else "two_tower"  # the pipeline's vector source for its features
        rrf = Pipeline({s: alone[s] for s in sources}, n_per_source=N_PER_SOURCE, vector_source=vector).fit(
            split.train, fit_sources=False)
        row(f"RRF {'+'.join(sources)}", rrf, time.perf_counter() - start)


if __name__ == "__main__":
    main()
