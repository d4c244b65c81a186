"""What every command shares: the connection options, and how our errors become exit codes.

Exit codes (documented in the README): 0 done, 1 refused or failed (nothing written),
2 usage (click's own code for a bad command line).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, NoReturn

import typer

from services import logs
from services.errors import CDError, InvalidInputError
from services.settings import CommonSettings, load
from services.zk import ZkStore

EXIT_REFUSED = 1

JsonFlag = Annotated[
    bool,
    typer.Option("--json", help="Print JSON for scripts instead of a table."),
]


@dataclass(frozen=True)
class Connection:
    """The root options; None leaves the setting to CD_ZK_HOSTS / CD_ZK_ROOT."""

    zk_hosts: str | None = None
    zk_root: str | None = None
    verbose: bool = False


def say_error(message: str) -> None:
    print(f"cdctl: {message}", file=sys.stderr)


def fail(exc: CDError) -> NoReturn:
    if isinstance(exc, InvalidInputError):
        say_error(f"refused: {exc}")
    else:
        say_error(str(exc))
    raise typer.Exit(EXIT_REFUSED) from exc


def with_store(ctx: typer.Context, action: Callable[[ZkStore], int]) -> None:
    """Connect, run ``action``, disconnect; its return value is the exit code."""
    conn = ctx.find_object(Connection) or Connection()
    try:
        settings = load(CommonSettings, zk_hosts=conn.zk_hosts, zk_root=conn.zk_root)
        logs.configure("WARNING", libraries=logs.command_libraries(conn.verbose))
        store = ZkStore.from_settings(settings)
        with store.start():
            code = action(store)
    except CDError as exc:
        fail(exc)
    if code:
        raise typer.Exit(code)


def examples(*lines: str) -> str:
    """A command's epilog: one example per line (rich help joins single line breaks)."""
    return "\n\n".join(["Examples:", *lines])
