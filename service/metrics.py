"""Every metric the service exports, in one place.

Names carry the `rrm_` prefix, base units (seconds, tokens) and `_total` on counters; labels are few and bounded.
Each app instance owns a private registry, so several apps in one process (tests) never collide; `/metrics`
renders that registry followed by vLLM's own `vllm:*` metrics from the default registry.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["LATENCY_BUCKETS", "SCORE_BUCKETS", "Metrics"]

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
_ITEM_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """The service's metrics, registered in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None, failure_reasons: Iterable[str] = ()) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.build_info = Gauge(
            "rrm_build_info",
            "Constant 1, labelled with what is served.",
            ["version", "model", "template_id"],
            registry=r,
        )
        self.ready = Gauge(
            "rrm_ready", "1 when the engine is loaded and answering and the service takes work.", registry=r
        )
        self.requests = Counter(
            "rrm_requests_total", "HTTP requests by route and status code.", ["route", "code"], registry=r
        )
        self.request_duration = Histogram(
            "rrm_request_duration_seconds",
            "Time to answer a request, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.request_items = Histogram(
            "rrm_request_items", "Items per judge request.", buckets=_ITEM_BUCKETS, registry=r
        )
        self.items = Counter("rrm_items_total", "Items received by /judge.", registry=r)
        self.item_duration = Histogram(
            "rrm_item_duration_seconds",
            "Time from an item's arrival to its judgment.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_duration = Histogram(
            "rrm_queue_duration_seconds",
            "Time an item waited before reaching the engine.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.items_in_flight = Gauge(
            "rrm_items_in_flight", "Items submitted to the engine and not yet judged.", registry=r
        )
        self.items_queued = Gauge("rrm_items_queued", "Items admitted and waiting to reach the engine.", registry=r)
        self.items_pending = Gauge(
            "rrm_items_pending", "Items admitted and not yet judged (the admission queue's depth).", registry=r
        )
        self.items_pending_limit = Gauge("rrm_items_pending_limit", "The admission limit on pending items.", registry=r)
        self.body_bytes_reading = Gauge(
            "rrm_body_bytes_reading",
            "Bytes of request bodies read and not yet admitted (being read, parsed, validated).",
            registry=r,
        )
        self.draining = Gauge("rrm_draining", "1 while the service drains before exiting.", registry=r)
        self.admission_rejections = Counter(
            "rrm_admission_rejections_total", "Requests turned away before any work, by reason.", ["reason"], registry=r
        )
        self.judgments = Counter(
            "rrm_judgments_total", "Judgments by status and failure reason.", ["status", "reason"], registry=r
        )
        self.score = Histogram(
            "rrm_judgment_score", "Scores of successful judgments.", buckets=SCORE_BUCKETS, registry=r
        )
        self.truncations = Counter("rrm_truncations_total", "Trajectories shortened to fit the context.", registry=r)
        self.cache_hits = Counter("rrm_cache_hits_total", "Items answered from the judgment cache.", registry=r)
        self.cache_misses = Counter("rrm_cache_misses_total", "Cacheable items that had to be judged.", registry=r)
        self.prompt_tokens = Counter("rrm_prompt_tokens_total", "Prompt tokens sent to the engine.", registry=r)
        self.completion_tokens = Counter("rrm_completion_tokens_total", "Tokens written by the judge.", registry=r)

        # Every label set exists from the start at 0: rate() and increase() then see the first event of each kind
        # (a counter that first appears at 1 looks, to Prometheus, like a counter that never moved).
        for reason in ("items", "prompt_tokens"):
            self.admission_rejections.labels(reason=reason)
        self.judgments.labels(status="ok", reason="")
        for failure in failure_reasons:
            self.judgments.labels(status="failed", reason=failure)

    def render(self) -> bytes:
        """Our metrics, then the engine's `vllm:*` metrics (which vLLM registers in the default registry)."""
        return generate_latest(self.registry) + generate_latest(DEFAULT_REGISTRY)
