"""One pydantic-settings ``Settings`` class per service (contract section 9).

Each service builds its settings exactly once, at start-up, and passes the
values it needs down as explicit arguments: library code never reads the
environment. Defaults run against the local stack with no settings at all.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.errors import InvalidInputError

ScoreSpace = Literal["log", "linear"]
S = TypeVar("S", bound=BaseSettings)


class CommonSettings(BaseSettings):
    """What every process needs: where ZooKeeper and Kafka are, how to log."""

    model_config = SettingsConfigDict(
        env_prefix="CD_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    zk_hosts: str = "localhost:2181"
    zk_root: str = "/controllable-distribution"
    zk_auth: str | None = Field(default=None, description="user:password for digest auth")
    zk_timeout_seconds: float = Field(default=10.0, gt=0)
    kafka_bootstrap: str = "localhost:9092"
    kafka_topic: str = "homefeed.impressions"
    dlq_topic: str = "homefeed.impressions.dlq"
    samples_topic: str = "homefeed.blend-samples"
    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("zk_root")
    @classmethod
    def _root_is_absolute(cls, value: str) -> str:
        if not value.startswith("/") or (len(value) > 1 and value.endswith("/")):
            raise ValueError("must be an absolute znode path without a trailing slash")
        return value

    @field_validator("zk_auth")
    @classmethod
    def _auth_has_user_and_password(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        user, sep, password = value.partition(":")
        if not sep or not user or not password:
            raise ValueError("must be user:password")
        return value


class BlenderSettings(CommonSettings):
    blender_host: str = "0.0.0.0"
    blender_port: int = Field(default=8080, ge=0, le=65535)
    score_space: ScoreSpace = "log"
    blender_max_candidates: int = Field(default=10_000, ge=1)
    blender_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    blender_cache_path: Path = Path("./data/blender/constants.cache.json")
    blender_workers: int = Field(default=1, ge=1, le=64)
    # Candidate sampling (contract section 10); either at 0 turns it off.
    blender_sample_rate: float = Field(default=0.01, ge=0, le=1, allow_inf_nan=False)
    blender_samples_per_second: float = Field(default=20.0, ge=0, allow_inf_nan=False)
    # Internals: samples waiting for the sender thread (more are dropped), the
    # samples topic's partitions when the blender creates it, how long a stop
    # may spend flushing.
    blender_samples_queue: int = Field(default=1000, ge=1)
    blender_samples_partitions: int = Field(default=3, ge=1)
    blender_samples_stop_seconds: float = Field(default=5.0, ge=0, allow_inf_nan=False)


class CounterSettings(CommonSettings):
    counter_host: str = "0.0.0.0"
    counter_port: int = Field(default=8081, ge=0, le=65535)
    counter_data_dir: Path = Path("./data/counter")
    counter_group_id: str = "counter-service"
    counter_instance: str = ""
    counter_bucket_seconds: int = Field(default=60, ge=1)
    counter_retention_hours: int = Field(default=192, ge=1)
    counter_advertised_host: str = ""
    # Internals: empty changelog topic means "<CD_KAFKA_TOPIC>.counter-changelog", so
    # two deployments sharing one broker never share a changelog.
    counter_changelog_topic: str = ""
    counter_changelog_partitions: int = Field(default=1, ge=1)
    counter_topic_replication: int = Field(default=1, ge=1)
    counter_batch_size: int = Field(default=10_000, ge=1, le=1_000_000)
    counter_fetch_backoff_ms: int = Field(default=10, ge=0)
    counter_allowed_lateness_seconds: int = Field(default=5, ge=0)
    # A snapshot of the live counts every so often bounds a fresh instance's restore
    # to one snapshot plus the changelog written since (counter_service/snapshot.py).
    counter_snapshot_seconds: float = Field(default=3600.0, gt=0)
    # Under Kubernetes' default 30 s grace period, so the service leaves by itself.
    counter_stop_grace_seconds: float = Field(default=25.0, gt=0)

    @property
    def changelog_topic(self) -> str:
        return self.counter_changelog_topic or f"{self.kafka_topic}.counter-changelog"

    @property
    def snapshot_topic(self) -> str:
        return f"{self.changelog_topic}.snapshots"

    @property
    def url(self) -> str:
        return f"http://{self.counter_advertised_host}:{self.counter_port}"

    @model_validator(mode="after")
    def _default_instance(self) -> CounterSettings:
        if not self.counter_instance:
            self.counter_instance = f"{socket.gethostname()}-{self.counter_port}"
        if not self.counter_advertised_host:
            self.counter_advertised_host = socket.gethostname()
        return self


MIN_INTERVAL_SECONDS = 60
# Log units. The largest move of any constant in one window across the shipped
# scenarios is under this (README, "Rate limit"), so the default never slows them.
DEFAULT_MAX_STEP = 2.0


class ControllerSettings(CommonSettings):
    # Read here too (the counter's setting): a window must be whole buckets.
    counter_bucket_seconds: int = Field(default=60, ge=1)
    controller_interval_seconds: int = Field(default=3600, ge=MIN_INTERVAL_SECONDS)
    controller_kp: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    controller_ki: float = Field(default=0.375, ge=0, allow_inf_nan=False)
    controller_kd: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    controller_u_min: float = Field(default=-5.0, allow_inf_nan=False)
    controller_u_max: float = Field(default=5.0, allow_inf_nan=False)
    controller_max_step: float = Field(default=DEFAULT_MAX_STEP, gt=0, allow_inf_nan=False)
    controller_min_impressions: int = Field(default=1000, ge=0)
    controller_max_wait_seconds: float = Field(default=300.0, ge=0)
    controller_delay_seconds: float = Field(default=30.0, ge=0)
    # Contract section 10: solve on candidate samples, or the PID step alone.
    controller_mode: Literal["predictive", "pid"] = "predictive"
    controller_min_samples: int = Field(default=50, ge=1)
    controller_default_slots: int = Field(default=25, ge=1)
    # Samples a window holds per experiment group when read and per policy when
    # solved (a uniform subsample beyond it): bounds memory and time.
    controller_sample_cap: int = Field(default=5000, ge=1)
    counter_urls: str = ""
    # Where `run` and `schedule` push their run metrics; unset: no push.
    pushgateway_url: str | None = None
    # Reading the window's candidate samples (pid_controller.samples_source; at most
    # CD_CONTROLLER_SAMPLE_CAP per experiment group): how late a sample may arrive
    # after the window, how long the read may take in all.
    controller_samples_grace_seconds: float = Field(default=10.0, ge=0, allow_inf_nan=False)
    controller_samples_timeout_seconds: float = Field(default=30.0, gt=0, allow_inf_nan=False)

    @field_validator("controller_interval_seconds")
    @classmethod
    def _whole_buckets(cls, value: int, info: ValidationInfo) -> int:
        bucket = info.data.get("counter_bucket_seconds")
        if bucket and value % bucket:
            raise ValueError(
                f"{value} s is not a multiple of CD_COUNTER_BUCKET_SECONDS ({bucket} s): "
                "a window must be whole counter buckets"
            )
        return value

    @model_validator(mode="after")
    def _check_bounds(self) -> ControllerSettings:
        if self.controller_u_min >= self.controller_u_max:
            raise ValueError("CD_CONTROLLER_U_MIN must be below CD_CONTROLLER_U_MAX")
        return self

    @property
    def counter_url_list(self) -> list[str]:
        return [u.strip().rstrip("/") for u in self.counter_urls.split(",") if u.strip()]


def load(cls: type[S], **overrides: object) -> S:
    """Build a settings object, turning pydantic's error into ours (naming CD_ variables).

    ``overrides`` (e.g. from command-line flags) win over the environment and
    go through the same validation.
    """
    try:
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        return cls(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "_".join(str(p) for p in first["loc"]).upper()
        field = f"CD_{loc}" if loc else cls.__name__  # a check across several settings
        raise InvalidInputError(field, first["msg"].removeprefix("Value error, ")) from exc
