"""kernel.messaging's stream layout, without a server."""

from __future__ import annotations

from nats.js.api import StreamConfig

from kernel.messaging import placed
from kernel.settings import StreamLayout


def test_the_layout_is_put_on_a_stream_config() -> None:
    single = placed(StreamConfig(name="S"), StreamLayout())
    assert single.num_replicas == 1 and single.placement is None
    spread = placed(StreamConfig(name="S"), StreamLayout(3, "entraide", ("zone-a",)))
    assert spread.num_replicas == 3
    assert spread.placement is not None
    assert spread.placement.cluster == "entraide" and spread.placement.tags == ["zone-a"]
