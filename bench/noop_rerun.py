"""The cost of a re-run with nothing left to do: fill a store for all ML-100K items with the mock
backend (same key scheme as any model), then time ``recstrata enrich items`` end to end (process
start, dataset load, key hashing, one lookup), which must make no LLM call.

    PYTHONPATH=src python bench/noop_rerun.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recstrata.data.registry import load_dataset
from recstrata.enrichment import EnrichmentStore, ItemAttributesJob, run_job
from recstrata.llm.mock import MockBackend

ROOT = Path(__file__).resolve().parents[1]
REPLY = json.dumps({"tags": ["drama"], "mood": "light", "audience": "adults", "summary": "A short summary."})

with tempfile.TemporaryDirectory() as tmp:
    db = Path(tmp) / "e.db"
    ds = load_dataset("/work/shared/datasets/ml-100k")
    t = time.perf_counter()
    with EnrichmentStore(db) as store:
        fill = run_job(ItemAttributesJob(), ds, MockBackend(REPLY), store, progress=False)
    fill_s = time.perf_counter() - t
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    cmd = [sys.executable, "-c", "from recstrata.cli import main; main()", "enrich", "items", "--dataset",
           "/work/shared/datasets/ml-100k", "--backend", "mock", "--store", str(db)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    rerun_s = time.perf_counter() - t
    with EnrichmentStore(db) as store:
        count = store.count("items")
print(json.dumps({"items_stored": fill.stored, "fill_with_mock_s": fill_s, "noop_rerun_cli_s": rerun_s,
                  "rows_after_rerun": count}, indent=1))
print(proc.stderr[-800:])
