"""Watchlist matching, table-driven: exact, pattern, look-alike characters, one-character edits and the
candidates of unconfirmed reads, each with its score; validity windows and inactive entries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from evidence.checkpoint.values import NewPass, WatchEntry
from pipelines.checkpoint.config import MatchConfig
from pipelines.checkpoint.matching import WatchIndex, fold, reads_of, within_one_edit
from tests.support.checkpoint import T0, capture, plate


def watch(i: int, text: str, **kw) -> WatchEntry:
    return WatchEntry(id=i, plate=text, reason=kw.pop("reason", "hit_and_run"), active=kw.pop("active", True),
                      created_by="t", created_at=T0 - timedelta(days=1), **kw)


INDEX = WatchIndex([watch(1, "京A12345"), watch(2, "沪B8D0Z2"), watch(3, "粤C*88"), watch(4, "苏E1234?")])


def pass_of(facts) -> NewPass:
    return NewPass.of(capture(facts).event, None, None)


@pytest.mark.parametrize(("facts", "expected"), [
    # confirmed reads: the text itself, weight 1
    (plate("京A12345"), [(1, "exact", 1.0)]),
    (plate("沪B8D0Z2"), [(2, "exact", 1.0)]),
    (plate("沪BBD0Z2"), [(2, "confusable", 0.85)]),  # 8 read as B
    (plate("沪B80022"), [(2, "confusable", 0.85)]),  # D -> 0 and Z -> 2: look-alikes only, any count
    (plate("京A12346"), [(1, "edit", 0.7)]),  # one character replaced
    (plate("京A1234"), [(1, "edit", 0.7)]),  # one missing
    (plate("京A123456"), [(1, "edit", 0.7)]),  # one extra
    (plate("京A12366"), []),  # two replaced: no hit
    (plate("粤C12388"), [(3, "pattern", 0.9)]),
    (plate("粤C88"), [(3, "pattern", 0.9)]),  # * may be empty
    (plate("粤D12388"), []),
    (plate("苏E12349"), [(4, "pattern", 0.9)]),
    (plate("苏E123499"), []),  # ? is exactly one character
    # unconfirmed reads: every candidate, the first weighted 0.8, the others 0.7
    (plate(None, "unconfirmed", ("京A12345", "京A12845")), [(1, "exact", 0.8)]),
    (plate(None, "unconfirmed", ("京A12845", "京A12345")), [(1, "exact", 0.7)]),
    (plate(None, "unconfirmed", ("沪BBD0Z2", "京A99999")), [(2, "confusable", 0.68)]),
    (plate(None, "unconfirmed", ("京A12346",)), [(1, "edit", 0.56)]),
    (plate(None, "unconfirmed", ("京A19999", "京A12346")), []),  # 0.7 x 0.7 = 0.49 < min_score 0.5
    (plate(None, "unreadable"), []),
    (None, []),
])
def test_matches_and_scores(facts, expected):
    p = pass_of(facts)
    hits = INDEX.match(reads_of(p, INDEX.cfg), p.pass_time)
    assert [(h.entry.id, h.kind, h.score) for h in hits] == [(i, k, pytest.approx(s)) for i, k, s in expected]


def test_a_fuzzy_hit_scores_below_an_exact_one():
    exact = INDEX.match([("京A12345", 1.0)], T0)[0]
    for text in ("京A1Z345", "京A12346", "京A1234"):
        fuzzy = INDEX.match([(text, 1.0)], T0)[0]
        assert fuzzy.entry.id == exact.entry.id and fuzzy.score < exact.score


def test_best_hit_per_entry_and_order():
    idx = WatchIndex([watch(1, "京A12345", priority=3), watch(2, "京A12346", priority=1)])
    hits = idx.match([("京A12345", 1.0)], T0)
    assert [(h.entry.id, h.kind) for h in hits] == [(1, "exact"), (2, "edit")]


def test_validity_window_and_inactive_entries():
    idx = WatchIndex([watch(1, "京A12345", valid_from=T0, valid_until=T0 + timedelta(hours=1)),
                      watch(2, "京A12345", active=False)])
    assert idx.match([("京A12345", 1.0)], T0 - timedelta(seconds=1)) == []
    assert [h.entry.id for h in idx.match([("京A12345", 1.0)], T0)] == [1]
    assert idx.match([("京A12345", 1.0)], T0 + timedelta(hours=1)) == []


def test_min_score_is_configurable():
    idx = WatchIndex([watch(1, "京A12345")], MatchConfig(min_score=0.8))
    assert idx.match([("京A12346", 1.0)], T0) == []


@pytest.mark.parametrize(("a", "b", "one"), [("ABC", "ABD", True), ("ABC", "AC", True), ("ABC", "ABCD", True),
                                            ("ABC", "ACB", False), ("ABC", "A", False), ("ABC", "ABC", True)])
def test_within_one_edit(a, b, one):
    assert within_one_edit(a, b) is one


def test_fold_joins_look_alikes():
    assert fold("8B0DQ2Z") == fold("BB000ZZ") == "8800022"
