"""Recall@10 of IVF vs exact search on the 1M-item synthetic serving catalog (ALS 64 factors, seen items excluded).

    .venv/bin/python bench/ann_recall_synthetic.py
"""
import sys, time
import numpy as np
sys.path.insert(0, "bench"); sys.path.insert(0, "src")
from serve_load import synthetic_dataset
from recstrata.retrieval.als import ALS
from recstrata.retrieval.ann import make_index
ds = synthetic_dataset(1_000_000, 0)
als = ALS(factors=64, iterations=15).fit(ds)
items = als.item_vectors().astype(np.float32)
users = np.random.default_rng(0).choice(ds.n_users, 1000, replace=False)
q = als.query_vectors(users=users).astype(np.float32)
seen = ds.user_items[users]
excl = [seen.indices[seen.indptr[i]:seen.indptr[i+1]] for i in range(len(users))]
exact = make_index("exact").build(items)
want, _ = exact.search(q, 10, exclude=excl)
for spec in ("ivf", "ivf:nprobe=128"):
    name, _, params = spec.partition(":")
    kw = {k: int(v) for k, v in (p.split("=") for p in params.split(",") if p)}
    idx = make_index(name, **kw).build(items)
    got, _ = idx.search(q, 10, exclude=excl)
    rec = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got.tolist(), want.tolist())])
    print(f"{spec}: recall@10 vs exact {rec:.4f}", flush=True)
