"""Everything a running server holds, built in the app's lifespan (never at import)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from recstrata.data.dataset import Dataset
from recstrata.llm.base import LLMBackend
from recstrata.personalization.explain import Explainer
from recstrata.serving.engine import Engine, LiveModel
from recstrata.serving.events import EventStore
from recstrata.serving.metrics import Metrics
from recstrata.serving.modelstore import ModelStore
from recstrata.serving.ratelimit import RateLimiter
from recstrata.serving.settings import ServingSettings
from recstrata.serving.shadow import Shadow

log = logging.getLogger("recstrata.serving")


@dataclass
class AppState:
    settings: ServingSettings
    dataset: Dataset
    engine: Engine
    events: EventStore
    explainer: Explainer
    store: ModelStore
    metrics: Metrics
    limiter: RateLimiter
    shadow: Shadow | None = None
    started: float = field(default_factory=time.time)

    def close(self) -> None:
        if self.shadow:
            self.shadow.close()
        self.events.close()
        self.explainer.close()
        if self.explainer.backend is not None:
            self.explainer.backend.close()


def build_state(settings: ServingSettings, *, dataset: Dataset | None = None,
                backend: LLMBackend | None | str = "settings") -> AppState:
    """Load (or fit and publish) the model, open the stores, replay events into the overlay, start
    warming the explanations' LLM up in the background (``settings.warm_llm``)."""
    from recstrata.data.registry import load_dataset
    from recstrata.errors import ConfigError, RecstrataError
    from recstrata.llm.breaker import CircuitBreaker
    from recstrata.personalization.cache import ExplanationCache
    from recstrata.retrieval.registry import make_model

    if settings.index:  # an unknown index kind fails before a dataset is loaded or a model fitted for it
        from recstrata.retrieval.ann import make_index

        make_index(settings.index)
    dataset = dataset if dataset is not None else load_dataset(settings.dataset)
    store = ModelStore(settings.runs_dir, settings.model)
    if store.current() is None:
        from recstrata.retrieval.registry import MODELS

        if settings.model not in MODELS:
            raise ConfigError(f"nothing is published as {settings.model!r} in {settings.runs_dir} and it is not a model "
                              f"name ({', '.join(MODELS)}): publish it first with `recstrata train --name "
                              f"{settings.model} ...`, or serve a model name")
        log.info("no published %s model in %s: fitting one", settings.model, store.root)
        store.publish(make_model(settings.model, **settings.model_params).fit(dataset))
    model, version = store.load()
    engine = Engine(dataset, LiveModel(model, version, settings.model), index=settings.index)
    events = EventStore(settings.state_dir / "events.sqlite")
    for user in events.erased_users():
        engine.erase(user)
    for ev in events.all_events():
        try:
            engine.add_event(ev.user_id, ev.item_id)
        except RecstrataError:
            log.warning("event %s references an item no longer in the catalog", ev.idempotency_key)
    if backend == "settings":
        backend = None
        if settings.llm_backend:
            from recstrata.llm.registry import get_backend

            try:
                backend = get_backend(settings.llm_backend)
            except RecstrataError as exc:
                log.warning("explanations fall back to templates: %s", exc)
    if backend is not None and backend.ledger is None:  # every LLM call is accounted (/metrics)
        from recstrata.llm.usage import UsageLedger

        backend.ledger = UsageLedger()
    explainer = Explainer(dataset, backend, cache=ExplanationCache(settings.state_dir / "explanations.sqlite"),
                          breaker=CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s))
    if settings.warm_llm:  # in the background: the server answers at once, /readyz says "warming"
        explainer.warm_in_background()
    shadow = None
    if settings.shadow_model and settings.shadow_fraction > 0:
        model, label = shadow_candidate(settings, dataset)
        shadow = Shadow(model, label, settings.shadow_fraction)
    return AppState(settings=settings, dataset=dataset, engine=engine, events=events, explainer=explainer,
                    store=store, metrics=Metrics.create(),
                    limiter=RateLimiter(settings.rate_per_second, settings.rate_burst), shadow=shadow)


def shadow_candidate(settings: ServingSettings, dataset: Dataset):
    """The shadow model and its label: a published version (``name`` = its current version,
    ``name/3`` = version 3 of ``runs_dir/name``), else a registry model fitted now; served through
    the same ANN index kind as the live model, so a 1M-item shadow is not scored densely."""
    from recstrata.retrieval.registry import make_model
    from recstrata.serving.engine import check_fits, through_index

    name, _, version = settings.shadow_model.partition("/")
    store = ModelStore(settings.runs_dir, name)
    if version or store.current() is not None:
        model, version = store.load(version or None)
        label = f"{name}/{version}"
        check_fits(model, dataset, f"shadow {label}")
    else:
        model, label = make_model(name).fit(dataset), name
    return through_index(model, settings.index, required=False), label  # a vector-less candidate: dense
