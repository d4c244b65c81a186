"""``cdctl targets show | set | unset``."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer

from cdctl import preview as previews
from cdctl.context import JsonFlag, examples, say_error, with_store
from pid_controller.learned import Learned, learned_of
from pid_controller.runner import previous_states
from services import tables
from services.docstore import read_targets
from services.documents import TargetsDocument, dump_document
from services.errors import CDError, InvalidInputError
from services.ledger import read_ledger
from services.settings import ControllerSettings, load
from services.target_edits import (
    apply_edit,
    clear_overrides,
    parse_assignments,
    set_targets,
    unset_targets,
)
from services.zk import ZkStore

app = typer.Typer(
    help=(
        "The target share of impressions per content type, for each A/B policy. "
        "The controller reads them at its next run."
    ),
    no_args_is_help=True,
)

PolicyArg = Annotated[
    str,
    typer.Argument(
        metavar="POLICY",
        help=(
            "The A/B policy (experiment group's policy) the targets apply to, e.g. default. "
            "Lower-case letters, digits, '_' and '-'."
        ),
        show_default=False,
    ),
]


def _gain(name: str) -> Any:
    return typer.Option(
        f"--{name}",
        metavar="GAIN",
        help=f"This policy's {name} instead of the controller's CD_CONTROLLER_{name.upper()}.",
        rich_help_panel="Per-policy controller overrides",
    )


def _bound(side: str) -> Any:
    return typer.Option(
        f"--u-{side}",
        metavar="CONSTANT",
        help=(
            f"This policy's {side}imum constant (log units) instead of "
            f"CD_CONTROLLER_U_{side.upper()}."
        ),
        rich_help_panel="Per-policy controller overrides",
    )


@app.command(
    "show",
    help="Print every policy's targets, with its gain and bound overrides.",
    epilog=examples("cdctl targets show", "cdctl targets show --json | jq .policies"),
)
def show(ctx: typer.Context, json: JsonFlag = False) -> None:
    def action(store: ZkStore) -> int:
        doc = read_targets(store).doc
        if json:
            print(dump_document(doc, drop_none=True).decode())
        elif not doc.policies:
            print("no targets set")
        else:
            tables.print_table(tables.targets_table(doc))
        return 0

    with_store(ctx, action)


@app.command(
    "set",
    help=(
        "Add or change targets of POLICY; its other types are kept. A new POLICY is "
        "created. A target is a share or a range: inside a range a type is not pushed, "
        "outside it is steered to the nearest bound. The policy's shares and range mins "
        "must sum to less than 1. Refused input changes nothing."
    ),
    epilog=examples(
        "cdctl targets set default video=0.04 fresh=0.10",
        "cdctl targets set default fresh>=0.10 product<=0.12 idea=0.2..0.3 video=0.04",
        "cdctl targets set default video=0.04 --max-step 0.5",
        "cdctl targets set video_heavy video=0.08 --kp 0.15 --ki 0.35 --kd 0",
        "cdctl targets set default video=0.04 --u-min -8 --u-max 8",
    ),
)
def set_(
    ctx: typer.Context,
    policy: PolicyArg,
    assignments: Annotated[
        list[str],
        typer.Argument(
            metavar="TARGET",
            help=(
                "A content type and its target share of the policy's impressions, "
                "a number in (0, 1): video=0.04 means 4% of impressions; or a range: "
                "fresh>=0.10 (at least 10%), product<=0.12 (at most 12%), "
                "idea=0.2..0.3 (between 20% and 30%). Quote > and < in a shell."
            ),
            show_default=False,
        ),
    ],
    kp: Annotated[float | None, _gain("kp")] = None,
    ki: Annotated[float | None, _gain("ki")] = None,
    kd: Annotated[float | None, _gain("kd")] = None,
    u_min: Annotated[float | None, _bound("min")] = None,
    u_max: Annotated[float | None, _bound("max")] = None,
    max_step: Annotated[
        float | None,
        typer.Option(
            "--max-step",
            metavar="LOG_UNITS",
            help=(
                "The most any constant of this policy moves in one window, instead of "
                "CD_CONTROLLER_MAX_STEP."
            ),
            rich_help_panel="Per-policy controller overrides",
        ),
    ] = None,
) -> None:
    gains = {k: v for k, v in (("kp", kp), ("ki", ki), ("kd", kd)) if v is not None}
    limits = (("min", u_min), ("max", u_max), ("max_step", max_step))
    bounds = {k: v for k, v in limits if v is not None}
    overrides = {name: v for name, v in (("gains", gains), ("bounds", bounds)) if v}

    def action(store: ZkStore) -> int:
        filled: dict[str, dict[str, float]] = {}
        defaults = controller_defaults() if overrides else None
        edit = set_targets(policy, parse_assignments(assignments), overrides, defaults, filled)
        doc = apply_edit(store, edit)
        for block, values in filled.items():
            print(filled_note(policy, block, values))
        tables.print_table(tables.targets_table(doc))
        _warn_unreachable(store, doc, policy)
        return 0

    with_store(ctx, action)


def _learned(store: ZkStore, policy: str) -> Learned:
    """What the controller has learned of ``policy`` (view depth, biases), from its state."""
    return learned_of(previous_states(read_ledger(store).state).get(policy, {}))


EXIT_OUT_OF_RANGE = 1
EXIT_BAD_INPUT = 2
SET_PREVIEW_SECONDS = 5.0  # ``set`` has written already: its check must not hold it up long


def _warn_unreachable(store: ZkStore, doc: TargetsDocument, policy: str) -> None:
    """After ``set``: the preview's warning for targets out of reach (never fails the set)."""
    try:
        settings = load(ControllerSettings)
        if not previews.broker_reachable(settings.kafka_bootstrap):
            print(f"(targets not checked: no Kafka broker at {settings.kafka_bootstrap})")
            return
        span = previews.last_window(settings)
        timeout = min(SET_PREVIEW_SECONDS, settings.controller_samples_timeout_seconds)
        window = previews.read_window(settings, span, timeout)
        known = _learned(store, policy)
        problems = previews.preview(doc, policy, window, span, settings, known).out_of_range()
    except CDError as exc:
        print(f"(targets not checked against the last window's samples: {exc})")
        return
    for line in problems:
        print(f"warning: {line}")


@app.command(
    "preview",
    help=(
        "Print, without writing anything, what TYPE=SHARE targets for POLICY would do on "
        "the last full window's candidate samples: the constants they need, the predicted "
        "share of every type (as it will be measured, with how deep users look and what the "
        "controller has learned), each targeted type's reachable range within the bounds, and "
        "the cost (the drop in expected engagement of the shown slots). The policy's other "
        "targets are kept, as 'set' would. Exit 1 when a target is outside its reachable "
        "range, 2 on bad input."
    ),
    epilog=examples(
        "cdctl targets preview default video=0.15",
        "cdctl targets preview video_heavy video=0.08 fresh=0.1 --json",
    ),
)
def preview(
    ctx: typer.Context,
    policy: PolicyArg,
    assignments: Annotated[
        list[str],
        typer.Argument(
            metavar="TYPE=SHARE",
            help="A content type and the target share to try, e.g. video=0.15.",
            show_default=False,
        ),
    ],
    json: JsonFlag = False,
) -> None:
    def action(store: ZkStore) -> int:
        try:
            settings = load(ControllerSettings)
            doc = previews.merged_targets(
                read_targets(store).doc, policy, parse_assignments(assignments)
            )
        except InvalidInputError as exc:
            say_error(f"refused: {exc}")
            return EXIT_BAD_INPUT
        span = previews.last_window(settings)
        window = previews.read_window(settings, span, settings.controller_samples_timeout_seconds)
        known = _learned(store, policy)
        result = previews.preview(doc, policy, window, span, settings, known)
        problems = result.out_of_range()
        if json:
            print(orjson.dumps(previews.as_json(result), option=orjson.OPT_INDENT_2).decode())
        else:
            tables.print_table(previews.table(result))
        for line in problems:
            say_error(f"out of range: {line}")
        return EXIT_OUT_OF_RANGE if problems else 0

    with_store(ctx, action)


# The flag and the controller setting behind each field of an override block.
_FIELDS = {
    "gains": {k: (f"--{k}", f"CD_CONTROLLER_{k.upper()}") for k in ("kp", "ki", "kd")},
}


def controller_defaults() -> dict[str, dict[str, float]]:
    """The controller's gains as this shell's settings give them (CD_CONTROLLER_*).

    Only gains are filled in: a gains block needs kp and ki, while each bound
    (min, max, max_step) may be given alone and the others follow the
    controller's settings at every run, so nothing is pinned that was not asked for.
    """
    s = load(ControllerSettings)
    return {"gains": {"kp": s.controller_kp, "ki": s.controller_ki, "kd": s.controller_kd}}


def filled_note(policy: str, block: str, values: dict[str, float]) -> str:
    fields = _FIELDS[block]
    given = ", ".join(f"{k}={v:g}" for k, v in values.items())
    settings = ", ".join(fields[k][1] for k in values)
    flags = "/".join(fields[k][0] for k in values)
    return (
        f"note: policy {policy} had no {block} override, so the {block} not given were filled "
        f"in from the controller defaults: {given} ({settings}); give {flags} to choose others"
    )


@app.command(
    "reset-overrides",
    help=(
        "Drop POLICY's gain and bound overrides (or only the gains, or only the bounds) so "
        "the controller's defaults apply again; its targets are kept."
    ),
    epilog=examples(
        "cdctl targets reset-overrides video_heavy",
        "cdctl targets reset-overrides video_heavy --gains",
    ),
)
def reset_overrides(
    ctx: typer.Context,
    policy: PolicyArg,
    gains: Annotated[
        bool, typer.Option("--gains", help="Drop only the gains (kp/ki/kd) override.")
    ] = False,
    bounds: Annotated[
        bool, typer.Option("--bounds", help="Drop only the bounds (u-min/u-max) override.")
    ] = False,
) -> None:
    blocks = [b for b, only in (("gains", gains), ("bounds", bounds)) if only] or [
        "gains",
        "bounds",
    ]

    def action(store: ZkStore) -> int:
        entry = read_targets(store).doc.policies.get(policy)
        if entry is None:
            raise InvalidInputError("POLICY", f"no policy {policy!r} in targets")
        present = [b for b in blocks if getattr(entry, b) is not None]
        if not present:
            print(f"policy {policy} has no {' or '.join(blocks)} override: nothing written")
            return 0
        doc = apply_edit(store, clear_overrides(policy, present))
        print(f"policy {policy}: {' and '.join(present)} override dropped; defaults apply")
        tables.print_table(tables.targets_table(doc))
        return 0

    with_store(ctx, action)


@app.command(
    "unset",
    help="Remove the given types from POLICY, or the whole policy when no TYPE is given.",
    epilog=examples("cdctl targets unset default fresh", "cdctl targets unset video_heavy"),
)
def unset(
    ctx: typer.Context,
    policy: PolicyArg,
    types: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TYPE",
            help="Content types whose targets to remove from POLICY.",
            show_default=False,
        ),
    ] = None,
) -> None:
    def action(store: ZkStore) -> int:
        doc = apply_edit(store, unset_targets(policy, types or []))
        tables.print_table(tables.targets_table(doc))
        return 0

    with_store(ctx, action)
