"""``blender``: build the settings once, wire ZooKeeper and the cache, serve.

uvicorn handles SIGTERM by finishing in-flight requests and running the app's
lifespan shutdown, which closes the ZooKeeper session.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from blender.app import create_app
from blender.cache import ConstantsCache
from blender.constants_source import ZkConstantsSource
from blender.limits import Limits
from blender.sampling import sampler_from
from services import logs
from services.errors import InvalidInputError
from services.settings import BlenderSettings, load
from services.zk import ZkStore

log = logging.getLogger("blender")


def main() -> None:
    try:
        settings = load(BlenderSettings)
    except InvalidInputError as exc:
        print(f"blender: bad setting {exc}", file=sys.stderr)
        sys.exit(2)
    logs.configure(settings.log_level, json=settings.log_json)
    store = ZkStore.from_settings(settings)
    source = ZkConstantsSource(store, ConstantsCache(settings.blender_cache_path))
    app = create_app(
        source,
        limits=Limits(settings.blender_max_candidates, settings.blender_max_body_bytes),
        score_space=settings.score_space,
        sampler=sampler_from(settings, source.snapshot),
    )
    log.info(
        "blender on %s:%d, zookeeper %s%s, cache %s, sampling %g (at most %g/s) to %s",
        settings.blender_host,
        settings.blender_port,
        settings.zk_hosts,
        settings.zk_root,
        settings.blender_cache_path,
        settings.blender_sample_rate,
        settings.blender_samples_per_second,
        settings.samples_topic,
    )
    # Per-request access logs would cost more than a blend; errors are still logged.
    uvicorn.run(
        app,
        host=settings.blender_host,
        port=settings.blender_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,
    )


if __name__ == "__main__":
    main()
