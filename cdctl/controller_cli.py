"""``cdctl controller status | pause | resume``."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

from cdctl import operations
from cdctl.context import JsonFlag, examples, with_store
from services.errors import InvalidInputError
from services.zk import ZkStore

app = typer.Typer(
    help="Freeze the constants during an incident or an event, and let the controller go on.",
    no_args_is_help=True,
)


@app.command(
    "pause",
    help=(
        "Freeze the constants: until resumed, controller runs write nothing and say why. "
        "The blenders keep serving the current constants."
    ),
    epilog=examples('cdctl controller pause --reason "incident 123: feed outage"'),
)
def pause(
    ctx: typer.Context,
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            metavar="TEXT",
            help="Why, for the other operators: shown by the controller while paused.",
            show_default=False,
        ),
    ],
) -> None:
    def action(store: ZkStore) -> int:
        if not reason.strip():
            raise InvalidInputError("--reason", "must not be empty")
        print(operations.pause(store, reason))
        return 0

    with_store(ctx, action)


@app.command(
    "resume",
    help="Let controller runs write again, from the next window on.",
    epilog=examples("cdctl controller resume"),
)
def resume(ctx: typer.Context) -> None:
    with_store(ctx, lambda store: _print(operations.resume(store)))


def _print(message: str) -> int:
    print(message)
    return 0


@app.command(
    "status",
    help=(
        "Whether the controller is paused (since when, why), its last run and how it "
        "ended (written, unchanged, paused, failed), and the constants in use."
    ),
    epilog=examples("cdctl controller status", "cdctl controller status --json | jq .paused"),
)
def status(ctx: typer.Context, json: JsonFlag = False) -> None:
    def action(store: ZkStore) -> int:
        report = operations.controller_status(store)
        if json:
            print(orjson.dumps(report).decode())
        else:
            print("\n".join(operations.status_lines(report)))
        return 0

    with_store(ctx, action)
