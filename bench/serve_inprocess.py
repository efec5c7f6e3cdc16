"""In-process cost of one GET /v1/users/{id}/recommendations through the whole ASGI app (no HTTP
server, no socket, no load generator): what the framework + request path cost per request.

    python bench/serve_inprocess.py [--dataset ../shared/datasets/ml-100k] [--requests 3000] [--profile]

Builds the real app (``create_app`` + ``build_state``, ALS, dense scoring, no LLM) in a temporary
state directory and calls it directly with ASGI messages, round-robin over 500 known users.
``--profile`` prints the functions with the most own time (cProfile inflates the totals).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


async def call(app, path: str, query: bytes = b"k=10") -> list[dict]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
             "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
             "app": app, "state": {}}
    out: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        out.append(message)

    await app(scope, receive, send)
    return out


async def run(args) -> None:
    from recstrata.serving.app import create_app
    from recstrata.serving.settings import ServingSettings
    from recstrata.serving.state import build_state

    tmp = Path(tempfile.mkdtemp())
    settings = ServingSettings(dataset=args.dataset, model="als", runs_dir=tmp / "runs", state_dir=tmp / "state",
                               llm_backend=None)
    state = build_state(settings, backend=None)
    app = create_app(settings, state=state)
    async with app.router.lifespan_context(app):
        users = [str(u) for u in state.dataset.user_ids.external[:500]]
        for u in users[:50]:  # warm-up
            await call(app, f"/v1/users/{u}/recommendations")
        start = time.perf_counter()
        for i in range(args.requests):
            out = await call(app, f"/v1/users/{users[i % len(users)]}/recommendations")
            assert out[0]["status"] == 200, out
        per = (time.perf_counter() - start) / args.requests
        print(f"{per * 1e3:.3f} ms per request in process ({args.requests} requests, {state.dataset!r})")
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for i in range(args.requests):
                await call(app, f"/v1/users/{users[i % len(users)]}/recommendations")
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared/datasets/ml-100k"))
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--profile", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
