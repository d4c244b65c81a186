"""The blender's local copy of the last good constants document.

The cache is what lets a blender restarted while ZooKeeper is down keep serving
the constants it had (contract section 6). It is written atomically (temp file,
fsync, rename, fsync of the directory) so a crash mid-write leaves either the
old or the new file, never half of one, and it carries a sha256 of the exact
document bytes so a file damaged on disk is recognised and refused instead of
silently serving wrong constants.

Several worker processes share one file, each writing what its own ZooKeeper
watch delivered. Writes take an exclusive lock on the cache's directory, so
they happen one at a time; a writer whose document has meanwhile been replaced
by a newer one skips (its newer write is queued behind), and one finding the same
bytes on disk skips too, so N workers cost one write per change. Readers take no
lock: the rename makes every read see a whole file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from services.documents import ConstantsDocument, parse_document
from services.errors import CDError, InvalidInputError

CACHE_FORMAT = 1


class CacheError(CDError):
    """The cache file could not be read, written, or did not verify."""


def _checksum(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def encode_cache(raw_document: bytes) -> bytes:
    """The file's bytes: the document verbatim (as text) plus its checksum."""
    return orjson.dumps(
        {
            "format": CACHE_FORMAT,
            "sha256": _checksum(raw_document),
            "document": raw_document.decode("utf-8"),
        }
    )


def decode_cache(data: bytes) -> tuple[ConstantsDocument, bytes]:
    """Verify and parse a cache file's bytes; the document and its raw bytes."""
    try:
        wrapper = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CacheError(f"cache is not valid JSON: {exc}") from exc
    if not isinstance(wrapper, dict) or wrapper.get("format") != CACHE_FORMAT:
        raise CacheError("cache has an unknown format")
    text, digest = wrapper.get("document"), wrapper.get("sha256")
    if not isinstance(text, str) or not isinstance(digest, str):
        raise CacheError("cache lacks the document or its checksum")
    raw = text.encode("utf-8")
    if _checksum(raw) != digest:
        raise CacheError("cache checksum does not match its document")
    try:
        return parse_document(ConstantsDocument, raw), raw
    except InvalidInputError as exc:
        raise CacheError(f"cached document is invalid: {exc}") from exc


class ConstantsCache:
    """One cache file. Reads and writes raise :class:`CacheError`, nothing else."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[ConstantsDocument, bytes] | None:
        """The cached document, or None when there is no cache file yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CacheError(f"cannot read cache {self.path}: {exc}") from exc
        return decode_cache(data)

    def store(self, raw_document: bytes, still_current: Callable[[], bool] = lambda: True) -> bool:
        """Replace the cache atomically with ``raw_document`` (already validated).

        False when skipped: ``still_current()`` said no once the lock was held, or
        the file already holds exactly this document."""
        data = encode_cache(raw_document)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._locked():
                if not still_current() or self._on_disk() == data:
                    return False
                self._replace(data)
                return True
        except OSError as exc:
            raise CacheError(f"cannot write cache {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # The directory itself is the lock: no lock file to leave behind.
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _on_disk(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def _replace(self, data: bytes) -> None:
        directory = self.path.parent
        tmp_name: str | None = None
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, self.path)
            tmp_name = None
            _fsync_dir(directory)
        finally:
            if tmp_name is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)


def _fsync_dir(directory: Path) -> None:
    # Without this the rename itself may be lost on power failure.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
