"""Load test of GET /v1/users/{id}/recommendations (k=10, no LLM), only against 127.0.0.1.

    python bench/serve_load.py --dataset ../shared/datasets/ml-100k [--duration 10]
    python bench/serve_load.py --synthetic 1000000 [--index sq8] [--duration 10]

Starts the recstrata server (uvicorn, one process) and the bare anchor (FastAPI + one faiss HNSW
top-100 search, ef 128) and drives each with wrk at concurrency 1, 8 and 32 for a bounded time,
over a fixed list of user ids. The load generator shares the machine's 2 cores with the server.
wrk's percentiles include its coordinated-omission correction: with I the mean time per request on
one connection, a sample v >= 2I is also counted at v - I, v - 2I, ... down to just above I, so a
few slow requests (e.g. the first one on a connection the server was slow to accept) move p99 a lot.

``--synthetic N`` serves a generated catalog of N items (titles, genres, years) with interactions
that have real structure: users belong to latent taste clusters (popularity-skewed), each cluster
owns a slice of the catalog and a couple of genres, and items within a cluster and overall follow
power-law popularity. ALS (64 factors) is fitted, indexed (``VectorRetriever``, kind ``--index``)
and published as one ``ann`` artefact in this process (times printed); the real app
(``create_app`` + ``build_state``) then loads it, index memory-mapped, in a uvicorn worker started
with ``--factory serve_load:synthetic_app`` (which regenerates the same catalog from the seed) on
the event loop ``recstrata serve`` uses (``ServingSettings.event_loop``). The anchor keeps
uvicorn's default loop (uvloop when installed): it scores in a thread pool, so its loop stays free to
accept connections, and uvloop's lower per-request overhead (~4% at concurrency 1) stays on its
side of the ratio. The anchor indexes as many random vectors as the catalog has items unless ``--anchor-items`` says
otherwise (its HNSW build takes minutes at 1M items; it is timed and printed, not measured).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, timeout: float = 180) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up")


def wrk(url_base: str, users: list[str], concurrency: int, duration: int) -> dict:
    script = Path(tempfile.mkdtemp()) / "users.lua"
    ids = ",".join(f'"{u}"' for u in users)
    script.write_text(
        f"local ids = {{{ids}}}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n"
        "  return wrk.format('GET', '/v1/users/' .. ids[(i % #ids) + 1] .. '/recommendations?k=10')\nend\n"
    )
    threads = min(concurrency, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration}s", "--latency", "-s", str(script), url_base],
        capture_output=True, text=True, check=True, timeout=duration + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": pct("50"), "p99_ms": pct("99"), "non_2xx": int(errors.group(1)) if errors else 0}


def run_server(cmd: list[str], env: dict, port: int, ready_path: str, timeout: float = 180) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}{ready_path}", timeout)
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)


# ---- synthetic catalog ------------------------------------------------------------------------------
SYNTH_GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
                "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
                "Western")
SYNTH_CLUSTERS = 200  # latent taste clusters: each owns ~N/200 items and two genres
SYNTH_USERS_PER_ITEM = 0.2  # 1M items -> 200k users
SYNTH_MEAN_HISTORY = 15  # events per user (lognormal, 3..300): ~3M interactions at 1M items
SYNTH_IN_CLUSTER = 0.8  # share of a user's events inside their own cluster; the rest follow global popularity


def synthetic_dataset(n_items: int, seed: int = 0):
    """A deterministic catalog of ``n_items`` with clustered, popularity-skewed interactions."""
    import numpy as np
    import pandas as pd

    from recstrata.data.dataset import Dataset, IdMap, Interactions

    rng = np.random.default_rng(seed)
    n_users = max(100, int(n_items * SYNTH_USERS_PER_ITEM))
    clusters = min(SYNTH_CLUSTERS, max(1, n_items // 50))
    item_cluster = rng.integers(0, clusters, n_items)  # (N,)
    by_cluster = np.argsort(item_cluster, kind="stable")  # items grouped by cluster, in random order within
    starts = np.searchsorted(item_cluster[by_cluster], np.arange(clusters + 1))
    global_order = rng.permutation(n_items)  # global popularity rank -> item

    # users: cluster sizes are skewed too (some tastes are common); history lengths are lognormal
    cluster_weight = 1.0 / np.arange(1, clusters + 1) ** 0.7
    user_cluster = rng.choice(clusters, n_users, p=cluster_weight / cluster_weight.sum())
    lengths = np.clip(rng.lognormal(np.log(SYNTH_MEAN_HISTORY) - 0.5, 1.0, n_users), 3, 300).astype(np.int64)
    user = np.repeat(np.arange(n_users), lengths)  # (M,)
    m = len(user)
    inside = rng.random(m) < SYNTH_IN_CLUSTER
    c = user_cluster[user]
    size = starts[c + 1] - starts[c]
    # power-law ranks: floor(size * u^3) puts most mass on the head of each ranking
    local = by_cluster[starts[c] + np.minimum((size * rng.random(m) ** 3).astype(np.int64), size - 1)]
    glob = global_order[np.minimum((n_items * rng.random(m) ** 4).astype(np.int64), n_items - 1)]
    item = np.where(inside, local, glob)
    timestamp = 1_600_000_000 + np.sort(rng.integers(0, 86_400 * 365, m))

    # catalog: each cluster has two genres (items carry the first, half also the second) and an era
    g1, g2 = np.arange(clusters) % len(SYNTH_GENRES), (np.arange(clusters) * 7 + 3) % len(SYNTH_GENRES)
    variants = np.empty(2 * clusters, dtype=object)
    for k in range(clusters):
        variants[2 * k] = (SYNTH_GENRES[g1[k]],)
        variants[2 * k + 1] = tuple(dict.fromkeys((SYNTH_GENRES[g1[k]], SYNTH_GENRES[g2[k]])))
    genres = variants[2 * item_cluster + (rng.random(n_items) < 0.5)]
    era = 1950 + (np.arange(clusters) * 13) % 70
    year = np.clip(era[item_cluster] + rng.normal(0, 4, n_items).round(), 1920, 2025).astype(np.int64)
    ids = [str(i) for i in range(n_items)]
    items = pd.DataFrame({
        "item_id": ids,
        "title": [f"Item {i}" for i in range(n_items)],
        "genres": genres,
        "year": pd.array(year, dtype="Int64"),
        "text": "",
    })
    users = pd.DataFrame({"user_id": [str(u) for u in range(n_users)]})
    return Dataset(
        name=f"synthetic-{n_items}",
        interactions=Interactions.from_arrays(user, item, None, timestamp),
        user_ids=IdMap(users["user_id"], kind="user"),
        item_ids=IdMap(ids, kind="item"),
        items=items,
        users=users,
    )


def synthetic_app():
    """uvicorn ``--factory`` entry: the real app over the synthetic catalog (bench-only env inputs)."""
    from recstrata.config import get_settings
    from recstrata.serving.app import create_app
    from recstrata.serving.state import build_state

    settings = get_settings().serving
    dataset = synthetic_dataset(int(os.environ["BENCH_SYNTHETIC_ITEMS"]), int(os.environ["BENCH_SYNTHETIC_SEED"]))
    return create_app(settings, state=build_state(settings, dataset=dataset, backend=None))


def prepare_synthetic(n_items: int, seed: int, runs: Path, iterations: int, index: str
                      ) -> tuple[list[str], dict[str, float]]:
    """Generate the catalog, fit ALS (64 factors), index it and publish both as one ``ann`` artefact
    (the server memory-maps the saved index instead of rebuilding it); return user ids and timings."""
    import numpy as np

    from recstrata.retrieval.als import ALS
    from recstrata.retrieval.ann import parse_index_spec
    from recstrata.retrieval.vector import VectorRetriever
    from recstrata.serving.modelstore import ModelStore

    times = {}
    t = time.perf_counter()
    ds = synthetic_dataset(n_items, seed)
    times["generate_s"] = time.perf_counter() - t
    print(f"synthetic catalog: {ds!r}, {ds.user_items.nnz:,} distinct user-item pairs "
          f"({times['generate_s']:.1f} s)", file=sys.stderr)
    t = time.perf_counter()
    model = ALS(factors=64, iterations=iterations).fit(ds)
    times["fit_s"] = time.perf_counter() - t
    print(f"ALS 64 factors, {iterations} iterations: {times['fit_s']:.1f} s", file=sys.stderr)

    kind, params = parse_index_spec(index)
    t = time.perf_counter()
    served = VectorRetriever.wrap(model, index=kind, index_params=params or None)
    times["index_s"] = time.perf_counter() - t
    print(f"{index} index over {n_items:,} items: {times['index_s']:.1f} s", file=sys.stderr)
    t = time.perf_counter()
    ModelStore(runs, "ann").publish(served)
    times["publish_s"] = time.perf_counter() - t
    users = np.random.default_rng(seed + 1).choice(ds.n_users, 1000, replace=False)
    return [str(u) for u in users], times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared/datasets/ml-100k"))
    ap.add_argument("--model", default="als")
    ap.add_argument("--synthetic", type=int, default=None, metavar="N_ITEMS",
                    help="serve a generated catalog of N items (ALS, 64 factors) instead of --dataset")
    ap.add_argument("--index", default=None,
                    help="ANN index the server uses, kind[:param=value,...] as in ann_speed.py, e.g. "
                         "ivf:nprobe=256 (default: sq8 with --synthetic; dense scoring otherwise)")
    ap.add_argument("--als-iterations", type=int, default=15, help="ALS iterations (--synthetic)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--duration", type=int, default=10, help="seconds per concurrency level")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--anchor-items", type=int, default=None,
                    help="random vectors in the anchor's HNSW index (default: 100,000, or N with --synthetic)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    if args.synthetic is not None and not 1_000 <= args.synthetic <= 5_000_000:
        sys.exit("--synthetic takes 1,000 to 5,000,000 items")
    levels = [int(c) for c in args.concurrency.split(",")]
    work = Path(tempfile.mkdtemp(prefix="recstrata-load-"))
    results: dict[str, dict[int, dict]] = {}
    synthetic = args.synthetic is not None
    index = args.index or ("sq8" if synthetic else None)
    anchor_items = args.anchor_items or (args.synthetic if synthetic else 100_000)
    timings: dict[str, float] = {}

    port = free_port()
    env = {"RECSTRATA_SERVING__RUNS_DIR": str(work / "runs"), "RECSTRATA_SERVING__STATE_DIR": str(work / "state"),
           "RECSTRATA_SERVING__API_KEYS": '{"bench": ["admin"]}', "RECSTRATA_SERVING__LLM_BACKEND": "null"}
    if index and not synthetic:  # the server wraps the model it fits (ServingSettings.index, kind[:params])
        env["RECSTRATA_SERVING__INDEX"] = index
    try:
        if synthetic:
            users, timings = prepare_synthetic(args.synthetic, args.seed, work / "runs", args.als_iterations, index)
            env |= {"RECSTRATA_SERVING__MODEL": "ann", "BENCH_SYNTHETIC_ITEMS": str(args.synthetic),
                    "BENCH_SYNTHETIC_SEED": str(args.seed)}
            from recstrata.config import get_settings

            # the event loop `recstrata serve` uses (ServingSettings.event_loop), so both paths match
            cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "--factory",
                   "serve_load:synthetic_app", "--port", str(port),
                   "--loop", get_settings().serving.event_loop, "--log-level", "warning", "--no-access-log"]
        else:
            users = [str(u) for u in range(1, 944)]
            cmd = [sys.executable, "-m", "recstrata.cli", "serve", "--dataset", args.dataset, "--model", args.model,
                   "--port", str(port), "--llm", "none"]
        t = time.perf_counter()
        server = run_server(cmd, env, port, "/readyz", timeout=1800 if synthetic else 180)
        timings["server_start_s"] = time.perf_counter() - t
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/users/{users[0]}/recommendations", timeout=60).raise_for_status()
            results["recstrata"] = {c: wrk(f"http://127.0.0.1:{port}", users, c, args.duration) for c in levels}
        finally:
            stop(server)

        port = free_port()
        t = time.perf_counter()
        anchor = run_server([sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "_anchor_app:app",
                             "--port", str(port), "--log-level", "warning"],
                            {"N_ITEMS": str(anchor_items)}, port, "/v1/users/1/recommendations", timeout=1800)
        timings["anchor_start_s"] = time.perf_counter() - t
        try:
            results["anchor"] = {c: wrk(f"http://127.0.0.1:{port}", [str(u) for u in range(1000)], c, args.duration)
                                 for c in levels}
        finally:
            stop(anchor)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    what = (f"synthetic catalog of {args.synthetic:,} items, ALS 64 factors" if synthetic
            else f"{args.dataset}, model {args.model}")
    print(f"## Load test: {what}, index {index or 'none (dense)'}, anchor HNSW over {anchor_items:,} items, "
          f"wrk {args.duration}s per level, {time.strftime('%Y-%m-%d')}\n")
    if timings:
        print("set-up: " + ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in timings.items()) + "\n")
    print("| server | concurrency | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rows in results.items():
        for c, r in rows.items():
            print(f"| {name} | {c} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non_2xx']} |")
    for c in levels:
        ratio = results["recstrata"][c]["rps"] / results["anchor"][c]["rps"]
        print(f"\nconcurrency {c}: recstrata / anchor throughput = {ratio:.2f}")


if __name__ == "__main__":
    main()
