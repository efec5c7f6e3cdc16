"""Blended retrieve -> merge -> rank pipeline on RecBole's ML-100K general split, and ranking latency.

    PYTHONPATH=src python bench/ranker_ml100k.py [--sources-json bench/results/ranker_sources.json]
    PYTHONPATH=src python bench/ranker_ml100k.py --configs 6 --tags-store runs/enrich-ml100k.db \
        --profiles-store runs/profiles-train.db      # the LLM-feature switches, chosen on validation

1. Every source with its validation-tuned hyper-parameters (bench/tune_sources_ml100k.py), fitted
   on train: valid and test metrics @10.
2. Pipeline configurations (sources, N per source, ranker parameters), each ranker trained on
   validation labels with 5-fold cross-fitting over validation users; the configuration with the
   best OUT-OF-FOLD validation NDCG@10 is selected. Test is only scored, never used to choose.
3. The selected pipeline on test: (a) comparable to RecBole: sources fitted on train only, test
   ranks exclude train + valid; (b) sources refitted on train + valid (ranker kept).
4. Ranking latency for one request of ~1000 merged candidates: features and predict timed
   separately, p50 / p99 over many requests (1 thread for predict).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from _general import add_split_args, load_split, tuned_params, scorer  # bench/ is sys.path[0] when a driver runs

METRICS = ("ndcg@10", "recall@10", "mrr@10", "hit@10", "precision@10")
TREES = dict(num_leaves=15, learning_rate=0.02, min_data_in_leaf=200)
CONFIGS = [  # (sources, N per source, ranker parameters); vectors from ALS
    (("ease", "als", "itemknn", "pop"), 300, TREES),
    (("ease", "als", "itemknn", "pop"), 100, TREES),
    (("ease", "als", "itemknn", "pop", "bpr"), 300, TREES),
    (("ease", "als"), 200, TREES),
    (("ease", "ease_r100", "als", "als_f32", "itemknn", "pop"), 200, TREES),
    (("ease", "als", "two_tower", "itemknn", "pop"), 300, TREES),
    (("ease", "als", "two_tower"), 200, TREES),
]
#: extra sources for diversity: other points of the validation grid (bench/tune_sources_ml100k.py)
VARIANTS = {"ease_r100": ("ease", {"reg": 100.0}),
            "als_f32": ("als", {"factors": 32, "regularization": 5.0, "alpha": 1.0})}


def metrics_of(result) -> dict[str, float]:
    return {m: result.metrics[m] for m in METRICS}


def row(label: str, valid: dict | None, test: dict | None, note: str = "") -> str:
    cells = [f"{valid['ndcg@10']:.4f}" if valid else "-"]
    cells += [f"{test[m]:.4f}" if test else "-" for m in METRICS]
    return f"| {label} | " + " | ".join(cells) + f" | {note} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_args(parser)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--save", default=None, help="save the selected pipeline (train-fitted) here")
    parser.add_argument("--configs", default=None, help="comma-separated indices into CONFIGS (default: all)")
    parser.add_argument("--tags-store", default=None,
                        help="enrichment store with LLM item tags: every configuration also runs with the "
                             "ranker's tag feature (cosine of the user's tag profile with the item's tags)")
    parser.add_argument("--min-tag-count", type=int, default=3, help="tags used by fewer items are dropped")
    parser.add_argument("--profiles-store", default=None,
                        help="enrichment store with LLM taste profiles written from the TRAIN split "
                             "(bench/enrich_ml100k.py profiles): every configuration also runs with the "
                             "stated-genre feature")
    args = parser.parse_args()

    from recstrata.data.dataset import Interactions
    from recstrata.evaluation.metrics import accuracy
    from recstrata.ranking import LambdaRanker, Pipeline
    from recstrata.retrieval.registry import make_model

    split = load_split(args)
    tuned = tuned_params(args)
    ev = scorer(split)

    print(f"## Blended pipeline on RecBole's ML-100K general split ({platform.node()}, {time.strftime('%Y-%m-%d')})\n")
    print("| model | valid ndcg@10 | " + " | ".join(f"test {m}" for m in METRICS) + " | notes |")
    print("|---|" + "---:|" * (len(METRICS) + 1) + "---|")
    fitted = {}
    for name, params in tuned.items():
        fitted[name] = make_model(name, **params).fit(split.train)
        print(row(f"{name} alone ({params})", metrics_of(ev(fitted[name], "valid")),
                  metrics_of(ev(fitted[name], "test")), "fit on train"), flush=True)

    chosen = [CONFIGS[int(i)] for i in args.configs.split(",")] if args.configs else CONFIGS
    options: list = [(None, None)]  # (item tags, user stated genres)
    if args.tags_store or args.profiles_store:
        from recstrata.enrichment import EnrichmentStore, item_tag_matrix, user_genre_matrix
    if args.tags_store:
        with EnrichmentStore(args.tags_store) as store:
            tag_matrix, tag_names = item_tag_matrix(store, split.train, min_count=args.min_tag_count)
        print(f"LLM tags: {len(tag_names)} tags, {tag_matrix.nnz} item-tag pairs\n")
        options.append((tag_matrix, None))
    if args.profiles_store:
        with EnrichmentStore(args.profiles_store) as store:
            stated, stats = user_genre_matrix(store, split.train)
        print(f"LLM taste profiles: {stats}\n")
        options.append((None, stated))
        if args.tags_store:
            options.append((tag_matrix, stated))
    best = None
    for (sources, n, params), (tags, stated_genres) in ((c, o) for c in chosen for o in options):
        start = time.perf_counter()
        for s in sources:
            if s not in fitted:
                fitted[s] = make_model(VARIANTS[s][0], **VARIANTS[s][1]).fit(split.train)
        pipe = Pipeline({s: fitted[s] for s in sources}, n_per_source=n, ranker=LambdaRanker(**params),
                        vector_source="als" if "als" in sources else None)
        pipe.fit(split.train, fit_sources=False, item_tags=tags, user_genres=stated_genres)
        rrf_valid = metrics_of(ev(pipe, "valid"))  # no ranker yet: reciprocal rank fusion
        print(row(f"RRF fusion {'+'.join(sources)}, N={n}", rrf_valid, None, "no ranker"), flush=True)
        pipe.fit_ranker(split.valid, folds=args.folds)
        truth = split.valid.user_items[pipe.ranker_valid_users_]
        oof, _ = accuracy(pipe.ranker_valid_ranked_, truth, [10], ["ndcg", "recall", "mrr", "hit", "precision"])
        oof = {m: float(v.mean()) for m, v in oof.items()}
        extras = "".join([", + LLM tag feature" if tags is not None else "",
                          ", + LLM profile genres" if stated_genres is not None else ""])
        label = f"ranker {'+'.join(sources)}, N={n}, {params}{extras}"
        print(row(label, oof, None, f"out-of-fold valid; fold iterations {pipe.ranker_fold_iterations_}; "
                  f"{time.perf_counter() - start:.0f} s"), flush=True)
        if best is None or oof["ndcg@10"] > best[1]["ndcg@10"]:
            best = (pipe, oof, label, tags, stated_genres)

    pipe, oof, label, best_tags, best_stated = best
    strict = metrics_of(ev(pipe, "test"))
    print(row(f"**selected** {label}", oof, strict, "sources fit on train only: comparable to RecBole"))
    importance = list(pipe.ranker_.feature_importance().items())[:10]

    inter, vi = split.train.interactions, split.valid.interactions
    both = split.train.with_interactions(Interactions.from_arrays(
        np.concatenate([inter.user, vi.user]), np.concatenate([inter.item, vi.item]),
        np.concatenate([inter.weight, vi.weight]), np.concatenate([inter.timestamp, vi.timestamp])), "train+valid")
    alone_refit = {name: metrics_of(ev(make_model(name, **tuned[name]).fit(both), "test")) for name in ("ease", "als")}
    if args.save:
        pipe.save(args.save)  # the selected pipeline, sources fitted on train
    pipe.refit_sources(both, item_tags=best_tags, user_genres=best_stated)
    refit = metrics_of(ev(pipe, "test"))
    print(row("selected, sources refit on train+valid", None, refit, "NOT comparable: more training data"))
    for name, m in alone_refit.items():
        print(row(f"{name} alone refit on train+valid", None, m, "NOT comparable"))

    print("\nTop features by gain:", ", ".join(f"{k} {v:.0f}" for k, v in importance))
    latency(pipe, split, args.requests)


def latency(pipe, split, requests: int) -> None:
    """One request = one user, ~1000 merged candidates: time features and predict separately."""
    from recstrata.ranking.candidates import merge_candidates

    rng = np.random.default_rng(0)
    users = rng.integers(0, split.train.n_users, requests)
    n_src = len(pipe.sources)
    per = pipe.n_items_  # sources overlap heavily: take every eligible item, then keep the best-fused 1000
    feats, preds, total, sizes = [], [], [], []
    for u in users:
        results = [src.recommend([u], k=per) for src in pipe.sources.values()]
        cands = merge_candidates(tuple(pipe.sources), results, pipe.n_items_)
        keep = min(1000, cands.shape[1])  # trim to exactly 1000 candidates
        cands = type(cands)(cands.sources, cands.items[:, :keep], cands.scores[:, :, :keep], cands.ranks[:, :, :keep])
        t0 = time.perf_counter()
        x = pipe.features_.transform(cands, pipe.features_.user_side(users=[u]))
        t1 = time.perf_counter()
        pipe.ranker_.predict(x)
        t2 = time.perf_counter()
        feats.append(t1 - t0)
        preds.append(t2 - t1)
        total.append(t2 - t0)
        sizes.append(keep)
    ms = lambda v, q: 1000 * float(np.percentile(v, q))  # noqa: E731
    print(f"\n### Ranking latency ({requests} requests, {int(np.median(sizes))} candidates each, "
          f"{len(pipe.feature_names())} features, {pipe.ranker_.best_iteration_} trees, predict 1 thread)\n")
    print("| stage | p50 ms | p99 ms |\n|---|---:|---:|")
    for name, v in (("features (user side + pair features)", feats), ("LightGBM predict", preds),
                    ("features + predict", total)):
        print(f"| {name} | {ms(v, 50):.3f} | {ms(v, 99):.3f} |")
    t = []
    for u in users[:300]:
        t0 = time.perf_counter()
        pipe.recommend([u], k=10)
        t.append(time.perf_counter() - t0)
    print(f"| end to end recommend (retrieval from {n_src} sources over 1,682 items + merge + rank) "
          f"| {ms(t, 50):.3f} | {ms(t, 99):.3f} |")


if __name__ == "__main__":
    main()
