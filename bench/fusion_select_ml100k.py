"""Selecting among sources, equal-weight rank fusions and validation-tuned fusions, on VALIDATION only.

    PYTHONPATH=src python bench/fusion_select_ml100k.py [--sources ease,als,...] [--test] [--out f.json]

Every source is fitted on TRAIN of RecBole's ML-100K general split with the hyper-parameters that
bench/tune_sources_ml100k.py chose on validation (``--sources-json``). Candidates, declared before
the run (``--sources``, ``--fusions``):

- each source alone;
- reciprocal rank fusion (RRF) of each listed source set with equal weights and k = 60;
- the same sets (or those of ``--tuned``) with weights (0 / 0.5 / 1 per source) and k (10 / 30 / 60) chosen on validation by
  ``Pipeline.fit_fusion``; such a candidate is compared by its *out-of-fold* validation NDCG@10
  (5 folds of users, each scored with the setting chosen on the other four), since its in-sample
  figure is the best of ~2,000 noisy settings.

Sources and variants are compared by their plain validation figure although their own parameters
were chosen on the same validation (grids of 4-48 points): a milder version of the optimism the
out-of-fold figure removes from tuned fusions. The highest validation figure is selected (ties keep the earlier, simpler candidate). With
``--test`` that one candidate, and only it, is scored on test (sources fit on train only; train +
valid items excluded) — for a tuned fusion, with the weights chosen on every validation user.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from _general import (  # bench/ is sys.path[0] when a driver runs
    add_selection_args, add_split_args, finish_selection, load_split, scorer, tuned_params)

N_PER_SOURCE = 200  # as in the earlier rounds (bench/results/ranker-folds.md, ranker-linear.md)
WEIGHTS, KS, FOLDS = (0.0, 0.5, 1.0), (10.0, 30.0, 60.0), 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_args(parser)
    parser.add_argument("--sources", default="ease,als,two_tower,edlae,gfcf",
                        help="comma-separated sources (each also a candidate alone)")
    parser.add_argument("--fusions", default="edlae+gfcf+als+two_tower",
                        help="comma-separated fusion sets, sources joined by '+' ('all' = every source)")
    parser.add_argument("--tuned", default=None,
                        help="fusion sets (same syntax) whose weights are also tuned; default: every --fusions set; 'none': no tuned fusion")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=MODEL:JSON",
                        help="a source NAME that is MODEL with its tuned parameters updated by JSON "
                             "(e.g. two_tower3=two_tower:{\"ensemble\":3}); repeatable")
    add_selection_args(parser)
    args = parser.parse_args()

    from recstrata.ranking import Pipeline
    from recstrata.retrieval.registry import make_model

    split = load_split(args)
    tuned = tuned_params(args)
    ev = scorer(split)
    variants = {}
    for spec in args.variant:
        name, _, rest = spec.partition("=")
        model, _, extra = rest.partition(":")
        variants[name] = (model, tuned[model] | json.loads(extra or "{}"))
    sources = args.sources.split(",")
    def sets(spec: str) -> list[tuple[str, ...]]:
        return [tuple(sources) if f == "all" else tuple(f.split("+")) for f in spec.split(",")]

    fusions = sets(args.fusions)
    tuned_sets = fusions if args.tuned is None else [] if args.tuned == "none" else sets(args.tuned)

    print(f"## Sources, rank fusion and tuned fusion, ML-100K general split ({platform.node()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')})\n")
    print("| candidate | valid ndcg@10 (compared) | in-sample | seconds |\n|---|---:|---:|---:|")
    trials, best = [], None

    def record(label: str, model, compared: float, in_sample: float | None, seconds: float, **extra) -> None:
        nonlocal best
        shown = "-" if in_sample is None else f"{in_sample:.4f}"
        print(f"| {label} | {compared:.4f} | {shown} | {seconds:.0f} |", flush=True)
        trials.append({"candidate": label, "valid_ndcg@10": compared, "in_sample_ndcg@10": in_sample, **extra})
        if best is None or compared > best[0]:
            best = (compared, label, model)

    alone = {}
    for name in sources:
        model, params = variants[name] if name in variants else (name, tuned[name])
        start = time.perf_counter()
        alone[name] = make_model(model, **params).fit(split.train)
        record(f"{name} alone {params}", alone[name], ev(alone[name], "valid").metrics["ndcg@10"], None,
               time.perf_counter() - start)
    for group in fusions:
        start = time.perf_counter()
        rrf = Pipeline({s: alone[s] for s in group}, n_per_source=N_PER_SOURCE).fit(split.train, fit_sources=False)
        record(f"RRF {'+'.join(group)}, N={N_PER_SOURCE}, equal weights, k=60", rrf,
               ev(rrf, "valid").metrics["ndcg@10"], None, time.perf_counter() - start)
    for group in tuned_sets:
        start = time.perf_counter()
        pipe = Pipeline({s: alone[s] for s in group}, n_per_source=N_PER_SOURCE).fit(split.train, fit_sources=False)
        pipe.fit_fusion(split.valid, weights=WEIGHTS, ks=KS, folds=FOLDS)
        r = pipe.fusion_report_
        record(f"tuned fusion {'+'.join(group)}, N={N_PER_SOURCE} (chosen: {r.weights}, k={r.k:g})", pipe,
               r.cv_ndcg, r.ndcg, time.perf_counter() - start, settings=r.n_settings,
               fold_choices=[[w, k] for w, k in r.fold_choices])

    finish_selection(args, ev, trials, best, split)


if __name__ == "__main__":
    main()
