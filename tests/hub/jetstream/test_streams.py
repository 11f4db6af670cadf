"""The stream registry's definitions, checked without a server."""

from __future__ import annotations

from hub.audit.streams import AUDIT_STREAM, CHECKPOINT_STREAM, WITNESS_STREAM, weaknesses
from hub.config import HubSettings
from hub.jetstream.streams import audit_stream_configs, stream_configs


def test_the_audit_streams_are_defined_with_the_registry_and_keep_every_entry() -> None:
    settings = HubSettings(nats_url="nats://unused", streams={"replicas": 3})
    configs = audit_stream_configs(settings)
    assert [c.name for c in configs] == [AUDIT_STREAM, CHECKPOINT_STREAM, WITNESS_STREAM]
    # The witnesses' stream takes their cosignatures and refusals, never their requests.
    assert configs[2].subjects == ["enlace.witness.*.cosigned", "enlace.witness.*.refused"]
    for config in configs:
        assert config.num_replicas == 3
        assert weaknesses(config, replicas=3) == []
    # A stream of fewer replicas than the deployment asks is a weakness, not a match.
    assert weaknesses(configs[0], replicas=5) == ["num_replicas is 3, the deployment asks 5"]


def test_the_hub_streams_never_take_the_audit_streams_names() -> None:
    settings = HubSettings(nats_url="nats://unused")
    hub_names = {c.name for c in stream_configs(settings, ["GT", "US"])}
    assert not hub_names & {c.name for c in audit_stream_configs(settings)}
