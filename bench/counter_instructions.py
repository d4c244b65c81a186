"""Instructions per bad event on the counter's dead-letter path, under valgrind.

Usage: ``python -m bench.counter_instructions [--events 3000]``

The counter's rate with bad events swings by a third between runs on a shared
machine; the instructions its loop spends per event do not. For each reason a
bad event can be refused for (and for a clean event, as the yardstick), a child
process validates ``--events`` such events once and then twice under valgrind's
callgrind, and the difference, divided by ``--events``, is one event's cost:
start-up, imports and building the events fall out. ``letter`` is building one
dead letter from a refused event the way the consume loop does (headers,
source, timestamp), without sending it. ``send`` is building and sending it
the way the loop does (:class:`~counter_service.outbox.Outbox`) to a real Tansu
broker, and waiting for its delivery report: librdkafka's threads count, the
broker (another process) does not.
Needs Debian's ``valgrind`` package (``make bench-tools``).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.counter_load import BAD_EVENTS, make_stream
from counter_service.events import Rejection, Validator
from counter_service.service import settle_heap
from services.kafka import TopicSpec, ensure_topics
from services.local.tansu import TansuBroker

REPO = Path(__file__).resolve().parent.parent
NOW_MS = 1_796_176_243_821
RETENTION_MS = 192 * 3600 * 1000
KINDS = ["clean", *BAD_EVENTS, "letter", "send"]


def child(kind: str, events: int, repeats: int, bootstrap: str | None) -> None:
    """The measured work, ``repeats`` times over the same ``events`` events."""
    rng = random.Random(1)
    if kind in BAD_EVENTS:
        values = [BAD_EVENTS[kind](rng, NOW_MS) for _ in range(events)]
    else:
        values = make_stream(events, NOW_MS, 0.0).values
    times = [NOW_MS] * len(values)
    validator = Validator(bucket_seconds=60, retention_ms=RETENTION_MS)
    validator.batch(values[:10], times[:10])  # names seen once, as in a running service
    if kind in ("letter", "send"):
        letters_of, batch, rejections = letter_builder(values)
    if kind == "send":
        assert bootstrap is not None, "send needs a broker"
        outbox = sending_outbox(bootstrap)
    settle_heap()  # the service's collector settings
    for _ in range(repeats):
        if kind == "send":
            outbox.add(PLACEHOLDER, letters_of(batch, rejections), 1)
            outbox.drain()
        elif kind == "letter":
            letters_of(batch, rejections)
        else:
            validator.batch(values, times)


LetterBuild = Callable[[list[Any], list[Rejection]], Any]
DLQ = "bench.dlq"
PLACEHOLDER = object()  # the changelog record the outbox holds: never written here


def sending_outbox(bootstrap: str) -> Any:
    """The consume loop's outbox with a real producer, warmed up (connection, metadata)."""
    from counter_service.outbox import Outbox
    from services.kafka import make_producer, producer_config
    from services.retry import Retry

    producer = make_producer(producer_config(bootstrap))
    producer.produce(DLQ, b"warm-up")
    producer.flush(30)
    return Outbox(producer, DLQ, lambda _record: None, Retry(attempts=8, deadline=60.0))


def letter_builder(values: list[bytes]) -> tuple[LetterBuild, list[Any], list[Rejection]]:
    from confluent_kafka import Message

    from counter_service.processor import Processor

    batch = [
        Message(
            topic="homefeed.impressions",
            partition=1,
            offset=1_000_000 + i,
            key=b"u-%d" % (i % 977),
            value=value,
            timestamp=(1, NOW_MS),
        )
        for i, value in enumerate(values)
    ]
    rejections = [Rejection(i, "bad_name", "content_type: 'Video'") for i in range(len(values))]
    # _dead_letters reads nothing of the processor: the loop's own code, unbound.
    return (lambda b, r: Processor._dead_letters(None, b, r)), batch, rejections  # type: ignore[arg-type]


def instructions(kind: str, events: int, repeats: int, bootstrap: str) -> int:
    """What callgrind counts for the whole child process."""
    argv = [sys.executable, "-m", "bench.counter_instructions", "--child", kind]
    argv += ["--bootstrap", bootstrap]
    sizes = ["--events", str(events), "--repeats", str(repeats)]
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv, *sizes],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"no count from valgrind:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--kinds", default=",".join(KINDS), help="which rows, comma-separated")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.events, args.repeats, args.bootstrap)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind: `make bench-tools` installs it")
    kinds = args.kinds.split(",")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise SystemExit(f"--kinds: unknown {sorted(unknown)}; known: {', '.join(KINDS)}")
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
        broker = TansuBroker(Path(tmp) / "tansu")
        broker.start()  # for "send"; the other kinds never connect
        try:
            ensure_topics(broker.bootstrap, [TopicSpec(DLQ, 4)])
            table(kinds, args.events, broker.bootstrap)
        finally:
            broker.stop()


def table(kinds: list[str], events: int, bootstrap: str) -> None:
    print(f"instructions per event ({events} events, twice minus once, under callgrind)")
    print("| event | instructions |")
    print("| --- | --- |")
    for kind in kinds:
        once = instructions(kind, events, 1, bootstrap)
        twice = instructions(kind, events, 2, bootstrap)
        print(f"| {kind} | {(twice - once) / events:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
