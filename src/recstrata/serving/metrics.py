"""Prometheus metrics, one registry per app (so tests and several apps don't collide)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Metrics:
    registry: object
    latency: object
    requests: object
    llm_tokens: object
    llm_cost: object
    explanations: object
    degraded: object
    events: object

    @classmethod
    def create(cls) -> Metrics:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        reg = CollectorRegistry()
        buckets = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
        return cls(
            registry=reg,
            latency=Histogram("recstrata_request_seconds", "request latency", ["route", "method"], buckets=buckets,
                              registry=reg),
            requests=Counter("recstrata_requests", "requests by status", ["route", "status"], registry=reg),
            llm_tokens=Counter("recstrata_llm_tokens", "LLM tokens", ["direction"], registry=reg),
            llm_cost=Counter("recstrata_llm_cost", "LLM cost (configured price units)", registry=reg),
            explanations=Counter("recstrata_explanations", "explanations by source", ["source"], registry=reg),
            degraded=Counter("recstrata_degraded_responses", "responses served degraded", ["route"], registry=reg),
            events=Counter("recstrata_events", "events accepted", ["type", "duplicate"], registry=reg),
        )

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
