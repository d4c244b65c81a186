"""``counter-service``: consumer and HTTP API in one process (contract section 3).

Settings are read here, once; SIGTERM/SIGINT stop gracefully (finish the batch,
make its changelog records applied, commit, leave the group, deregister).
Exit codes: 0 stopped cleanly, 1 a dependency failed (or the stop could not
finish within ``CD_COUNTER_STOP_GRACE_SECONDS``), 2 bad settings (including an
internal topic whose settings exact counting cannot use, or another live
instance registered under ``CD_COUNTER_INSTANCE``), 3 local state cannot
be rebuilt exactly (refusing to serve low counts), or a gap appeared in the
changelog while running (the next start continues from a snapshot or rebuilds).

The stop is bounded because its waits (flush, fence, commit, leaving the group,
deregistering) have no useful end while the broker or ZooKeeper is unreachable,
and cutting them short is safe: exactness never rests on a clean stop, only on
the changelog (a restart after ``kill -9`` is exact too).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType

from counter_service.registry import RegistrationClashError
from counter_service.restore import ChangelogGapError
from counter_service.service import CounterService
from counter_service.state import StateDamagedError
from counter_service.topics import TopicMismatchError
from services import logs
from services.errors import CDError, InvalidInputError
from services.server_cli import parse_server_args
from services.settings import CounterSettings, load

log = logging.getLogger("counter_service")


def _exit_after(seconds: float) -> None:
    """Leave the process after ``seconds`` even if the main thread is blocked in C."""

    def expire() -> None:
        log.error(
            "graceful stop took over %g s (broker or ZooKeeper unreachable?): exiting now; "
            "the next start resumes exactly from the changelog",
            seconds,
        )
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()


HELP = """Count impressions from Kafka per experiment group, minute and content type,
exactly once, and answer GET /v1/counts for the controller.

Exit codes: 0 stopped cleanly, 1 a dependency failed, 2 bad settings or a name
clash, 3 local state cannot be rebuilt exactly.

Examples:
  CD_COUNTER_PORT=8081 CD_KAFKA_BOOTSTRAP=kafka:9092 CD_ZK_HOSTS=zk:2181 counter-service
  CD_COUNTER_INSTANCE=counter-2 CD_COUNTER_PORT=8082 counter-service"""


def main(argv: list[str] | None = None) -> int:
    parse_server_args("counter-service", HELP, sys.argv[1:] if argv is None else argv)
    try:
        settings = load(CounterSettings)
    except InvalidInputError as exc:
        print(f"counter-service: bad setting {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, json=settings.log_json)
    service = CounterService(settings)
    _stop_on_signals(service, settings.counter_stop_grace_seconds)
    return _serve(service, settings)


def _stop_on_signals(service: CounterService, grace_seconds: float) -> None:
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if service.stopping.is_set():
            log.warning("second signal %s: exiting without finishing the stop", name)
            os._exit(1)
        log.info("signal %s: stopping after the current batch", name)
        service.stopping.set()
        _exit_after(grace_seconds)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _serve(service: CounterService, settings: CounterSettings) -> int:
    """Start, then run until stopped; the process's exit code."""
    try:
        service.start()
        log.info("counter-service %s serving on %s", settings.counter_instance, settings.url)
        service.run()
    except ChangelogGapError as exc:
        log.error("stopping (exit 3): %s; start again to recover", exc)
        return 3
    except StateDamagedError as exc:
        log.error("refusing to start: %s", exc)
        return 3
    except (RegistrationClashError, TopicMismatchError) as exc:
        log.error("refusing to start: %s", exc)
        return 2
    except CDError as exc:
        if service.stopping.is_set():
            log.info("stopped during start-up: %s", exc)
            return 0
        log.error("counter-service failed: %s", exc, exc_info=True)
        return 1
    finally:
        if not service.stopping.is_set():  # a failure, not a signal: bound this stop too
            _exit_after(settings.counter_stop_grace_seconds)
        service.stop()
    log.info("stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
