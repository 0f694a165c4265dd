"""The audit chain against someone with write access to the database (issue 15 item 4: entries
sealed with a key kept outside the database, signed checkpoints of the head) and its cost (item 7:
the audit page verifies only what came after the last checkpoint)."""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from typer.testing import CliRunner

from evidence.review import audit
from evidence.store.schema import audit_log
from pipelines.cli.main import app as cli
from tests.support.evidence import keys  # noqa: F401
from tests.support.review import Env, env  # noqa: F401


def _bulk(env: Env, n: int) -> None:
    """``n`` entries as the app writes them (one transaction, so it is quick), then one more on its
    own, after which the app writes a checkpoint when one is due."""
    with env.store.engine.begin() as conn:
        for i in range(n):
            audit.append(conn, "rita", "view", str(i % 4 + 1), after={"i": i})
    audit.append_retrying(env.store.engine, "rita", "view", "1")


def _rewrite_without_the_key(conn, start: int) -> None:
    """What a database writer can do without the key: edit an entry, then recompute the plain
    SHA-256 of it and of every entry after it, and mark them as unkeyed legacy entries."""
    rows = conn.execute(sa.select(audit_log).where(audit_log.c.seq >= start).order_by(audit_log.c.seq)).all()
    prev = rows[0].prev_hash
    for row in rows:
        actor = "mallory" if row.seq == start else row.actor
        body = json.dumps([row.seq, row.at, actor, row.action, row.record_id, row.before, row.after, prev],
                          separators=(",", ":"), ensure_ascii=False)
        h = hashlib.sha256(body.encode("utf-8")).hexdigest()
        extra = {"key_id": None} if "key_id" in row._mapping else {}
        conn.execute(audit_log.update().where(audit_log.c.seq == row.seq).values(actor=actor, prev_hash=prev, hash=h, **extra))
        prev = h


def _verify_cli(env: Env) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["review", "audit", "verify", "--db", env.settings.store.url,
                                 "--audit-key", str(env.settings.audit_key_path)])
    return r.exit_code, r.output


def test_synthetic_a_database_writer_without_the_key_cannot_rewrite_the_chain(env: Env):
    _bulk(env, 40)
    victim = audit.count(env.store.engine) // 2
    with env.store.engine.begin() as conn:
        _rewrite_without_the_key(conn, victim)
    report = audit.verify_chain(env.store.engine)
    assert not report.ok and report.broken_seq == victim, report
    code, out = _verify_cli(env)
    assert code == 1 and f"BROKEN at entry {victim}" in out


def test_synthetic_rewriting_the_whole_chain_without_the_key_is_caught_by_the_checkpoint(env: Env):
    _bulk(env, 10)
    with env.store.engine.begin() as conn:
        _rewrite_without_the_key(conn, 1)
    report = audit.verify_chain(env.store.engine)
    assert not report.ok and report.broken_seq == 1


def test_synthetic_deleting_the_newest_entries_is_caught_by_the_last_checkpoint(env: Env):
    """Deleting the newest 1,000 of 300,000 entries used to verify; at this scale: the newest 150 of 301."""
    _bulk(env, 300)
    ada = env.client("ada")  # signed in before: her login is one of the entries
    n = audit.count(env.store.engine)
    assert audit.verify_chain(env.store.engine).ok
    with env.store.engine.begin() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq > n - 150))
    report = audit.verify_chain(env.store.engine)
    assert not report.ok and report.broken_seq == n - 149 and "checkpoint" in report.reason
    code, out = _verify_cli(env)
    assert code == 1 and "checkpoint" in out
    page = ada.get("/admin/audit")
    assert page.status_code == 200 and f"第 {n - 149} 条" in page.text


def test_synthetic_an_edited_checkpoint_file_is_refused(env: Env):
    _bulk(env, 120)
    path = env.settings.audit_checkpoints_path
    lines = path.read_text().splitlines()
    forged = json.loads(lines[-1])
    forged["seq"] = 5
    path.write_text("\n".join(lines[:-1] + [json.dumps(forged)]) + "\n")
    report = audit.verify_chain(env.store.engine)
    assert not report.ok and "checkpoint" in report.reason


def test_synthetic_the_audit_page_verifies_only_what_came_after_the_last_checkpoint(env: Env):
    """Item 7: /admin/audit re-walked the whole chain on every view (7.3 s per 300,000 entries)."""
    _bulk(env, 3000)
    full = audit.verify_chain(env.store.engine)
    assert full.ok and full.checked == full.entries == audit.count(env.store.engine)
    quick = audit.verify_chain(env.store.engine, incremental=True)
    assert quick.ok and quick.entries == full.entries and quick.checked <= env.settings.review.audit_checkpoint_every + 1
    page = env.client("ada").get("/admin/audit")
    assert page.status_code == 200 and f"第 {quick.since} 条之后" in page.text
