"""The changelog record format and the rule that makes counting exactly once.

Why this is exact (the argument the whole service rests on):

1. The counts of a source partition are a function of its events. A writer
   (the instance owning source partition ``p``) reads ``p`` from offset ``f``
   and publishes one record ``(p, f, t, deltas)`` saying "the events at
   offsets ``[f, t)`` of ``p`` add ``deltas``". It only ever starts a range
   where its previous one ended, or where the materialised state says
   ``p`` continues, and drops any message below that offset.
2. All records of ``p`` go to one changelog partition, so every reader sees
   them in one and the same order.
3. A reader holds ``next[p]`` and applies a record iff ``from == next[p]``;
   applying adds the deltas and sets ``next[p] = to`` in one RocksDB write
   batch together with the changelog position. Every other record is skipped
   (a duplicate from a retry, a restart or a zombie that lost ``p``).
4. By induction over the changelog order, the applied records of ``p`` tile
   ``[0, next[p])`` without gap or overlap, so each offset's event is counted
   by exactly one applied record: never lost, never twice. Who wrote a record
   does not matter, only that its deltas describe its range, which (1) gives.
5. Every instance applies the same records in the same order, so all agree;
   RocksDB state is only a cache of a prefix of the changelog, stored with the
   position it reflects, so a crash at any moment resumes from a consistent
   prefix and replays the rest.

No Kafka transactions are needed; the broker only has to keep a partition's
order and not lose acknowledged records (``acks=all``).

Besides data records the changelog carries *fences*: a record a writer
produces and then waits to read back. Reading one's own fence proves that
everything appended before it (the previous owner's records) is applied, which
is "read the changelog to its end" without trusting the broker's high
watermark (Tansu's may trail the data).

A data record with ``from == to`` and no deltas is a *heartbeat*: the owner
saw ``p`` fully read at wall time ``idle_ms``, which feeds ``complete_through``.

Bounded restore keeps the argument (snapshot.py, restorer.py, recovery.py):

6. A snapshot is the state after an exact prefix of the changelog: it is read
   from one RocksDB snapshot, and (3) writes counts, source offsets and the
   changelog positions of each batch in one write batch. By (5) every
   instance that applied that prefix holds the same state, so loading the
   snapshot and following the changelog from its positions is the induction
   of (4) resumed at the snapshot's positions: still no gap, no overlap.
   Counts older than the retention are left out; the sweep drops them anyway.
7. A snapshot counts only once complete: its footer (positions and totals) is
   produced after every chunk was acknowledged, and a footer whose chunks are
   not all found is skipped. A writer killed at any moment of a snapshot
   leaves at worst chunks without a footer, which no restore uses; the newest
   complete snapshot is then the previous one, whose changelog records are
   still kept (8).
8. Nothing a restore may need is deleted: records are deleted only below the
   *previous* complete snapshot's positions, after a newer one is complete,
   and time or size retention is refused on both topics (topics.py), so an
   outage of any length cannot delete records written after the last snapshot.
9. A folder whose position lies past the end of the log (the topic recreated,
   the broker's data lost) or below its start without a covering snapshot is
   never continued: the first is moved aside and rebuilt from what the broker
   holds, the second refuses (recovery.py). A running follower that finds
   such a gap stops being ready and exits; it never jumps over it, since it
   reads with ``auto.offset.reset=error`` and checks the log's end with fences.
"""

from __future__ import annotations

from typing import Final

import msgspec

from services.errors import InvalidInputError

DATA: Final = 0
FENCE: Final = 1
FORMAT: Final = 1


class Record(msgspec.Struct, array_like=True, frozen=True):
    """One changelog record; ``array_like`` keeps it a compact msgpack array."""

    kind: int
    partition: int
    from_offset: int
    to_offset: int
    writer: str  # process-unique id of the writer, so it recognises its own records
    generation: int = 0  # the writer's seek generation for ``partition``
    counts: list[tuple[str, int, str, int]] = []  # (group, bucket_s, type, delta)
    counted: int = 0
    rejected: int = 0
    max_ts: int = -1  # largest counted event time in the range (epoch ms)
    idle_ms: int = -1  # heartbeat: wall time the writer saw the partition fully read
    format: int = FORMAT


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Record)


def encode(record: Record) -> bytes:
    return _encoder.encode(record)


def decode(raw: bytes | None) -> Record:
    """Decode one record; a foreign or corrupt value is an :class:`InvalidInputError`."""
    if not raw:
        raise InvalidInputError("changelog", "empty record")
    try:
        record = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidInputError("changelog", f"undecodable record: {exc}") from exc
    if record.kind not in (DATA, FENCE) or record.from_offset > record.to_offset:
        raise InvalidInputError("changelog", f"malformed record {record!r:.200}")
    return record


def data_record(
    partition: int,
    from_offset: int,
    to_offset: int,
    writer: str,
    generation: int,
    counts: dict[tuple[str, int, str], int],
    *,
    counted: int,
    rejected: int,
    max_ts: int,
) -> Record:
    return Record(
        DATA,
        partition,
        from_offset,
        to_offset,
        writer,
        generation,
        [(g, b, t, n) for (g, b, t), n in counts.items()],
        counted,
        rejected,
        max_ts,
    )


def heartbeat(partition: int, offset: int, writer: str, generation: int, idle_ms: int) -> Record:
    return Record(DATA, partition, offset, offset, writer, generation, idle_ms=idle_ms)


def fence(partition: int, writer: str, token: int) -> Record:
    """``token`` in ``generation`` lets the writer match the fence it waits for."""
    return Record(FENCE, partition, 0, 0, writer, token)


def applies(next_offset: int, record: Record) -> bool:
    """The whole rule: a data record applies iff it starts where the state ends."""
    return record.kind == DATA and record.from_offset == next_offset


def changelog_partition(source_partition: int, changelog_partitions: int) -> int:
    """All records of one source partition share one changelog partition (one order)."""
    return source_partition % changelog_partitions


def record_key(source_partition: int) -> bytes:
    return str(source_partition).encode()
