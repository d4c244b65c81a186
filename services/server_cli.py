"""The command line of a server that takes all its settings from ``CD_`` variables.

``blender --help`` used to start a server on port 8080: an operator asking how
to configure it got a running process instead. A server now answers ``--help``
and refuses any argument (exit 2) before it reads a setting or opens a port.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def parse_server_args(prog: str, description: str, argv: Sequence[str] | None) -> None:
    """Print help and exit 0 for ``-h``; exit 2 naming an unknown argument."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Every setting is a CD_ environment variable (or a line of ./.env);\n"
            "the README's settings table lists them with their defaults."
        ),
    )
    parser.parse_args(argv)
