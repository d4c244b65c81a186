"""``cdctl``: the operators' command line (contract section 7)."""

from cdctl.app import main

__all__ = ["main"]
