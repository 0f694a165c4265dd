"""Alerts left pending in the store (what a batch run leaves when a receiver is down) sent later by
`epolice alerts dispatch [--once]`: against a real local HTTP receiver and a real SQLite store."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import yaml
from typer.testing import CliRunner

from evidence.checkpoint import alerts, watchlist
from evidence.store import RecordStore
from pipelines.checkpoint.dispatch import AlertDispatcher, verify
from pipelines.checkpoint.outbox import send_pending
from pipelines.checkpoint.sink import CheckpointSink
from pipelines.cli.main import app
from pipelines.config import parse_site
from tests.support.checkpoint import SECRET, Receiver, capture, checkpoint_site_doc, entry, plate

LISTED = "京A12345"


def _site(tmp_path: Path, receiver: Receiver, max_attempts: int = 30) -> Path:
    doc = checkpoint_site_doc(store={"url": f"sqlite:///{tmp_path / 'records.db'}"}, passes={"output_dir": str(tmp_path / "passes")},
                              checkpoint={"alerts": {"webhooks": [{"name": "ops", "url": receiver.url, "secret": SECRET}],
                                                     "backoff_s": 0.1, "backoff_max_s": 0.2, "max_attempts": max_attempts}})
    path = tmp_path / f"site-{max_attempts}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def _raise_alert(site_path: Path, store: RecordStore, track: int) -> AlertDispatcher:
    """A hit on the listed plate stored as a batch run stores it: the alert raised, its delivery pending, nothing sent."""
    site = parse_site(yaml.safe_load(site_path.read_text()))
    if not watchlist.entries(store.engine):
        watchlist.add(store.engine, entry(LISTED), "sup")
    sink = CheckpointSink.from_site(site, store.engine)
    assert len(sink.handle([capture(plate(LISTED), track=track, seconds=track)])) == 1
    return AlertDispatcher.configured(store.engine, site.checkpoint.alerts)


def test_pending_alerts_sent_later_once_then_until_none_is_pending(tmp_path):
    receiver = Receiver(down=True).start()
    site = _site(tmp_path, receiver)
    store = RecordStore(f"sqlite:///{tmp_path / 'records.db'}")
    try:
        dispatcher = _raise_alert(site, store, track=1)
        first = send_pending(dispatcher, once=True)  # the receiver is down: one attempt, then it waits in the outbox
        assert (first.sent, first.failed, first.pending, first.dead) == (0, 1, 1, 0) and first.next_at is not None
        assert receiver.refused == 1

        receiver.down = False
        threading.Event().wait(0.25)  # the retry falls due
        run = CliRunner().invoke(app, ["alerts", "dispatch", "--site", str(site), "--once", "--json"])
        assert run.exit_code == 0, run.output
        assert json.loads(run.output) == {"sent": 1, "failed": 0, "pending": 0, "dead": 0, "next_at": None}
        ((body, raw, headers),) = receiver.received
        assert body["alert"]["matched_text"] == LISTED and verify(SECRET.encode(), raw, headers["X-Epolice-Signature"])

        # without --once: a receiver back after a while still gets the alert, through the retries
        receiver.down = True
        dispatcher = _raise_alert(site, store, track=2)
        threading.Timer(0.6, lambda: setattr(receiver, "down", False)).start()
        later = send_pending(dispatcher)
        assert (later.sent, later.pending, later.dead) == (1, 0, 0) and later.failed >= 2
        assert len(receiver.received) == 2
        assert alerts.delivery_counts(store.engine) == {"pending": 0, "delivered": 2, "dead": 0}
    finally:
        store.close()
        receiver.stop()


def test_a_receiver_that_stays_down_leaves_a_dead_letter(tmp_path):
    receiver = Receiver(down=True).start()
    site = _site(tmp_path, receiver, max_attempts=3)
    try:
        with RecordStore(f"sqlite:///{tmp_path / 'records.db'}") as store:
            _raise_alert(site, store, track=1)
        run = CliRunner().invoke(app, ["alerts", "dispatch", "--site", str(site)])
        assert run.exit_code == 0, run.output
        assert "sent 0, failed attempts 3; pending 0, dead 1" in run.output
        assert receiver.refused == 3
    finally:
        receiver.stop()
