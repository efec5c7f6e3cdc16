"""Load test of GET /v1/users/{id}/recommendations (k=10, no LLM), only against 127.0.0.1.

    python bench/serve_load.py --dataset ../shared/datasets/ml-100k [--duration 10]

Starts the recstrata server (uvicorn, one process) and the bare anchor (FastAPI + one faiss HNSW
top-100 search, ef 128) and drives each with wrk at concurrency 1, 8 and 32 for a bounded time,
over a fixed list of user ids. The load generator shares the machine's 2 cores with the server.
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


def run_server(cmd: list[str], env: dict, port: int, ready_path: str) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_ready(f"http://127.0.0.1:{port}{ready_path}")
    return proc


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared/datasets/ml-100k"))
    ap.add_argument("--model", default="als")
    ap.add_argument("--duration", type=int, default=10, help="seconds per concurrency level")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--anchor-items", type=int, default=100_000)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    levels = [int(c) for c in args.concurrency.split(",")]
    work = Path(tempfile.mkdtemp(prefix="recstrata-load-"))
    results: dict[str, dict[int, dict]] = {}

    port = free_port()
    env = {"RECSTRATA_SERVING__RUNS_DIR": str(work / "runs"), "RECSTRATA_SERVING__STATE_DIR": str(work / "state"),
           "RECSTRATA_SERVING__API_KEYS": '{"bench": ["admin"]}', "RECSTRATA_SERVING__LLM_BACKEND": "null"}
    server = run_server([sys.executable, "-m", "recstrata.cli", "serve", "--dataset", args.dataset, "--model",
                         args.model, "--port", str(port), "--llm", "none"], env, port, "/readyz")
    try:
        users = [str(u) for u in range(1, 944)]
        httpx.get(f"http://127.0.0.1:{port}/v1/users/1/recommendations")
        results["recstrata"] = {c: wrk(f"http://127.0.0.1:{port}", users, c, args.duration) for c in levels}
    finally:
        stop(server)

    port = free_port()
    anchor = run_server([sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "_anchor_app:app",
                         "--port", str(port), "--log-level", "warning"],
                        {"N_ITEMS": str(args.anchor_items)}, port, "/v1/users/1/recommendations")
    try:
        results["anchor"] = {c: wrk(f"http://127.0.0.1:{port}", [str(u) for u in range(1000)], c, args.duration)
                             for c in levels}
    finally:
        stop(anchor)

    print(f"## Load test: {args.dataset}, model {args.model}, wrk {args.duration}s per level, "
          f"{time.strftime('%Y-%m-%d')}\n")
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
