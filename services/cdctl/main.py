"""Argument parsing and dispatch. Exit codes: 0 done, 1 refused or failed, 2 usage."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from services import logs
from services.cdctl import controller, render
from services.cdctl.targets import apply_edit, parse_assignments, set_targets, unset_targets
from services.docstore import read_constants, read_targets
from services.documents import dump_document
from services.errors import CDError, InvalidInputError
from services.ledger import read_history
from services.settings import CommonSettings, load
from services.zk import ZkStore

Handler = Callable[[ZkStore, argparse.Namespace], int]


def _targets_show(store: ZkStore, args: argparse.Namespace) -> int:
    doc = read_targets(store).doc
    if args.json:
        print(dump_document(doc, drop_none=True).decode())
    elif not doc.policies:
        print("no targets set")
    else:
        render.print_table(render.targets_table(doc))
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    gains = {k: getattr(args, k) for k in ("kp", "ki", "kd") if getattr(args, k) is not None}
    bounds = {
        k: getattr(args, f"u_{k}") for k in ("min", "max") if getattr(args, f"u_{k}") is not None
    }
    return {name: values for name, values in (("gains", gains), ("bounds", bounds)) if values}


def _targets_set(store: ZkStore, args: argparse.Namespace) -> int:
    edit = set_targets(args.policy, parse_assignments(args.assignments), _overrides(args))
    doc = apply_edit(store, edit)
    render.print_table(render.targets_table(doc))
    return 0


def _targets_unset(store: ZkStore, args: argparse.Namespace) -> int:
    doc = apply_edit(store, unset_targets(args.policy, args.types))
    render.print_table(render.targets_table(doc))
    return 0


def _constants_show(store: ZkStore, args: argparse.Namespace) -> int:
    read = read_constants(store)
    if read is None:
        print("no constants published yet")
        return 0
    if args.json:
        print(orjson.dumps(read.doc.model_dump(mode="json", by_alias=True)).decode())
    else:
        render.print_table(render.constants_table(read.doc, datetime.now(UTC)))
    return 0


def _history(store: ZkStore, args: argparse.Namespace) -> int:
    """The readable generations; each unreadable one named on stderr, and exit 1."""
    entries, refused = read_history(store, args.limit)
    render.print_table(controller.history_table(entries))
    for exc in refused:
        print(f"cdctl: unreadable history entry, left out: {exc}", file=sys.stderr)
    return 1 if refused else 0


def _rollback(store: ZkStore, args: argparse.Namespace) -> int:
    def warn(message: str) -> None:
        print(f"cdctl: {message}", file=sys.stderr)

    generation = controller.rollback(store, args.generation, warn)
    print(f"restored generation {args.generation} as generation {generation}")
    return 0


def _pause(store: ZkStore, args: argparse.Namespace) -> int:
    if not args.reason.strip():
        raise InvalidInputError("--reason", "must not be empty")
    print(controller.pause(store, args.reason))
    return 0


def _resume(store: ZkStore, _: argparse.Namespace) -> int:
    print(controller.resume(store))
    return 0


def _add_controller_commands(area: Any) -> None:
    ctl = area.add_parser("controller", help="pause or resume the controller").add_subparsers(
        dest="action", required=True
    )
    pause = ctl.add_parser("pause", help="freeze the constants: runs write nothing")
    pause.add_argument("--reason", required=True)
    pause.set_defaults(handler=_pause)
    ctl.add_parser("resume", help="let runs write again").set_defaults(handler=_resume)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdctl", description=__doc__)
    parser.add_argument("--zk-hosts", help="override CD_ZK_HOSTS")
    parser.add_argument("--zk-root", help="override CD_ZK_ROOT")
    area = parser.add_subparsers(dest="area", required=True)

    targets = area.add_parser("targets", help="target shares per policy").add_subparsers(
        dest="action", required=True
    )
    show = targets.add_parser("show", help="print the targets")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_targets_show)
    tset = targets.add_parser("set", help="set POLICY's target shares, TYPE=SHARE ...")
    tset.add_argument("policy")
    tset.add_argument("assignments", nargs="+", metavar="TYPE=SHARE")
    for gain in ("kp", "ki", "kd"):
        tset.add_argument(f"--{gain}", type=float, help=f"per-policy {gain} override")
    tset.add_argument("--u-min", type=float, help="per-policy lower bound of the constants")
    tset.add_argument("--u-max", type=float, help="per-policy upper bound of the constants")
    tset.set_defaults(handler=_targets_set)
    unset = targets.add_parser("unset", help="remove types of POLICY (all when none given)")
    unset.add_argument("policy")
    unset.add_argument("types", nargs="*", metavar="TYPE")
    unset.set_defaults(handler=_targets_unset)

    constants = area.add_parser("constants", help="published constants").add_subparsers(
        dest="action", required=True
    )
    cshow = constants.add_parser("show", help="print the constants in use, with diagnostics")
    cshow.add_argument("--json", action="store_true")
    cshow.set_defaults(handler=_constants_show)
    hist = constants.add_parser("history", help="generations, newest first")
    hist.add_argument("--limit", type=int, default=24)
    hist.set_defaults(handler=_history)
    back = constants.add_parser("rollback", help="restore GENERATION as a new generation")
    back.add_argument("generation", type=int)
    back.set_defaults(handler=_rollback)
    _add_controller_commands(area)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load(CommonSettings, zk_hosts=args.zk_hosts, zk_root=args.zk_root)
        logs.configure("WARNING")
        store = ZkStore.from_settings(settings)
        with store.start():
            handler: Handler = args.handler
            return handler(store, args)
    except InvalidInputError as exc:
        print(f"cdctl: refused: {exc}", file=sys.stderr)
        return 1
    except CDError as exc:
        print(f"cdctl: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
