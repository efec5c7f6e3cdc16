"""Run the items job over ML-100K with SmolLM2 directly (thread count given), report as JSON.

    PYTHONPATH=src python bench/_run_items.py --threads 1 --store runs/enrich-ml100k.db
"""

from __future__ import annotations

import argparse
import json
import time

from recstrata.data.registry import load_dataset
from recstrata.enrichment import EnrichmentStore, ItemAttributesJob, run_job
from recstrata.llm.gguf import locate_smollm2
from recstrata.llm.llamacpp import LlamaCppBackend

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--store", default="runs/enrich-ml100k.db")
p.add_argument("--limit", type=int, default=None)
args = p.parse_args()
t0 = time.perf_counter()
ds = load_dataset("/work/shared/datasets/ml-100k")
backend = LlamaCppBackend(locate_smollm2(), n_threads=args.threads)
with EnrichmentStore(args.store) as store:
    report = run_job(ItemAttributesJob(), ds, backend, store, limit=args.limit)
out = report.as_dict() | {"threads": args.threads, "total_s": time.perf_counter() - t0}
print(json.dumps(out, default=float))
