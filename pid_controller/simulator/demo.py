"""``make demo``: start the local stack, run ``blog-video`` live on it, show the result,
stop everything (also on Ctrl-C or a failure). State lives under ``.local/demo``.

Then the predictive loop beside the PID one, in process on the same draws (the
same seeds, requests and candidates as the live run), in one picture:
``predictive-vs-pid.png``."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console

from pid_controller.simulator import cli
from pid_controller.simulator.engine import simulate
from pid_controller.simulator.plot import plot_convergence
from pid_controller.simulator.scenario import load_scenario
from pid_controller.simulator.tables import results_table
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
    if code != 0:
        return code
    picture = compare(home / "out")
    print(
        f"demo: done in {time.monotonic() - started:.0f} s; pictures: "
        f"{home / 'out' / 'convergence.png'} (live), {picture} (predictive beside PID)"
    )
    return 0


def compare(out: Path) -> Path:
    """The predictive and the PID loop on the live run's draws, in one picture."""
    scenario = load_scenario("blog-video").model_copy(
        update={"hours": HOURS, "requests_per_hour": REQUESTS_PER_HOUR}
    )
    print("demo: the same draws in process, predictive beside PID", flush=True)
    runs = [simulate(scenario, "predictive"), simulate(scenario, "pid")]
    Console(width=160).print(results_table(runs))
    picture = out / "predictive-vs-pid.png"
    plot_convergence(runs, picture)
    return picture


if __name__ == "__main__":
    sys.exit(main())
