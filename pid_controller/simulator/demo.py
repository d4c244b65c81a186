"""``make demo``: start the local stack, run ``blog-video`` live on it, show the result,
stop everything (also on Ctrl-C or a failure). State lives under ``.local/demo``."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from pid_controller.simulator import cli
from services.errors import CDError
from services.local.stack import running_stack

HOME = Path(".local/demo")
HOURS = 24
REQUESTS_PER_HOUR = 2000


def main() -> int:
    home = HOME.resolve()
    shutil.rmtree(home, ignore_errors=True)
    started = time.monotonic()
    print(f"demo: starting the local stack (logs under {home}/stack/logs)", flush=True)
    try:
        with running_stack(home / "stack") as stack:
            os.environ.update({k: v for k, v in stack.env.items() if k != "CD_BLENDER_PORT"})
            print(
                f"demo: blender status page while it runs: http://127.0.0.1:{stack.ports.blender}/"
            )
            print(
                f"demo: {HOURS} simulated hours of blog-video (video ~20% of the feed, "
                "target 15.5%) through blender, Kafka, counters and pid-controller",
                flush=True,
            )
            code = cli.main(
                [
                    "--scenario",
                    "blog-video",
                    "--live",
                    "--hours",
                    str(HOURS),
                    "--live-requests-per-hour",
                    str(REQUESTS_PER_HOUR),
                    "--blender-url",
                    f"http://127.0.0.1:{stack.ports.blender}",
                    "--out",
                    str(home / "out"),
                ]
            )
            print("demo: stopping the stack", flush=True)
    except KeyboardInterrupt:
        print("demo: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    except CDError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    if code == 0:
        print(
            f"demo: done in {time.monotonic() - started:.0f} s; "
            f"picture: {home / 'out' / 'convergence.png'}"
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
