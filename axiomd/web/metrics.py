"""`GET /metrics`: the pipeline in Prometheus text, read from the catalog at each scrape.

The catalog is the truth shared by every process, so jobs by state and kind, job run
times, queue depths and the outbox come from it (the embedded queue *is* the job table;
with RabbitMQ the work queues' depths are asked of the broker too, as `status` does).
Counters of this API process (requests, upload outcomes) are added beside them.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

from axiomd.app import App
from axiomd.catalog import browse, uploads
from axiomd.catalog.models import utcnow
from axiomd.health import broker_facts
from axiomd.web.auth import Reader

router = APIRouter(tags=["metrics"])


class CatalogCollector:
    """Collected at scrape time: a few grouped queries, no per-row work."""

    def __init__(self, axiomd: App) -> None:
        self.axiomd = axiomd

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        facts = browse.figures(self.axiomd.engine, now)
        jobs = GaugeMetricFamily("axiomd_jobs", "Jobs in the catalog by state and kind",
                                 labels=["state", "kind"])
        for (state, kind), n in sorted(facts.jobs.items()):
            jobs.add_metric([state, kind], n)
        yield jobs
        versions = GaugeMetricFamily("axiomd_versions", "Versions by state (ingest outcomes "
                                     "that made a version)", labels=["state"])
        for state, n in sorted(facts.versions.items()):
            versions.add_metric([state], n)
        yield versions
        outcomes = GaugeMetricFamily("axiomd_uploads", "API uploads by outcome",
                                     labels=["outcome"])
        for outcome, n in sorted(uploads.outcome_counts(self.axiomd.engine).items()):
            outcomes.add_metric([outcome], n)
        yield outcomes
        depth = GaugeMetricFamily("axiomd_queue_depth", "Jobs waiting to be taken, by kind "
                                  "and where they wait", labels=["kind", "queue"])
        for kind, n in sorted(facts.queued.items()):
            depth.add_metric([kind, "catalog"], n)
        if not self.axiomd.config.broker.embedded:
            for name, queue in (broker_facts(self.axiomd.config).get("queues") or {}).items():
                if queue is not None:
                    depth.add_metric([queue["kind"], name], queue["messages"])
        yield depth
        yield GaugeMetricFamily("axiomd_outbox_backlog", "Outbox messages not yet published",
                                value=facts.outbox_backlog)
        age = (now - facts.outbox_oldest).total_seconds() if facts.outbox_oldest else 0.0
        yield GaugeMetricFamily("axiomd_outbox_oldest_age_seconds",
                                "Age of the oldest unpublished outbox message", value=age)
        durations = HistogramMetricFamily("axiomd_job_duration_seconds",
                                          "Run time of done jobs, by kind", labels=["kind"])
        for kind, (buckets, count, total) in sorted(facts.durations.items()):
            bounds = [(str(b), n) for b, n in zip(browse.DURATION_BUCKETS, buckets, strict=True)]
            durations.add_metric([kind], [*bounds, ("+Inf", count)], total)
        yield durations


class Registry:
    """This API process's registry: the catalog's figures and its own counters."""

    def __init__(self, axiomd: App) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(CatalogCollector(axiomd))  # type: ignore[arg-type]
        self.uploads = Counter("axiomd_api_uploads", "Uploads this API process finished, "
                               "by outcome", ["outcome"], registry=self.registry)

    def uploaded(self, outcome: str) -> None:
        self.uploads.labels(outcome).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


@router.get("/metrics")
def metrics(request: Request, caller: Reader) -> Response:
    """Prometheus text format (scrape with `authorization: {credentials: <token>}`)."""
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


