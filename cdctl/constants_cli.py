"""``cdctl constants show | history | rollback``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import orjson
import typer

from cdctl import operations
from cdctl.context import JsonFlag, examples, say_error, with_store
from services import display, tables
from services.docstore import read_constants, read_paused
from services.ledger import read_history
from services.zk import ZkStore

app = typer.Typer(
    help=(
        "The normalization constants the controller publishes (one per policy and type), "
        "their history, and rollback."
    ),
    no_args_is_help=True,
)


@app.command(
    "show",
    help=(
        "Print the constants in use with why: target, share, error, P/I/D terms, "
        "saturation and held types."
    ),
    epilog=examples("cdctl constants show", "cdctl constants show --json | jq .generation"),
)
def show(ctx: typer.Context, json: JsonFlag = False) -> None:
    def action(store: ZkStore) -> int:
        read = read_constants(store)
        if json:
            doc = None if read is None else read.doc.model_dump(mode="json", by_alias=True)
            print(orjson.dumps(doc).decode())
            return 0
        paused = read_paused(store)
        if paused is not None:
            print(display.paused_notice(paused.reason, paused.since))
        if read is None:
            print("no constants published yet")
        else:
            tables.print_table(tables.constants_table(read.doc, datetime.now(UTC)))
        return 0

    with_store(ctx, action)


@app.command(
    "history",
    help=(
        "List the published generations, newest first: when, for which window, by whom, "
        "and what changed. An unreadable entry is named on stderr and left out (exit 1)."
    ),
    epilog=examples(
        "cdctl constants history --limit 5", "cdctl constants history --limit 0 --json"
    ),
)
def history(
    ctx: typer.Context,
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", min=0, metavar="N", help="Show the newest N; 0 shows all."),
    ] = 24,
    json: JsonFlag = False,
) -> None:
    def action(store: ZkStore) -> int:
        entries, refused = read_history(store, limit)
        if json:
            dumped = [e.model_dump(mode="json", by_alias=True) for e in entries]
            print(orjson.dumps(dumped).decode())
        else:
            tables.print_table(operations.history_table(entries))
        for exc in refused:
            say_error(f"unreadable history entry, left out: {exc}")
        return 1 if refused else 0

    with_store(ctx, action)


@app.command(
    "rollback",
    help=(
        "Publish GENERATION's constants again, with the controller state of that time, "
        "as a new generation; the controller continues from there at its next run. "
        "Also the way out of a damaged constants document."
    ),
    epilog=examples("cdctl constants history --limit 5", "cdctl constants rollback 17"),
)
def rollback(
    ctx: typer.Context,
    generation: Annotated[
        int,
        typer.Argument(
            metavar="GENERATION",
            help="The generation to restore, as listed by 'cdctl constants history'.",
            show_default=False,
        ),
    ],
) -> None:
    def action(store: ZkStore) -> int:
        new = operations.rollback(store, generation, say_error, unchanged=print)
        if new is not None:
            print(f"restored generation {generation} as generation {new}")
        return 0

    with_store(ctx, action)
