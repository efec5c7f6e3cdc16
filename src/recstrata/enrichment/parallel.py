"""Run one enrichment job in several worker processes that share one store.

llama.cpp decodes one sequence at a time, and on a small CPU several single-thread processes
outrun one multi-thread process (its threads synchronise at every layer): on the 2-core
reference machine two 1-thread SmolLM2 workers enrich ~1.8 items/s against ~1.1 for one 2-thread
process. Each worker takes every ``workers``-th task and skips what is already stored; the SQLite
store (WAL) takes their writes side by side, so a killed run resumes exactly as a serial one does.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue as queue_mod
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recstrata.data.dataset import Dataset
from recstrata.enrichment.jobs import Job, JobReport, _Progress, run_job
from recstrata.enrichment.store import EnrichmentStore
from recstrata.errors import ConfigError, RecstrataError

_COUNTS = ("stored", "failed", "skipped", "tokens_in", "tokens_out", "cost")


def run_job_parallel(
    job: Job,
    dataset: Dataset,
    backend_factory: Callable[[], Any],
    store_path: str | Path,
    *,
    workers: int,
    limit: int | None = None,
    constrained: bool = True,
    temperature: float = 0.0,
    progress: bool = True,
) -> JobReport:
    """Like :func:`run_job`, over ``workers`` processes. ``backend_factory`` is a picklable callable
    (e.g. ``functools.partial(get_backend, "smollm2", settings)``) that each worker calls once, so
    every process owns its model; ``job`` and ``dataset`` are pickled to the workers."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    started = time.perf_counter()
    tasks = list(job.tasks(dataset))
    if limit is not None:
        tasks = tasks[: max(0, limit)]
    if workers == 1:
        with EnrichmentStore(store_path) as store:
            return run_job(job, dataset, backend_factory(), store, constrained=constrained,
                           temperature=temperature, progress=progress, tasks=tasks)
    # opened once here first: the workers then find it migrated instead of all migrating it at once,
    # and a file that is no store stops the run before any model is loaded
    EnrichmentStore(store_path).close()
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold model threads
    messages = ctx.Queue()
    procs = [ctx.Process(target=_worker, daemon=True,
                         args=(k, job, dataset, backend_factory, str(store_path), tasks[k::workers],
                               constrained, temperature, messages))
             for k in range(workers)]
    for p in procs:
        p.start()
    try:
        return _collect(job, procs, messages, progress, started)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()


def _collect(job: Job, procs: list, messages: Any, progress: bool, started: float) -> JobReport:
    total = JobReport(job=job.name, model="")
    todo, finished, error = {}, set(), None
    bar: _Progress | None = None
    while len(finished) < len(procs):
        try:
            kind, k, payload = messages.get(timeout=1.0)
        except queue_mod.Empty:
            dead = [i for i, p in enumerate(procs) if not p.is_alive() and i not in finished]
            if dead and messages.empty():
                raise RecstrataError(f"enrichment worker {dead[0]} exited without a report "
                                     f"(exit code {procs[dead[0]].exitcode}); re-run to resume")
            continue
        if kind == "start":
            todo[k] = payload
            if len(todo) == len(procs) and bar is None:
                bar = _Progress(progress, f"{job.name} [{len(procs)} workers]", sum(todo.values())).__enter__()
        elif kind == "task":
            for name in _COUNTS:
                setattr(total, name, getattr(total, name) + payload[name])
            if bar is not None:
                bar.advance(total)
        elif kind == "done":
            finished.add(k)
            total.model = payload["model"]
            total.total += payload["total"]
            total.already_done += payload["already_done"]
            total.llm_seconds += payload["llm_seconds"]
            total.reasons.update(payload["reasons"])
            total.notes.update(payload["notes"])
        elif kind == "error":
            finished.add(k)
            error = error or payload
    if bar is not None:
        bar.__exit__(None, None, None)
    if error is not None:
        raise error
    total.wall_seconds = time.perf_counter() - started
    return total


def _worker(k, job, dataset, backend_factory, store_path, tasks, constrained, temperature, messages) -> None:
    last = dict.fromkeys(_COUNTS, 0)
    started = False

    def on_start(todo: int) -> None:
        nonlocal started
        started = True
        messages.put(("start", k, todo))

    def on_task(report: JobReport) -> None:
        now = {name: getattr(report, name) for name in _COUNTS}
        messages.put(("task", k, {name: now[name] - last[name] for name in _COUNTS}))
        last.update(now)

    try:
        backend = backend_factory()
        with EnrichmentStore(store_path) as store:
            report = run_job(job, dataset, backend, store, constrained=constrained, temperature=temperature,
                             progress=False, tasks=tasks, on_start=on_start,
                             on_task=on_task)
        close = getattr(backend, "close", None)
        if close is not None:
            close()
        messages.put(("done", k, report.as_dict()))
    except Exception as exc:  # reported to the parent, which re-raises it
        if not isinstance(exc, RecstrataError) or not _picklable(exc):
            exc = RecstrataError(f"enrichment worker {k} failed: {type(exc).__name__}: {exc}")
        if not started:  # the parent waits for every worker's start before it draws the bar
            messages.put(("start", k, 0))
        messages.put(("error", k, exc))


def _picklable(exc: RecstrataError) -> bool:
    """Whether ``exc`` can go through the queue (every RecstrataError is rebuilt without its
    ``__init__``, see ``recstrata.errors``; an attribute that does not pickle still stops it)."""
    try:
        pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - any failure means: send a plain RecstrataError instead
        return False
    return True