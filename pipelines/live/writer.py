"""The record writer: a Redis consumer group that turns stream entries into stored records.

Each writer reads with ``XREADGROUP``, checks the record against its signed package (``verify``),
stores it, then ``XACK``s and deletes the entry (so the stream holds only what is not stored yet and
needs no cap that could trim unconsumed records). A writer that dies between reading and
acknowledging leaves the entry pending; any writer of the group reclaims entries idle longer than
``claim_idle_ms`` with ``XAUTOCLAIM`` and stores them again. The store's insert is idempotent by
``event_key``, so a record written just before the crash is not written twice: nothing lost,
nothing duplicated. The same violation seen by two workers (a split brain during a Redis
partition; their event keys differ by track id) is stored once: same camera, rule and plate,
overlapping time (``RecordStore.add(same_violation=True)``).

Dead letters (``<stream>:dead``, shown by ``epolice status``): an entry that cannot be parsed, a
record its package does not back, a record the store refused ``max_deliveries`` times, and an entry
that vanished from the stream while pending. Each is logged, counted and acknowledged, so one bad
entry cannot block the group, and none disappears silently.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol

import redis

from evidence.store.records import AddResult, NewRecord
from models.strict import StrictModel
from pipelines.live.bus import LiveMessage, events_stream

log = logging.getLogger(__name__)

GROUP = "record-writers"


def dead_letter_stream(site_id: str) -> str:
    return events_stream(site_id) + ":dead"


class RecordSink(Protocol):
    """Where records go; ``RecordStore`` fits. ``add`` must be idempotent by ``event_key`` and, with
    ``same_violation``, merge a record into one of the same camera, rule and plate overlapping in time."""

    def add(self, rec: NewRecord, *, same_violation: bool = False) -> AddResult: ...


class DeadLetter(StrictModel):
    entry: str  # id in the dead-letter stream
    key: str  # the record's event key, when it could be read
    error: str
    at: str


class DeadLetters(StrictModel):
    count: int
    latest: list[DeadLetter]  # newest first


def dead_letters(client: redis.Redis, site_id: str, latest: int = 5) -> DeadLetters:
    """What ``epolice status`` shows of a site's dead letters."""
    stream = dead_letter_stream(site_id)

    def text(fields: dict, name: bytes) -> str:
        value = fields.get(name, b"")
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    rows = client.xrevrange(stream, count=latest)
    return DeadLetters(
        count=int(client.xlen(stream)),
        latest=[DeadLetter(entry=i.decode() if isinstance(i, bytes) else str(i), key=text(f, b"key"), error=text(f, b"error"),
                           at=text(f, b"at")) for i, f in rows],
    )


class RecordWriter:
    def __init__(
        self,
        client: redis.Redis,
        site_id: str,
        sink: RecordSink,
        consumer: str | None = None,
        group: str = GROUP,
        claim_idle_ms: int = 30_000,
        batch: int = 32,
        verify: Callable[[NewRecord], list[str]] | None = None,
        max_deliveries: int = 10,
    ) -> None:
        """``verify``: why a record may not be stored ([] when it may), e.g. ``evidence.export.record_problems``.
        ``max_deliveries``: a record the store refuses this often is dead-lettered (with
        ``claim_idle_ms`` between tries, a store outage shorter than their product loses nothing)."""
        self.client = client
        self.site_id = site_id
        self.sink = sink
        self.stream = events_stream(site_id)
        self.dead_stream = dead_letter_stream(site_id)
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.claim_idle_ms = claim_idle_ms
        self.batch = batch
        self.verify = verify
        self.max_deliveries = max(1, max_deliveries)
        self.stored = 0
        self.duplicates = 0
        self.dead = 0  # dead-lettered, for whatever reason
        self.lost = 0  # of those: gone from the stream while pending
        self.store_failures = 0
        self._claim_cursor = "0-0"
        self.ensure_group()

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _done(self, entry_id: bytes) -> None:
        self.client.xack(self.stream, self.group, entry_id)
        self.client.xdel(self.stream, entry_id)

    def _dead_letter(self, entry_id: bytes, fields: dict[bytes, bytes], error: str) -> None:
        self.dead += 1
        key = fields.get(b"key", b"")
        log.error("record entry moved to dead letters", extra={"entry": entry_id.decode(), "event_key": key.decode("utf-8", "replace"),
                                                              "error": error[:300]})
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.client.xadd(self.dead_stream, {**fields, b"entry": entry_id, b"error": error[:2000], b"at": at})
        self._done(entry_id)

    def _handle(self, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int = 1) -> None:
        try:
            message = LiveMessage.model_validate_json(fields[b"data"])
            if message.kind != "record" or message.record is None:
                raise ValueError(f"expected a record message, got kind {message.kind!r}")
        except (KeyError, ValueError) as exc:
            self._dead_letter(entry_id, fields, f"unreadable entry: {exc}")
            return
        if self.verify is not None:
            problems = self.verify(message.record)
            if problems:
                self._dead_letter(entry_id, fields, "its signed package does not back it: " + "; ".join(problems))
                return
        try:
            result = self.sink.add(message.record, same_violation=True)
        except Exception as exc:  # noqa: BLE001 - store down or record refused: retried until max_deliveries
            self.store_failures += 1
            if deliveries >= self.max_deliveries:
                self._dead_letter(entry_id, fields, f"the store refused it {deliveries} times: {type(exc).__name__}: {exc}")
            else:
                log.exception("storing record failed; entry stays pending", extra={"event_key": message.key, "deliveries": deliveries})
            return
        if result.created:
            self.stored += 1
        else:
            self.duplicates += 1
        self._done(entry_id)

    def _deliveries(self, entry_id: bytes) -> int:
        rows = self.client.xpending_range(self.stream, self.group, min=entry_id, max=entry_id, count=1)
        return int(rows[0]["times_delivered"]) if rows else 1

    def step(self, block_ms: int = 1000) -> int:
        """Reclaim stale pending entries, then read new ones; returns how many were handled."""
        try:
            return self._step(block_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis came back empty (no persistence): the stream and group are gone; recreate and go on
            log.warning("consumer group missing, recreating", extra={"stream": self.stream})
            self.ensure_group()
            self._claim_cursor = "0-0"
            return self._step(block_ms)

    def _step(self, block_ms: int) -> int:
        handled = 0
        cursor, claimed, *rest = self.client.xautoclaim(
            self.stream, self.group, self.consumer, self.claim_idle_ms, start_id=self._claim_cursor, count=self.batch
        )
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        vanished = list(rest[0]) if rest and rest[0] else []  # Redis 7: pending ids no longer in the stream
        for entry_id, fields in claimed:
            if fields:
                self._handle(entry_id, fields, self._deliveries(entry_id))
            else:  # Redis 6.2 reports a deleted entry as one without fields
                vanished.append(entry_id)
            handled += 1
        for entry_id in vanished:
            self.lost += 1
            self._dead_letter(entry_id, {}, "the entry vanished from the stream (trimmed or deleted) before its record was stored")
            handled += 1
        if claimed:
            log.info("reclaimed pending entries", extra={"count": len(claimed), "consumer": self.consumer})
        response = self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=self.batch, block=block_ms)
        for _stream, entries in response or []:
            for entry_id, fields in entries:
                self._handle(entry_id, fields)
                handled += 1
        return handled

    def run(self, stop: threading.Event, block_ms: int = 1000) -> None:
        """Loop until ``stop``; a Redis outage is waited out, never fatal."""
        while not stop.is_set():
            try:
                self.step(block_ms)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("redis unavailable, record writer waiting", extra={"error": str(exc)})
                stop.wait(1.0)
