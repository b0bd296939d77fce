"""Faust's Prometheus sensor without its per-event work, served at /metrics.

Faust's `PrometheusMonitor` updates several labelled Prometheus metrics for every message
and every stream event (`on_message_in`, `on_stream_event_in`/`out`, `on_message_out`,
`track_tp_end_offset`): about a tenth of the worker's time in the profile. This sensor
keeps every metric it has, with the same names, but per message it only stores the read
and end offsets and counts per topic in plain dicts; they are published to the Prometheus
metrics when /metrics is scraped. Per-batch and rare metrics (commits, rebalances,
assignments, sends, web requests) are Faust's own code, unchanged. Dropped: the gauges of
messages and events in flight and the per-event runtime histogram (per-event timing).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import faust
from aiohttp.web import Response
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from faust.web import Request, View
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


class LeanPrometheusMonitor(PrometheusMonitor):
    def __init__(self, metrics: FaustMetrics, **kwargs: Any) -> None:
        super().__init__(metrics, **kwargs)
        self._received: Counter[str] = Counter()  # topic -> messages since last publish
        self._read: dict[TP, int] = {}
        self._end: dict[TP, int] = {}

    # ---- per message and per event: dict updates only -----------------------------------
    def on_message_in(self, tp: TP, offset: int, message: Any) -> None:
        self._received[tp.topic] += 1
        self._read[tp] = offset

    def on_messages_in(self, tp: TP, count: int, last_offset: int) -> None:
        """A fetch's records of an input topic, counted once (the bulk consumer's)."""
        self._received[tp.topic] += count
        self._read[tp] = last_offset

    def on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: Any) -> None:
        return None

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        self._end[tp] = offset

    # ---- at scrape time ---------------------------------------------------------------------
    def publish(self) -> None:
        """Move what was counted per message into the Prometheus metrics."""
        m = self._metrics
        received, self._received = self._received, Counter()
        for topic, count in received.items():
            m.messages_received.inc(count)
            m.total_events.inc(count)
            m.messages_received_per_topics.labels(topic=topic).inc(count)
        for tp, offset in list(self._read.items()):
            m.messages_received_per_topics_partition.labels(
                topic=tp.topic, partition=tp.partition
            ).set(offset)
        for tp, offset in list(self._end.items()):
            m.topic_partition_end_offset.labels(topic=tp.topic, partition=tp.partition).set(offset)

    def _clear_partition_related_metrics(self) -> None:
        super()._clear_partition_related_metrics()
        self._read.clear()
        self._end.clear()


def setup_lean_prometheus_sensors(app: faust.App, pattern: str = "/metrics") -> None:
    """As Faust's `setup_prometheus_sensors(app, pattern, name_prefix="faust")`, leaner."""
    monitor = LeanPrometheusMonitor(metrics=FaustMetrics.create(REGISTRY, "faust"))
    app.monitor = monitor

    @app.page(pattern)
    async def metrics(self: View, request: Request) -> Response:
        monitor.publish()
        body = generate_latest(REGISTRY)
        return Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST}, status=200)
