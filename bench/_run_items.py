"""Run the items job over ML-100K with a registry backend and a given llama.cpp thread count (JSON report).

    PYTHONPATH=src python bench/_run_items.py --threads 1 --store runs/enrich-ml100k.db --shard 0/2 &
    PYTHONPATH=src python bench/_run_items.py --threads 1 --store runs/enrich-ml100k.db --shard 1/2

Under CPU contention (other jobs on the 2 cores) n single-thread workers sharing one store go
much faster than one n-thread llama.cpp (its threads wait for each other at every layer).
"""

from __future__ import annotations

import argparse
import json
import time

from recstrata.data.registry import load_dataset
from recstrata.enrichment import EnrichmentStore, ItemAttributesJob, run_job
from recstrata.llm.registry import get_backend
from recstrata.llm.settings import LLMSettings

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--store", default="runs/enrich-ml100k.db")
p.add_argument("--limit", type=int, default=None)
p.add_argument("--backend", default="smollm2")
p.add_argument("--priority", action="store_true", help="cold-items held-out items first, then popular")
p.add_argument("--shard", default="0/1", help="k/n: this worker does tasks k, k+n, k+2n, ...")
args = p.parse_args()
t0 = time.perf_counter()
ds = load_dataset("/work/shared/datasets/ml-100k")
backend = get_backend(args.backend, LLMSettings(n_threads=args.threads))
with EnrichmentStore(args.store) as store:
    k, n = (int(x) for x in args.shard.split("/"))
    job = ItemAttributesJob()
    tasks = list(job.tasks(ds))[: args.limit]
    if args.priority:  # the cold-items split's held-out items first, then by popularity
        from recstrata.data.split import make_split

        split = make_split(ds, "cold-items", seed=2020)
        first = set(split.valid_candidates.tolist()) | set(split.test_candidates.tolist())
        rank = {i: (i not in first, -ds.item_counts[i]) for i in range(ds.n_items)}
        index = {str(x): i for i, x in enumerate(ds.item_ids.external)}
        tasks.sort(key=lambda t: rank[index[t.subject]])
    tasks = tasks[k::n]
    report = run_job(job, ds, backend, store, tasks=tasks)
out = report.as_dict() | {"threads": args.threads, "total_s": time.perf_counter() - t0}
print(json.dumps(out, default=float))
