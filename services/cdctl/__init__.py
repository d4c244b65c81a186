"""``cdctl``: the operators' command line (contract section 7)."""

from services.cdctl.main import main

__all__ = ["main"]
