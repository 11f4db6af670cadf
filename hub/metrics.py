"""Prometheus metrics of the hub, in a registry of its own (no module-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

__all__ = ["HubMetrics"]


class HubMetrics:
    """Counters and histograms the pipeline updates; ``serve`` exposes them over HTTP."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        # The labelled children the pipeline counts on for every message, found once:
        # ``labels()`` takes a lock and checks its values on every call. As many as the
        # counters' own children (recipients × views, statuses × reasons), no more.
        self._children: dict[tuple[int | str, ...], Counter] = {}
        self.messages = Counter(
            "enlace_messages",
            "Messages handled by the hub, by outcome status and reason code",
            ["status", "reason"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "enlace_deliveries",
            "Deliveries persisted on DELIVERY, by recipient and view kind",
            ["recipient", "view"],
            registry=self.registry,
        )
        self.handle_seconds = Histogram(
            "enlace_handle_seconds",
            "Time from fetch to ack of one INGRESS message",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.errors = Counter(
            "enlace_pipeline_errors",
            "Messages left unacked for redelivery after an internal error",
            ["error"],
            registry=self.registry,
        )
        self.pulled = Counter(
            "enlace_pulled",
            "Messages fetched by the hub's pull loops, by loop (its stream)",
            ["loop"],
            registry=self.registry,
        )
        self.pull_failures = Counter(
            "enlace_pull_failures",
            "Failed fetches and batches of the hub's pull loops, by loop and stage",
            ["loop", "stage"],
            registry=self.registry,
        )
        self.receipts = Counter(
            "enlace_receipts",
            "Sink receipts read by the hub, by what they became on the audit record",
            ["outcome"],
            registry=self.registry,
        )

    def delivered(self, recipient: str, full: bool) -> None:
        """Count one persisted delivery to ``recipient`` (a full view or a redacted one)."""
        self._child(self.deliveries, recipient, "full" if full else "view").inc()

    def handled(self, status: str, reason: str, seconds: float) -> None:
        """Count one message handled to the end, with how long it took.

        Args:
            status: the outcome's status (:class:`schemas.outcomes.OutcomeStatus`).
            reason: the outcome's reason code.
            seconds: from fetch to ack.
        """
        self._child(self.messages, status, reason).inc()
        self.handle_seconds.observe(seconds)

    def _child(self, counter: Counter, *labels: str) -> Counter:
        key: tuple[int | str, ...] = (id(counter), *labels)  # counters live as long as self
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(*labels)
        return child

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on ``host:port`` (a daemon thread)."""
        start_http_server(port, addr=host, registry=self.registry)
