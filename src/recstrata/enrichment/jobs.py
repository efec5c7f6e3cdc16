"""The resumable job runner shared by every enrichment job.

A job says what its units of work are (``tasks``), how to prompt for one (``messages``), the
pydantic schema of the answer, and how to check an answer against the world (``postprocess``,
e.g. "these item ids exist"). The runner does the rest:

- computes each task's content-hash key and skips keys the store already has (a re-run of a
  finished job makes no LLM call at all);
- calls the backend with the schema for constrained decoding, validates the answer, and stores
  it in its own transaction only when it passed (so a kill loses at most the item in flight);
- logs every failure with its reason and counts it; the item is retried by the next run;
- shows a rich progress bar with ETA, throughput, tokens and cost.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from recstrata.data.dataset import Dataset
from recstrata.enrichment.store import EnrichmentStore, result_key
from recstrata.errors import LLMError, LLMOutputError, LLMTimeoutError, LLMUnavailableError

log = logging.getLogger("recstrata.enrichment")


@dataclass(frozen=True)
class Task:
    """One unit of work. ``text`` is everything variable that goes into the prompt: it is what the
    content hash covers. ``skip`` (a reason) marks a task that needs no LLM call."""

    subject: str
    text: str
    context: Any = None
    skip: str | None = None

    @property
    def key_text(self) -> str:
        """What the content hash covers: the subject too, so equal texts of two items stay apart."""
        return f"{self.subject}\x1e{self.text}"


class Rejected(Exception):
    """Raised by ``postprocess``: the answer parsed but fails a check against the world."""

    def __init__(self, reason: str, detail: str = "", notes: dict | None = None) -> None:
        self.reason, self.detail, self.notes = reason, detail, dict(notes or {})
        super().__init__(f"{reason}: {detail}" if detail else reason)


class Job(Protocol):
    name: str
    version: str  # prompt-template version: bump it whenever the prompt or schema changes
    schema: type[BaseModel]
    max_tokens: int

    def tasks(self, dataset: Dataset) -> Iterable[Task]: ...

    def messages(self, task: Task) -> list[dict[str, str]]: ...

    def postprocess(self, answer: BaseModel, task: Task) -> dict: ...

    # optional: ``schema_for(task)`` gives a per-task schema (e.g. an enum of that task's candidates)


@dataclass
class JobReport:
    job: str
    model: str
    total: int = 0
    already_done: int = 0
    stored: int = 0
    skipped: int = 0
    failed: int = 0
    reasons: Counter = field(default_factory=Counter)  # failure / skip reason -> count
    notes: Counter = field(default_factory=Counter)  # job-specific counters (e.g. rejected ids)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    llm_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def calls(self) -> int:
        return self.stored + self.failed

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if not isinstance(v, Counter)}
        d["reasons"], d["notes"] = dict(self.reasons), dict(self.notes)
        d["items_per_s"] = self.calls / self.wall_seconds if self.wall_seconds else 0.0
        return d


def model_id(backend: Any) -> str:
    """A stable name of the model behind ``backend`` (part of every result key)."""
    for attr in ("model_id", "model", "name"):
        value = getattr(backend, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(backend).__name__


def _usage(completion: Any) -> tuple[int, int]:
    usage = getattr(completion, "usage", None)
    if usage is None:
        return 0, 0
    get = usage.get if isinstance(usage, dict) else lambda k, d=None: getattr(usage, k, d)
    tin = get("tokens_in", None) or get("prompt_tokens", None) or get("input_tokens", 0) or 0
    tout = get("tokens_out", None) or get("completion_tokens", None) or get("output_tokens", 0) or 0
    return int(tin), int(tout)


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_answer(schema: type[BaseModel], completion: Any) -> BaseModel:
    """The validated answer: the backend's parsed object if it gave one, else the JSON in its text.
    Raises ``LLMOutputError`` when there is no JSON or it does not match the schema."""
    parsed = getattr(completion, "parsed", None)
    try:
        if isinstance(parsed, schema):
            return parsed
        if isinstance(parsed, dict):
            return schema.model_validate(parsed)
        text = getattr(completion, "text", "") or ""
        match = _JSON_OBJECT.search(text)
        if match is None:
            raise LLMOutputError(f"no JSON object in the answer: {text[:120]!r}")
        return schema.model_validate(json.loads(match.group(0)))
    except (ValidationError, json.JSONDecodeError) as exc:
        raise LLMOutputError(f"answer does not match {schema.__name__}: {str(exc)[:300]}") from exc


def run_job(
    job: Job,
    dataset: Dataset,
    backend: Any,
    store: EnrichmentStore,
    *,
    limit: int | None = None,
    constrained: bool = True,
    temperature: float = 0.0,
    progress: bool = True,
    tasks: Iterable[Task] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_task: Callable[[JobReport], None] | None = None,
) -> JobReport:
    """Run ``job`` over ``dataset`` (or the given ``tasks``), storing each validated answer.

    ``limit`` caps the number of tasks considered (done ones included). ``constrained=False``
    sends no schema to the backend (for measuring what constrained decoding buys).
    ``on_start(n_todo)`` and ``on_task(report)`` (after every task) let a caller follow the run.
    ``LLMUnavailableError`` stops the run (nothing else would succeed); every other failure is
    logged, counted and left for the next run. The tokens and cost of every call, failed ones
    included, are in the report (a failed call's from the ``usage`` of the LLMError it raised).
    """
    started = time.perf_counter()
    model = model_id(backend)
    report = JobReport(job=job.name, model=model)
    all_tasks = list(job.tasks(dataset) if tasks is None else tasks)
    if limit is not None:
        all_tasks = all_tasks[: max(0, limit)]
    keyed = [(result_key(job.name, model, job.version, t.key_text), t) for t in all_tasks]
    done = store.done_keys(k for k, _ in keyed)
    todo = [(k, t) for k, t in keyed if k not in done]
    report.total, report.already_done = len(keyed), len(keyed) - len(todo)
    if on_start is not None:
        on_start(len(todo))
    with _Progress(progress, f"{job.name} [{model}]", len(todo)) as bar:
        for key, task in todo:
            _run_one(job, backend, store, report, key, task, model, constrained, temperature)
            bar.advance(report)
            if on_task is not None:
                on_task(report)
    report.wall_seconds = time.perf_counter() - started
    if report.failed:
        log.warning("%s: %d of %d tasks failed (%s); re-run to retry them", job.name, report.failed,
                    len(todo), dict(report.reasons))
    return report


def _run_one(job, backend, store, report, key, task, model, constrained, temperature) -> None:
    if task.skip:
        store.put(key=key, job=job.name, model=model, version=job.version, input_text=task.key_text,
                  subject=task.subject, output=None, status="skipped")
        report.skipped += 1
        report.reasons[f"skip:{task.skip}"] += 1
        return
    t0 = time.perf_counter()
    schema = job.schema_for(task) if hasattr(job, "schema_for") else job.schema
    try:
        completion = backend.generate(job.messages(task), max_tokens=job.max_tokens, temperature=temperature,
                                      schema=schema if constrained else None)
    except LLMUnavailableError:
        raise
    except LLMError as exc:
        spent = exc.usage  # a call the backend raised on (a schema break, a timeout) still spent tokens
        if spent is not None:
            _account(report, spent.prompt_tokens, spent.completion_tokens, spent.cost, spent.seconds)
        reason = ("timeout" if isinstance(exc, LLMTimeoutError)
                  else "schema" if isinstance(exc, LLMOutputError)  # the backend validated and it failed
                  else "llm_error")
        return _fail(store, report, job, key, task, reason, str(exc))
    seconds = float(getattr(completion, "latency_s", None) or time.perf_counter() - t0)
    cost = float(getattr(completion, "cost", 0.0) or 0.0)
    tin, tout = _usage(completion)
    _account(report, tin, tout, cost, seconds)
    try:
        answer = parse_answer(schema, completion)
        output = job.postprocess(answer, task)
    except LLMOutputError as exc:
        return _fail(store, report, job, key, task, "schema", str(exc))
    except Rejected as exc:
        report.notes.update(exc.notes)
        return _fail(store, report, job, key, task, exc.reason, exc.detail)
    notes = output.pop("_notes", None) if isinstance(output, dict) else None
    if notes:
        report.notes.update(notes)
    store.put(key=key, job=job.name, model=model, version=job.version, input_text=task.key_text,
              subject=task.subject, output=output, tokens_in=tin, tokens_out=tout, seconds=seconds, cost=cost)
    report.stored += 1


def _account(report: JobReport, tokens_in: int, tokens_out: int, cost: float, seconds: float) -> None:
    report.tokens_in += tokens_in
    report.tokens_out += tokens_out
    report.cost += cost
    report.llm_seconds += seconds


def _fail(store, report, job, key, task, reason: str, detail: str) -> None:
    log.info("%s: %s failed (%s): %s", job.name, task.subject, reason, detail[:200])
    store.log_failure(key=key, job=job.name, subject=task.subject, reason=reason, detail=detail)
    report.failed += 1
    report.reasons[reason] += 1


class _Progress:
    """A rich progress bar with ETA, items/s, tokens and cost; a no-op when disabled."""

    def __init__(self, enabled: bool, title: str, total: int) -> None:
        self.enabled, self.title, self.total = enabled and total > 0, title, total
        self._bar: Any = None
        self._t0 = time.perf_counter()

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            from rich.progress import TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
                console=Console(stderr=True), transient=False,
            )
            self._bar.__enter__()
            self._id = self._bar.add_task(self.title, total=self.total, stats="")
        return self

    def advance(self, r: JobReport) -> None:
        if self._bar is None:
            return
        dt = max(time.perf_counter() - self._t0, 1e-9)
        stats = (f"{(r.stored + r.failed + r.skipped) / dt:.2f} it/s  tok {r.tokens_in:,}/{r.tokens_out:,} "
                 f"({r.tokens_out / dt:.0f} out/s)  ${r.cost:.4f}  fail {r.failed}")
        self._bar.update(self._id, advance=1, stats=stats)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def iter_outputs(store: EnrichmentStore, job: str, *, model: str | None = None,
                 version: str | None = None) -> Iterator[tuple[str, dict]]:
    """(subject, output) of the stored ``ok`` results of a job; the newest result per subject wins.

    Known limitation: an item whose text changed A -> B -> A serves B's result after the third run,
    which finds A's result done and makes no call (delete B's row, or bump the job version, to
    serve A again). Renewing done results on every run cost a full scan under the write lock."""
    latest: dict[str, dict] = {}
    for rec in store.records(job, model=model, version=version):
        if rec.output is not None:
            latest[rec.subject] = rec.output
    yield from latest.items()
