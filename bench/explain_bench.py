"""Explanations with the real local LLM, and the fault drill with failing backends.

    python bench/explain_bench.py --dataset ../shared/datasets/ml-100k [--users 40]

Part 1 (SmolLM2 via llama.cpp): for N users, explain their top-3 items with the server's
explainer (1.5 s deadline per request): p50/p95 latency uncached and cached, share of items
explained by the LLM (accepted by the output contract), share that fell back to the template.
Part 2 (fault drill, in-process API): LLM down / 5 s stall / garbage JSON / invented titles:
share of 200s, share flagged degraded, and recommendation p99 against the healthy run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def pct(xs, q):
    return float(np.percentile(xs, q)) if xs else float("nan")


def llm_part(ds, users: int) -> None:
    from recstrata.llm.registry import get_backend
    from recstrata.personalization.explain import Explainer
    from recstrata.retrieval.registry import make_model

    model = make_model("als").fit(ds)
    explainer = Explainer(ds, get_backend("smollm2"))
    explainer.backend.generate("warm up", max_tokens=4)
    lat = {"uncached": [], "cached": []}
    sources: dict[str, int] = {}
    reasons: dict[str, int] = {}
    filled = 0
    for rep, label in ((0, "uncached"), (1, "cached")):
        if rep == 1:  # what the first pass answered with a template is explained in the background meanwhile
            explainer.fill.join(timeout=300)
            filled = explainer.fill.filled
        for u in range(users):
            hist = ds.histories([u])[0].tolist()
            ids, _ = model.recommend(users=[u], k=3)
            start = time.perf_counter()
            out, _ = explainer.explain(model, str(u), hist, ids[0].tolist(), deadline_s=1.5)
            lat[label].append((time.perf_counter() - start) * 1000)
            if rep == 0:
                for e in out:
                    sources[e.source] = sources.get(e.source, 0) + 1
                    if e.rejected:
                        key = e.rejected.split(":")[0] if "deadline" not in e.rejected else "deadline"
                        reasons[key] = reasons.get(key, 0) + 1
    n = sum(sources.values())
    print(f"## Explanations with SmolLM2-135M (llama.cpp, 2 threads), {users} users x top-3, deadline 1.5 s\n")
    print("| requests | p50 ms | p95 ms |\n|---|---:|---:|")
    for label, xs in lat.items():
        print(f"| {label} | {pct(xs, 50):.0f} | {pct(xs, 95):.0f} |")
    print(f"\nfirst pass, {n} items: LLM sentence accepted by the contract {sources.get('llm', 0) / n:.0%}, "
          f"template fallback {sources.get('template', 0) / n:.0%}; fallback reasons: {reasons}")
    print(f"background fill between the passes: {filled} template answers replaced by accepted LLM sentences "
          f"({explainer.fill.failed} failed the contract or the LLM)")
    print(f"second pass: {explainer.cache.hits} cache hits")


def fault_part(ds, n: int) -> None:
    from fastapi.testclient import TestClient

    from recstrata.llm.mock import MockBackend
    from recstrata.serving.app import create_app
    from recstrata.serving.settings import ServingSettings
    from recstrata.serving.state import build_state

    def echo(request) -> str:
        """A healthy stand-in: verbalises the first fact it is given, like a good model would."""
        facts = json.loads(request.messages[-1].content.removeprefix("<facts>").removesuffix("</facts>"))
        named = (facts["because"] or facts["genres"] or [facts["movie"]])[0]
        return json.dumps({"sentence": f"Since you enjoyed {named}, this one should suit you too."})

    good = json.dumps({"sentence": "Because you watched Star Wars, this adventure should suit you."})
    scenarios = {
        "healthy": lambda: MockBackend(default=echo),
        "down": lambda: MockBackend(default=None),
        "stall 5 s": lambda: MockBackend(default=good, latency=5.0),
        "garbage JSON": lambda: MockBackend(default="{{{ not json"),
        "invented titles": lambda: MockBackend(default=json.dumps(
            {"sentence": "You will love Titanic and Casablanca, both classics like this one."})),
    }
    print(f"\n## Fault drill (in-process API, mock LLM at the interface, {n} explanation requests each)\n")
    print("| scenario | explanation 200s | degraded | rec p50 ms | rec p99 ms | p99 vs healthy |")
    print("|---|---:|---:|---:|---:|---:|")
    base_p99 = None
    work = Path(tempfile.mkdtemp())
    for name, make in scenarios.items():
        settings = ServingSettings(dataset="unused", model="als", runs_dir=work / "runs",
                                   state_dir=work / name.replace(" ", "_"), explanation_deadline_s=0.5,
                                   breaker_failures=3, breaker_cooldown_s=2.0)
        state = build_state(settings, dataset=ds, backend=make())
        ok = degraded = 0
        rec_ms = []
        with TestClient(create_app(settings, state=state)) as client:
            for i in range(n):
                u = str(1 + i % 900)
                t = time.perf_counter()
                r = client.get(f"/v1/users/{u}/recommendations", params={"k": 10})
                rec_ms.append((time.perf_counter() - t) * 1000)
                items = [it["id"] for it in r.json()["items"][:3]]
                e = client.post("/v1/explanations", json={"user_id": u, "item_ids": items})
                ok += e.status_code == 200
                degraded += e.status_code == 200 and e.json()["degraded"]
        p99 = pct(rec_ms, 99)
        base_p99 = base_p99 or p99
        print(f"| {name} | {ok / n:.0%} | {degraded / n:.0%} | {pct(rec_ms, 50):.2f} | {p99:.2f} | "
              f"{p99 / base_p99:.2f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared/datasets/ml-100k"))
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--fault-requests", type=int, default=60)
    args = ap.parse_args()
    from recstrata.data.registry import load_dataset

    ds = load_dataset(args.dataset)
    llm_part(ds, args.users)
    fault_part(ds, args.fault_requests)


if __name__ == "__main__":
    main()
