"""Sending what the store's alert outbox still holds, without a running worker (``epolice alerts dispatch``).

A live worker's dispatcher retries failed deliveries until they go through or die; a batch run only
sends what is due when it closes, so a receiver that was down leaves its deliveries pending in the
store. ``send_pending`` gives them their attempts: once (every delivery due now, one attempt each),
or until none is pending (each delivered or dead after ``max_attempts``), following the backoff.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from evidence.checkpoint import alerts as alert_store
from pipelines.checkpoint.dispatch import AlertDispatcher

PAGE = 500  # due deliveries read at a time


@dataclass(frozen=True)
class OutboxReport:
    sent: int  # deliveries that went through in this run
    failed: int  # attempts that failed in this run
    pending: int  # deliveries still waiting for an attempt (their next one at ``next_at``)
    dead: int  # deliveries out of attempts, in all (the dead letters)
    next_at: datetime | None


def _attempt_due(dispatcher: AlertDispatcher, stop: threading.Event) -> None:
    """One attempt at every delivery due now (one that fails and falls due again waits for the next round)."""
    tried: set[int] = set()
    while not stop.is_set():
        batch = [d for d in alert_store.due(dispatcher.engine, dispatcher.clock(), limit=PAGE) if d.id not in tried]
        if not batch:
            return
        for delivery in batch:
            if stop.is_set():
                return
            tried.add(delivery.id)
            dispatcher.deliver(delivery)


def send_pending(dispatcher: AlertDispatcher, *, once: bool = False, stop: threading.Event | None = None,
                 idle_s: float = 1.0) -> OutboxReport:
    """Attempt the due deliveries; unless ``once``, keep on as retries fall due until none is pending or ``stop``."""
    stop = stop or threading.Event()
    sent0, failed0 = dispatcher.sent, dispatcher.failures
    while not stop.is_set():
        _attempt_due(dispatcher, stop)
        nxt = alert_store.next_due(dispatcher.engine)
        if once or nxt is None:
            break
        stop.wait(min(idle_s, max((nxt - dispatcher.clock()).total_seconds(), 0.05)))
    counts = alert_store.delivery_counts(dispatcher.engine)
    return OutboxReport(sent=dispatcher.sent - sent0, failed=dispatcher.failures - failed0, pending=counts["pending"],
                        dead=counts["dead"], next_at=alert_store.next_due(dispatcher.engine))
