"""The ``cdctl`` command: the root options and its command groups."""

from __future__ import annotations

from typing import Annotated

import typer

from cdctl import constants_cli, controller_cli, targets_cli
from cdctl.context import Connection

app = typer.Typer(
    name="cdctl",
    help=(
        "Operate the controllable distribution: set target shares per policy and content "
        "type, read and roll back the constants the controller publishes, pause the controller. "
        "Talks to ZooKeeper (CD_ZK_HOSTS, CD_ZK_ROOT; writes authenticate with "
        "CD_ZK_AUTH=user:password where the znodes are protected). "
        "Bad input is refused with a message and changes nothing."
    ),
    epilog=(
        "Exit codes: 0 done; 1 refused or failed, nothing written; 2 bad command line.  "
        "Shell completion: cdctl --install-completion."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(targets_cli.app, name="targets")
app.add_typer(constants_cli.app, name="constants")
app.add_typer(controller_cli.app, name="controller")


@app.callback()
def connection(
    ctx: typer.Context,
    zk_hosts: Annotated[
        str | None,
        typer.Option(
            "--zk-hosts",
            metavar="HOST:PORT[,...]",
            help="ZooKeeper ensemble, instead of CD_ZK_HOSTS (default localhost:2181).",
        ),
    ] = None,
    zk_root: Annotated[
        str | None,
        typer.Option(
            "--zk-root",
            metavar="PATH",
            help="Root znode, instead of CD_ZK_ROOT (default /controllable-distribution).",
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Also show the ZooKeeper client's own warnings (connection retries).",
        ),
    ] = False,
) -> None:
    ctx.obj = Connection(zk_hosts, zk_root, verbose)


def main() -> None:
    app(prog_name="cdctl")
