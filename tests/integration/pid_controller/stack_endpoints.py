"""Where a test stack's services listen, as ``cd-simulate --live`` needs them."""

from __future__ import annotations

from pid_controller.simulator.live_stack import Endpoints
from services.local.stack import Ports


def stack_endpoints(p: Ports, counter: int = 0) -> Endpoints:
    """``counter``: which counter instance to read counts from (any one answers)."""
    return Endpoints(
        blender_url=f"http://127.0.0.1:{p.blender}",
        counter_url=f"http://127.0.0.1:{p.counters[counter]}",
        kafka_bootstrap=f"127.0.0.1:{p.kafka}",
        topic="homefeed.impressions",
        zk_hosts=f"127.0.0.1:{p.zookeeper}",
        zk_root="/controllable-distribution",
    )
