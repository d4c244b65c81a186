"""``blender``: build the settings once, wire ZooKeeper and the cache, serve.

The stack is uvicorn on uvloop with httptools' C parser, chosen by measurement
(README, Benchmarks); both are asked for by name so a broken install fails at
start instead of silently serving at half the rate. uvicorn handles SIGTERM by
finishing in-flight requests and running the app's lifespan shutdown, which
closes the ZooKeeper session.

With ``CD_BLENDER_WORKERS`` above 1, uvicorn's supervisor starts that many worker
processes on one listening socket; each builds its own app (:func:`worker_app`)
with its own ZooKeeper watch, and they share the cache file and, through
Prometheus' multiprocess mode, the request metrics.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from blender.app import create_app
from blender.cache import ConstantsCache
from blender.constants_source import ZkConstantsSource
from blender.limits import Limits
from blender.sampling import sampler_from
from services import logs
from services.errors import InvalidInputError
from services.server_cli import parse_server_args
from services.settings import BlenderSettings, load
from services.zk import ZkStore

log = logging.getLogger("blender")
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def _settings() -> BlenderSettings:
    try:
        return load(BlenderSettings)
    except InvalidInputError as exc:
        print(f"blender: bad setting {exc}", file=sys.stderr)
        sys.exit(2)


def build_app(settings: BlenderSettings, metrics_dir: Path | None) -> FastAPI:
    store = ZkStore.from_settings(settings)
    source = ZkConstantsSource(store, ConstantsCache(settings.blender_cache_path))
    return create_app(
        source,
        limits=Limits(settings.blender_max_candidates, settings.blender_max_body_bytes),
        score_space=settings.score_space,
        sampler=sampler_from(settings, source.snapshot),
        metrics_dir=metrics_dir,
    )


def worker_app() -> FastAPI:
    """One worker process's app: uvicorn calls this in each process it starts."""
    settings = _settings()
    logs.configure(settings.log_level, json=settings.log_json)
    # Each worker samples on its own: its share keeps the configured total cap.
    share = settings.blender_samples_per_second / settings.blender_workers
    settings = settings.model_copy(update={"blender_samples_per_second": share})
    return build_app(settings, Path(os.environ[METRICS_DIR_VARIABLE]))


def _metrics_dir() -> tuple[Path, bool]:
    """The multiprocess metrics directory, emptied; and whether it is ours to remove.

    An operator may name one (``PROMETHEUS_MULTIPROC_DIR``, e.g. a tmpfs volume);
    files left by an earlier run would add its counts to ours, so they go.
    """
    given = os.environ.get(METRICS_DIR_VARIABLE)
    if not given:
        path = Path(tempfile.mkdtemp(prefix="blender-metrics-"))
        os.environ[METRICS_DIR_VARIABLE] = str(path)
        return path, True
    path = Path(given)
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink()
    return path, False


HELP = """Serve POST /v1/blend: add each content type's normalization constant to
the ranking score and re-sort, with the constants followed from ZooKeeper
(a local cache file keeps them across a restart while ZooKeeper is down).

Examples:
  CD_BLENDER_PORT=8080 CD_ZK_HOSTS=zk:2181 blender
  CD_BLENDER_WORKERS=2 CD_BLENDER_SAMPLE_RATE=0.01 blender"""


def main(argv: Sequence[str] | None = None) -> None:
    parse_server_args("blender", HELP, sys.argv[1:] if argv is None else argv)
    settings = _settings()
    logs.configure(settings.log_level, json=settings.log_json)
    log.info(
        "blender on %s:%d, %d worker(s), zookeeper %s%s, cache %s, "
        "sampling %g (at most %g/s) to %s",
        settings.blender_host,
        settings.blender_port,
        settings.blender_workers,
        settings.zk_hosts,
        settings.zk_root,
        settings.blender_cache_path,
        settings.blender_sample_rate,
        settings.blender_samples_per_second,
        settings.samples_topic,
    )
    # Per-request access logs would cost more than a blend; errors are still logged.
    options: dict[str, Any] = {
        "host": settings.blender_host,
        "port": settings.blender_port,
        "loop": "uvloop",
        "http": "httptools",
        "ws": "none",
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "log_config": None,
    }
    if settings.blender_workers == 1:
        uvicorn.run(build_app(settings, None), **options)
        return
    metrics_dir, ours = _metrics_dir()
    try:
        uvicorn.run(
            "blender.cli:worker_app", factory=True, workers=settings.blender_workers, **options
        )
    finally:
        if ours:
            shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
