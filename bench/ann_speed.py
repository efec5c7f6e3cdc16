"""Speed benchmark of recstrata's vector index: top-1000 latency, throughput, recall, build, memory.

Catalogues are synthetic unit vectors: ``random`` (i.i.d. Gaussian, the worst case for every
ANN structure) and ``structured`` (a 12-dim latent mapped linearly to ``dim`` plus small noise,
like trained embeddings). Every latency is also reported as a ratio to the memory-bandwidth floor
measured in the same run: the time to read the float32 matrix once (a sum over it) with the same
thread count. Recall@k is measured against exact search, never assumed.

    python bench/ann_speed.py                 # full: 1M items, dims 64 and 128, no HNSW (about 15 min)
    python bench/ann_speed.py --quick         # 100k items, dim 64 (about 1 min)
    python bench/ann_speed.py --kinds sq8,sq8:shards=1,hnsw:ef_search=1500 --dim 64 --data random

A kind is ``name[:param=value,...]``; ``numpy`` is plain numpy brute force (matvec + argpartition).
Writes JSON (``--json``) and prints markdown tables to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import faiss  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from recstrata.retrieval.ann import VectorIndex, make_index, parse_index_spec, recall_of  # noqa: E402

FULL_KINDS = "numpy,exact,exact:shards=2,ivf,ivf:nprobe=256,ivfpq,sq8,fp16,pq4fs,pq4fs:refine_factor=2,ivfpq4fs,ivfpq4fs:nprobe=128"
# HNSW is not in the full default: building it over 1M items takes 10+ minutes on 2 cores; run it
# on its own, e.g. --kinds hnsw:M=16 --dim 64 --data structured
QUICK_KINDS = "numpy,exact,hnsw,ivf,ivfpq,sq8,fp16,pq4fs,ivfpq4fs"
LATENT_DIM = 12  # intrinsic dimension of the "structured" catalogue
BATCH = 64


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_data(kind: str, n: int, dim: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "random":
        return unit(rng.standard_normal((n, dim), dtype=np.float32)), unit(
            rng.standard_normal((n_queries, dim), dtype=np.float32)
        )
    w = rng.standard_normal((LATENT_DIM, dim), dtype=np.float32)

    def sample(m: int) -> np.ndarray:
        z = rng.standard_normal((m, LATENT_DIM), dtype=np.float32)
        return unit(z @ w + 0.05 * rng.standard_normal((m, dim), dtype=np.float32))

    return sample(n), sample(n_queries)


def read_floor_ms(x: np.ndarray, threads: int, reps: int = 7) -> float:
    """Median time to read every float32 of ``x`` once (sum over row blocks, one per thread)."""
    blocks = np.array_split(x, threads)
    times = []
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(reps):
            t = time.perf_counter()
            sum(pool.map(lambda b: float(b.sum(dtype=np.float32)), blocks))
            times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


class NumpyBruteForce:
    """Baseline: one BLAS matvec / matmul over all items, then argpartition."""

    def __init__(self, x: np.ndarray) -> None:
        self.x, self.threads = x, None

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        with threadpool_limits(self.threads):
            scores = q @ self.x.T  # (nq, n)
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(scores, part, 1)
        order = np.argsort(-top, axis=1)
        return np.take_along_axis(part, order, 1), np.take_along_axis(top, order, 1)


def latency_ms(index, queries: np.ndarray, k: int, budget_s: float) -> np.ndarray:
    for i in range(min(3, len(queries))):  # warm-up: thread pools, page cache
        index.search(queries[i : i + 1], k)
    times, start = [], time.perf_counter()
    for i in range(len(queries)):
        t = time.perf_counter()
        index.search(queries[i : i + 1], k)
        times.append(time.perf_counter() - t)
        if i >= 20 and time.perf_counter() - start > budget_s:
            break
    return 1e3 * np.array(times)


def batch_run(index, queries: np.ndarray, k: int, budget_s: float) -> tuple[float, np.ndarray]:
    """Queries/s over batches of 64, and the ids of every query (for recall)."""
    ids, done, start = [], 0, time.perf_counter()
    for b in range(0, len(queries), BATCH):
        ids.append(index.search(queries[b : b + BATCH], k)[0])
        done += len(ids[-1])
        if time.perf_counter() - start > budget_s and b + BATCH < len(queries):
            break
    qps = done / (time.perf_counter() - start)
    return qps, np.concatenate(ids)


def bench_dataset(args, data: str, dim: int, kinds: list[str], results: dict, do_load: bool) -> None:
    log(f"data={data} n={args.n} dim={dim}: generating")
    x, queries = make_data(data, args.n, dim, args.queries)
    floors = {t: read_floor_ms(x, t) for t in args.threads}
    log(f"read floor ms at start: {floors}")
    exact = make_index("exact").build(x)
    with threadpool_limits(max(args.threads)):
        truth = np.concatenate([exact.search(queries[b : b + BATCH], args.k)[0] for b in range(0, len(queries), BATCH)])
    del exact
    results["floors"].append({"data": data, "dim": dim, "n": args.n, "floor_ms": floors})
    for spec in kinds:
        name, params = parse_index_spec(spec)
        gc.collect()
        rss0, t0 = rss_mb(), time.perf_counter()
        with threadpool_limits(max(args.threads)):
            faiss.omp_set_num_threads(max(args.threads))
            index = NumpyBruteForce(x) if name == "numpy" else make_index(name, **params).build(x)
        build_s, rss_delta = time.perf_counter() - t0, rss_mb() - rss0
        log(f"{spec}: built in {build_s:.1f}s, RSS +{rss_delta:.0f} MB")
        for threads in args.threads:
            index.threads = threads
            faiss.omp_set_num_threads(threads)
            floor = read_floor_ms(x, threads)  # re-measured next to each row: the machine's load drifts
            lat = latency_ms(index, queries, args.k, args.budget)
            qps, got = batch_run(index, queries, args.k, args.budget)
            recall = float(recall_of(got, truth[: len(got)]).mean())
            p50, p99 = float(np.percentile(lat, 50)), float(np.percentile(lat, 99))
            row = {
                "data": data, "n": args.n, "dim": dim, "kind": spec, "threads": threads,
                "build_s": round(build_s, 2), "rss_delta_mb": round(rss_delta, 1),
                "p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "latency_samples": int(lat.size),
                "floor_ms": round(floor, 3), "p50_x_floor": round(p50 / floor, 2),
                "p99_x_floor": round(p99 / floor, 2),
                "batch64_qps": round(qps, 1), f"recall@{args.k}": round(recall, 4), "recall_queries": int(len(got)),
            }
            results["search"].append(row)
            log(f"  threads={threads}: p50 {row['p50_ms']} ms p99 {row['p99_ms']} ms "
                f"({row['p99_x_floor']}x floor) qps {row['batch64_qps']} recall {recall:.4f}")
        if do_load and name != "numpy":
            results["load"].append(load_test(args, data, dim, spec, index, queries))
        del index
    del x


def load_test(args, data: str, dim: int, spec: str, index: VectorIndex, queries: np.ndarray) -> dict:
    root = Path(tempfile.mkdtemp(prefix="ann-bench-", dir=args.workdir))
    try:
        t = time.perf_counter()
        path = index.save(root / "index")
        save_s = time.perf_counter() - t
        size_mb = sum(p.stat().st_size for p in path.iterdir()) / 2**20
        out = {"data": data, "dim": dim, "kind": spec, "save_s": round(save_s, 2), "disk_mb": round(size_mb, 1)}
        for verify in (False, True):
            gc.collect()
            rss0, t = rss_mb(), time.perf_counter()
            loaded = VectorIndex.load(path, mmap=True, verify=verify)
            out[f"mmap_load_s{'_verified' if verify else ''}"] = round(time.perf_counter() - t, 3)
            out[f"rss_delta_mb{'_verified' if verify else ''}"] = round(rss_mb() - rss0, 1)
            t = time.perf_counter()
            same = np.array_equal(loaded.search(queries[:1], args.k)[0], index.search(queries[:1], args.k)[0])
            out["first_query_ms_after_load"] = round(1e3 * (time.perf_counter() - t), 1)
            out["same_results"] = bool(same)
            del loaded
        log(f"{spec}: saved {size_mb:.0f} MB in {save_s:.1f}s, mmap load {out['mmap_load_s']}s "
            f"(verified {out['mmap_load_s_verified']}s)")
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def markdown(results: dict, k: int) -> str:
    lines = [f"### top-{k} search", "",
             "| data | dim | kind | thr | p50 ms | p99 ms | p99 / floor | floor ms | batch-64 q/s | "
             f"recall@{k} | build s | RSS +MB |", "|" + "---|" * 12]
    for r in results["search"]:
        lines.append(
            f"| {r['data']} | {r['dim']} | {r['kind']} | {r['threads']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['p99_x_floor']:.2f} | {r['floor_ms']:.2f} | {r['batch64_qps']:.0f} | {r[f'recall@{k}']:.4f} | "
            f"{r['build_s']:.1f} | {r['rss_delta_mb']:.0f} |"
        )
    if results["load"]:
        lines += ["", "### save / mmap load", "",
                  "| data | dim | kind | disk MB | save s | mmap load s | + sha256 verify s | RSS +MB | same results |",
                  "|" + "---|" * 9]
        for r in results["load"]:
            lines.append(f"| {r['data']} | {r['dim']} | {r['kind']} | {r['disk_mb']:.0f} | {r['save_s']:.2f} | "
                         f"{r['mmap_load_s']:.3f} | {r['mmap_load_s_verified']:.3f} | {r['rss_delta_mb']:.0f} | "
                         f"{r['same_results']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="catalogue size (default 1,000,000)")
    ap.add_argument("--dim", default="64,128", help="comma-separated dimensions (default 64,128)")
    ap.add_argument("--data", default="random,structured", help="random and/or structured")
    ap.add_argument("--queries", type=int, default=256, help="queries for latency / throughput / recall")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--kinds", default=FULL_KINDS, help=f"comma-separated kind specs (default {FULL_KINDS})")
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--budget", type=float, default=3.0, help="max seconds per latency / throughput measurement")
    ap.add_argument("--load-test", default="first", choices=["first", "all", "none"],
                    help="save + mmap-load each index on the first dataset only, on all, or not at all")
    ap.add_argument("--workdir", default=None, help="where saved indexes go (default: system temp dir)")
    ap.add_argument("--json", default="bench/results/ann_speed.json", help="where to write the JSON results")
    ap.add_argument("--quick", action="store_true", help="100k items, dim 64, fewer queries (about 1 minute)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.dim, args.queries, args.budget = 100_000, "64", 64, 1.0
        if args.kinds == FULL_KINDS:
            args.kinds = QUICK_KINDS
    args.threads = [int(t) for t in args.threads.split(",")]
    kinds = [s for s in args.kinds.split(",") if s]
    # kind specs contain commas too (sq8:shards=1,refine_factor=2): re-join params onto their kind
    merged: list[str] = []
    for s in kinds:
        if "=" in s and ":" not in s and merged:
            merged[-1] += "," + s
        else:
            merged.append(s)
    results = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_start": os.getloadavg(),
                    "faiss": faiss.__version__, "numpy": np.__version__},
        "k": args.k, "floors": [], "search": [], "load": [],
    }
    start = time.perf_counter()
    first = True
    for dim in [int(d) for d in args.dim.split(",")]:
        for data in args.data.split(","):
            bench_dataset(args, data, dim, merged, results, do_load=args.load_test == "all" or
                          (args.load_test == "first" and first))
            first = False
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["wall_s"] = round(time.perf_counter() - start, 1)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(markdown(results, args.k))
    print(f"\nwall time {results['wall_s']} s; load average start {results['machine']['loadavg_start']}, "
          f"end {results['machine']['loadavg_end']}; JSON in {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
