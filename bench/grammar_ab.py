"""A/B of llama.cpp structured decoding: lazy grammar check (default) vs the eager full-vocabulary mask.

    PYTHONPATH=src .venv/bin/python bench/grammar_ab.py [--n 60] [--threads 2] [--rounds 2]

Runs the ML-100K items job (SmolLM2, constrained, temperature 0) over the same ``--n`` items into
a fresh temporary store, alternating ``lazy_grammar=True`` / ``False``, and prints items/s and the
output token count per run. Equal token counts and equal stored outputs mean both paths chose
the same tokens; the difference is time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from recstrata.data.registry import load_dataset  # noqa: E402
from recstrata.enrichment import EnrichmentStore, ItemAttributesJob, run_job  # noqa: E402
from recstrata.llm import LlamaCppBackend  # noqa: E402
from recstrata.llm.gguf import check_model_file, locate_smollm2  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="items (from the 200th on)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    ds = load_dataset("/work/shared/datasets/ml-100k")
    path = check_model_file(locate_smollm2(), verify_sha256=False)
    job = ItemAttributesJob()
    tasks = list(job.tasks(ds))[200 : 200 + args.n]
    outputs: dict[bool, list] = {}
    for _ in range(args.rounds):
        for lazy in (True, False):
            backend = LlamaCppBackend(path, model_id="SmolLM2-135M-Instruct-Q4_1", n_threads=args.threads,
                                      lazy_grammar=lazy).load()
            with tempfile.TemporaryDirectory() as tmp, EnrichmentStore(os.path.join(tmp, "ab.db")) as store:
                start = time.perf_counter()
                run_job(job, ds, backend, store, tasks=tasks, progress=False)
                seconds = time.perf_counter() - start
                usage = store.usage("items")
                outputs[lazy] = sorted((r.subject, json.dumps(r.output, sort_keys=True)) for r in store.records("items"))
            backend.close()
            print(json.dumps({"lazy_grammar": lazy, "items": args.n, "seconds": round(seconds, 2),
                              "items_per_s": round(args.n / seconds, 3), "tokens_out": usage["tokens_out"]}),
                  flush=True)
    print(json.dumps({"identical_outputs": outputs[True] == outputs[False]}))


if __name__ == "__main__":
    main()
