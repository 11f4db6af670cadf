"""The hub's counters: each message and delivery counted under its own labels."""

from __future__ import annotations

from hub.metrics import HubMetrics


def _value(metrics: HubMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_each_delivery_and_message_counts_under_its_own_labels() -> None:
    metrics = HubMetrics()
    for _ in range(3):
        metrics.delivered("SV", True)
    metrics.delivered("SV", False)
    metrics.delivered("HN", False)
    metrics.handled("accepted", "", 0.002)
    metrics.handled("accepted", "", 0.003)
    metrics.handled("rejected", "bad_signature", 0.001)

    assert _value(metrics, "enlace_deliveries_total", recipient="SV", view="full") == 3
    assert _value(metrics, "enlace_deliveries_total", recipient="SV", view="view") == 1
    assert _value(metrics, "enlace_deliveries_total", recipient="HN", view="view") == 1
    assert _value(metrics, "enlace_deliveries_total", recipient="HN", view="full") is None
    assert _value(metrics, "enlace_messages_total", status="accepted", reason="") == 2
    assert _value(metrics, "enlace_messages_total", status="rejected", reason="bad_signature") == 1
    assert _value(metrics, "enlace_handle_seconds_count") == 3


def test_two_hubs_in_one_process_count_apart() -> None:
    one, other = HubMetrics(), HubMetrics()
    one.delivered("SV", True)
    assert _value(other, "enlace_deliveries_total", recipient="SV", view="full") is None
    assert _value(one, "enlace_deliveries_total", recipient="SV", view="full") == 1
