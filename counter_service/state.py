"""The materialised changelog in RocksDB (rocksdict, raw bytes mode).

Keys (all big-endian so byte order is numeric order):

- ``M``                                   meta: format, topics, granularity (JSON)
- ``P`` + partition(4)                    source partition: next offset, max ts, idle ms
- ``L`` + changelog partition(4)          next changelog offset to read
- ``T``                                   totals: counted, rejected
- ``G`` + group                           a group that has ever been counted
- ``C`` + group + NUL + bucket(8) + type  count
- ``N``                                   changelog partition count the state was built on

One :meth:`CounterState.apply` is one RocksDB write batch holding the counts,
the source offsets they cover and the changelog position they came from, so
the folder always reflects an exact prefix of the changelog (see changelog.py).
Only one thread writes (the changelog follower); the API reads snapshots.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from rocksdict import Options, Rdict, WriteBatch

from counter_service import changelog
from counter_service.changelog import Record
from counter_service.snapshot import Contents, Count, Footer
from services.errors import CDError

log = logging.getLogger(__name__)

STATE_FORMAT: Final = 1
_I64: Final = struct.Struct(">q")
_U32: Final = struct.Struct(">I")
_PART: Final = struct.Struct(">qqq")
_TOTALS: Final = struct.Struct(">qq")


class StateDamagedError(CDError):
    """The local folder cannot be trusted: it must be rebuilt from the changelog."""


@dataclass
class PartitionState:
    next_offset: int = 0
    max_ts: int = -1  # largest counted event time (epoch ms)
    idle_ms: int = -1  # last heartbeat: wall time the partition was seen fully read


def _count_key(group: str, bucket: int, kind: str) -> bytes:
    return b"C" + group.encode() + b"\x00" + _I64.pack(bucket) + kind.encode()


def _group_prefix(group: str) -> bytes:
    return b"C" + group.encode() + b"\x00"


def _scan(source: Any, start: bytes, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Raw-mode items from ``start`` while keys keep ``prefix`` (a DB or a snapshot)."""
    for key, value in source.items(from_key=start):
        if not key.startswith(prefix):
            return
        yield key, value


class CounterState:
    """Open with :meth:`open`; all mirrors in memory are loaded from the folder."""

    def __init__(self, db: Rdict, path: Path) -> None:
        self.db = db
        self.path = path
        self.partitions: dict[int, PartitionState] = {}
        self.positions: dict[int, int] = {}
        self.counted = 0
        self.rejected = 0
        self.known_groups: set[str] = set()

    @classmethod
    def open(cls, path: Path, meta: Mapping[str, Any]) -> CounterState:
        """Open or create; raise :class:`StateDamagedError` if the folder is not ours or broken."""
        fresh = not (path / "CURRENT").exists()
        if not fresh and not path.is_dir():
            raise StateDamagedError(f"{path} is not a RocksDB folder")
        options = Options(raw_mode=True)
        options.create_if_missing(fresh)
        options.set_paranoid_checks(True)
        try:
            path.mkdir(parents=True, exist_ok=True)
            db = Rdict(str(path), options)
        except Exception as exc:  # rocksdict raises bare Exception
            raise StateDamagedError(f"cannot open RocksDB at {path}: {exc}") from exc
        state = cls(db, path)
        try:
            state._check_meta(dict(meta), fresh)
            state._load()
        except StateDamagedError:
            state.close()
            raise
        except Exception as exc:
            state.close()
            raise StateDamagedError(f"cannot read RocksDB at {path}: {exc}") from exc
        return state

    def _check_meta(self, meta: dict[str, Any], fresh: bool) -> None:
        meta = {**meta, "format": STATE_FORMAT}
        stored = self.db.get(b"M")
        if stored is None:
            if not fresh:
                raise StateDamagedError(f"{self.path} has no meta record (incomplete or foreign)")
            self.db.put(b"M", orjson.dumps(meta, option=orjson.OPT_SORT_KEYS))
            self.db.flush_wal(True)
            return
        if orjson.loads(stored) != meta:
            raise StateDamagedError(f"{self.path} belongs to {stored!r}, not {meta!r}")

    def _load(self) -> None:
        for key, _ in _scan(self.db, b"G", b"G"):
            self.known_groups.add(key[1:].decode())
        for key, value in _scan(self.db, b"L", b"L"):
            self.positions[_U32.unpack(key[1:])[0]] = _I64.unpack(value)[0]
        for key, value in _scan(self.db, b"P", b"P"):
            self.partitions[_U32.unpack(key[1:])[0]] = PartitionState(*_PART.unpack(value))
        totals = self.db.get(b"T")
        if totals is not None:
            self.counted, self.rejected = _TOTALS.unpack(totals)

    def changelog_partitions(self) -> int | None:
        """The changelog partition count this folder was built on (None: not yet recorded)."""
        stored = self.db.get(b"N")
        return None if stored is None else _I64.unpack(stored)[0]

    def set_changelog_partitions(self, count: int) -> None:
        self.db.put(b"N", _I64.pack(count))

    def contents(self, cutoff_bucket: int) -> Contents:
        """Everything a snapshot holds, read from one RocksDB snapshot (one applied prefix).

        Counts of buckets before ``cutoff_bucket`` (past the retention) are left out."""
        snap = self.db.snapshot()
        positions = {_U32.unpack(k[1:])[0]: _I64.unpack(v)[0] for k, v in _scan(snap, b"L", b"L")}
        parts = [(_U32.unpack(k[1:])[0], *_PART.unpack(v)) for k, v in _scan(snap, b"P", b"P")]
        groups = [k[1:].decode() for k, _ in _scan(snap, b"G", b"G")]
        totals = next((v for k, v in _scan(snap, b"T", b"T") if k == b"T"), None)
        counted, rejected = _TOTALS.unpack(totals) if totals is not None else (0, 0)

        def counts() -> Iterator[Count]:
            for group in groups:
                prefix = _group_prefix(group)
                for key, value in _scan(snap, prefix + _I64.pack(cutoff_bucket), prefix):
                    body = key[len(prefix) :]
                    n = _I64.unpack(value)[0]
                    if n:
                        yield group, _I64.unpack(body[:8])[0], body[8:].decode(), n

        return Contents(positions, parts, counted, rejected, groups, counts())

    def load(self, footer: Footer, counts: Iterable[Count]) -> None:
        """Replace the whole state by a snapshot's, in one write batch (atomic under kill -9)."""
        batch = WriteBatch(raw_mode=True)
        for first, last in ((b"C", b"D"), (b"G", b"H"), (b"L", b"M"), (b"P", b"Q")):
            batch.delete_range(first, last)
        for group, bucket, kind, n in counts:
            batch.put(_count_key(group, bucket, kind), _I64.pack(n))
        for group in footer.groups:
            batch.put(b"G" + group.encode(), b"")
        for cpart, position in footer.positions.items():
            batch.put(b"L" + _U32.pack(cpart), _I64.pack(position))
        for number, next_offset, max_ts, idle_ms in footer.partitions:
            batch.put(b"P" + _U32.pack(number), _PART.pack(next_offset, max_ts, idle_ms))
        batch.put(b"T", _TOTALS.pack(footer.counted, footer.rejected))
        batch.put(b"N", _I64.pack(footer.changelog_partitions))
        try:
            self.db.write(batch)
        except Exception as exc:
            raise StateDamagedError(f"loading a snapshot into {self.path} failed: {exc}") from exc
        self.partitions, self.positions = {}, {}
        self.known_groups = set()
        self._load()

    def close(self) -> None:
        try:
            self.db.close()
        except Exception:  # pragma: no cover - closing twice or after a failed open
            log.debug("closing RocksDB failed", exc_info=True)

    def next_offset(self, partition: int) -> int:
        part = self.partitions.get(partition)
        return part.next_offset if part else 0

    def apply(self, entries: Iterable[tuple[int, int, Record | None]]) -> list[tuple[Record, bool]]:
        """Apply ``(changelog partition, changelog offset, record)`` in order, in one batch.

        ``None`` stands for an undecodable record: it only advances the position.
        Returns every data or fence record with whether it was applied.
        """
        parts: dict[int, PartitionState] = {}
        positions: dict[int, int] = {}
        deltas: dict[tuple[str, int, str], int] = {}
        counted = rejected = 0
        outcome: list[tuple[Record, bool]] = []
        for cpart, offset, record in entries:
            positions[cpart] = offset + 1
            if record is None:
                continue
            if record.kind == changelog.FENCE:
                outcome.append((record, False))
                continue
            part = parts.get(record.partition)
            if part is None:
                old = self.partitions.get(record.partition, PartitionState())
                part = parts[record.partition] = PartitionState(
                    old.next_offset, old.max_ts, old.idle_ms
                )
            applied = changelog.applies(part.next_offset, record)
            outcome.append((record, applied))
            if not applied:
                continue
            part.next_offset = record.to_offset
            part.max_ts = max(part.max_ts, record.max_ts)
            part.idle_ms = max(part.idle_ms, record.idle_ms)
            counted += record.counted
            rejected += record.rejected
            for group, bucket, kind, delta in record.counts:
                key = (group, bucket, kind)
                deltas[key] = deltas.get(key, 0) + delta
        self._write(parts, positions, deltas, counted, rejected)
        return outcome

    def _write(
        self,
        parts: dict[int, PartitionState],
        positions: dict[int, int],
        deltas: dict[tuple[str, int, str], int],
        counted: int,
        rejected: int,
    ) -> None:
        batch = WriteBatch(raw_mode=True)
        keys = [_count_key(*k) for k in deltas]
        current: list[bytes | None] = self.db.get(keys) if keys else []  # type: ignore[arg-type,assignment]
        for key, old, delta in zip(keys, current, deltas.values(), strict=True):
            base = _I64.unpack(old)[0] if old is not None else 0
            batch.put(key, _I64.pack(base + delta))
        new_groups = {g for g, _, _ in deltas} - self.known_groups
        for group in new_groups:
            batch.put(b"G" + group.encode(), b"")
        for number, part in parts.items():
            batch.put(
                b"P" + _U32.pack(number), _PART.pack(part.next_offset, part.max_ts, part.idle_ms)
            )
        for cpart, position in positions.items():
            batch.put(b"L" + _U32.pack(cpart), _I64.pack(position))
        batch.put(b"T", _TOTALS.pack(self.counted + counted, self.rejected + rejected))
        try:
            self.db.write(batch)
        except Exception as exc:
            raise StateDamagedError(f"writing RocksDB at {self.path} failed: {exc}") from exc
        # Mirrors change only after the batch is durable in the WAL.
        self.partitions.update(parts)
        self.positions.update(positions)
        self.counted += counted
        self.rejected += rejected
        self.known_groups |= new_groups

    def groups(self) -> list[str]:
        return sorted(self.known_groups)

    def counts(
        self, groups: Iterable[str], start: int, end: int
    ) -> dict[str, list[tuple[int, str, int]]]:
        """Stored ``(bucket, type, count)`` with ``start <= bucket < end``, from one snapshot."""
        snapshot = self.db.snapshot()
        result: dict[str, list[tuple[int, str, int]]] = {}
        for group in groups:
            prefix = _group_prefix(group)
            stop = prefix + _I64.pack(end)
            rows: list[tuple[int, str, int]] = []
            for key, value in _scan(snapshot, prefix + _I64.pack(start), prefix):
                if key >= stop:
                    break
                body = key[len(prefix) :]
                bucket = _I64.unpack(body[:8])[0]
                rows.append((bucket, body[8:].decode(), _I64.unpack(value)[0]))
            result[group] = rows
        return result

    def drop_before(self, bucket: int) -> None:
        """Retention: delete every count of a bucket starting before ``bucket``."""
        batch = WriteBatch(raw_mode=True)
        for group in self.known_groups:
            prefix = _group_prefix(group)
            batch.delete_range(prefix + _I64.pack(0), prefix + _I64.pack(bucket))
        try:
            self.db.write(batch)
        except Exception as exc:
            raise StateDamagedError(f"retention delete in {self.path} failed: {exc}") from exc
