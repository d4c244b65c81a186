"""``counter-service``: consumer and HTTP API in one process (contract section 3).

Settings are read here, once; SIGTERM/SIGINT stop gracefully (finish the batch,
make its changelog records applied, commit, leave the group, deregister).
Exit codes: 0 stopped cleanly, 1 a dependency failed, 2 bad settings,
3 local state cannot be rebuilt exactly (refusing to serve low counts).
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from counter_service.service import CounterService
from counter_service.state import StateDamagedError
from services import logs
from services.errors import CDError, InvalidInputError
from services.settings import CounterSettings, load

log = logging.getLogger("counter_service")


def main(argv: list[str] | None = None) -> int:
    del argv  # everything comes from CD_ settings
    try:
        settings = load(CounterSettings)
    except InvalidInputError as exc:
        print(f"counter-service: bad setting {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, json=settings.log_json)
    service = CounterService(settings)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the current batch", signal.Signals(signum).name)
        service.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        service.start()
        log.info("counter-service %s serving on %s", settings.counter_instance, settings.url)
        service.run()
    except StateDamagedError as exc:
        log.error("refusing to start: %s", exc)
        return 3
    except CDError as exc:
        if service.stopping.is_set():
            log.info("stopped during start-up: %s", exc)
            return 0
        log.error("counter-service failed: %s", exc, exc_info=True)
        return 1
    finally:
        service.stop()
    log.info("stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
