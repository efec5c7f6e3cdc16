"""Recall@10 of the served ANN path vs exact search on the 1M-item synthetic serving catalog.

    .venv/bin/python bench/ann_recall_synthetic.py [--kinds ivf,ivf:nprobe=128,hnsw]

Same catalog as ``bench/serve_load.py --synthetic 1000000`` (ALS, 64 factors); 1,000 users; seen
items excluded; the truth is the ALS model's dense top-10. Each kind is measured through
``VectorRetriever`` (which makes vectors equal-norm for partition/graph kinds) and, for contrast,
as a bare index over the raw ALS vectors. HNSW and the flat kinds get no augmentation.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from serve_load import synthetic_dataset  # noqa: E402

from recstrata.retrieval.als import ALS  # noqa: E402
from recstrata.retrieval.ann import make_index, recall_of  # noqa: E402
from recstrata.retrieval.vector import VectorRetriever  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="ivf,ivf:nprobe=128")
    ap.add_argument("--n", type=int, default=1_000_000)
    args = ap.parse_args()
    ds = synthetic_dataset(args.n, 0)
    als = ALS(factors=64, iterations=15).fit(ds)
    users = np.random.default_rng(0).choice(ds.n_users, 1000, replace=False)
    want, _ = als.recommend(users, k=10)
    seen = ds.user_items[users]
    excl = [seen.indices[seen.indptr[i]:seen.indptr[i + 1]] for i in range(len(users))]
    q = np.ascontiguousarray(als.query_vectors(users), dtype=np.float32)
    items = np.ascontiguousarray(als.item_vectors(), dtype=np.float32)
    print("| kind | recall@10, bare index over raw ALS vectors | recall@10, VectorRetriever (equal-norm for ivf kinds) | ms per query |")
    print("|---|---:|---:|---:|")
    for spec in args.kinds.split(","):
        raw, _ = make_index(spec).build(items).search(q, 10, exclude=excl)
        served = VectorRetriever.wrap(als, index=spec)
        t = time.perf_counter()
        got = np.concatenate([served.recommend([u], k=10)[0] for u in users])
        ms = (time.perf_counter() - t) * 1000 / len(users)
        print(f"| {spec} | {recall_of(raw, want).mean():.4f} | {recall_of(got, want).mean():.4f} | {ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
