"""The record writer: a Redis consumer group that turns stream entries into stored records.

Each writer reads with ``XREADGROUP``, stores the record, then ``XACK``s. A writer that dies
between reading and acknowledging leaves the entry pending; any writer of the group reclaims
entries idle longer than ``claim_idle_ms`` with ``XAUTOCLAIM`` and stores them again. The store's
insert is idempotent by ``event_key``, so a record written just before the crash is not written
twice: nothing lost, nothing duplicated. Entries that cannot be parsed go to a dead-letter stream
(and are acknowledged) so one bad entry cannot block the group forever.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Protocol

import redis

from evidence.store.records import AddResult, NewRecord
from pipelines.live.bus import LiveMessage, events_stream

log = logging.getLogger(__name__)

GROUP = "record-writers"


class RecordSink(Protocol):
    """Where records go; ``RecordStore`` fits. ``add`` must be idempotent by ``event_key``."""

    def add(self, rec: NewRecord) -> AddResult: ...


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
    ) -> None:
        self.client = client
        self.site_id = site_id
        self.sink = sink
        self.stream = events_stream(site_id)
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.claim_idle_ms = claim_idle_ms
        self.batch = batch
        self.stored = 0
        self.duplicates = 0
        self.dead = 0
        self._claim_cursor = "0-0"
        self.ensure_group()

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _handle(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        try:
            message = LiveMessage.model_validate_json(fields[b"data"])
            if message.kind != "record" or message.record is None:
                raise ValueError(f"expected a record message, got kind {message.kind!r}")
        except (KeyError, ValueError) as exc:
            self.client.xadd(f"{self.stream}:dead", {k: v for k, v in fields.items()} | {b"error": str(exc)[:500]})
            self.client.xack(self.stream, self.group, entry_id)
            self.dead += 1
            log.error("unreadable stream entry moved to dead letters", extra={"entry": entry_id.decode(), "error": str(exc)[:200]})
            return
        try:
            result = self.sink.add(message.record)
        except Exception:  # noqa: BLE001 - store down: leave it pending, it is reclaimed after claim_idle_ms
            log.exception("storing record failed; entry stays pending", extra={"event_key": message.key})
            return
        if result.created:
            self.stored += 1
        else:
            self.duplicates += 1
        self.client.xack(self.stream, self.group, entry_id)

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
        cursor, claimed, *_ = self.client.xautoclaim(
            self.stream, self.group, self.consumer, self.claim_idle_ms, start_id=self._claim_cursor, count=self.batch
        )
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        for entry_id, fields in claimed:
            if fields:  # None for entries trimmed from the stream while pending
                self._handle(entry_id, fields)
                handled += 1
            else:
                self.client.xack(self.stream, self.group, entry_id)
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
