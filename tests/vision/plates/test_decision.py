"""The double-read decision: agreement per plate, the province tie-break, and track-level confirmation."""

from __future__ import annotations

import pytest

from vision.plates.decision import decide, decide_track, province_tie_break
from vision.plates.result import PlateCandidate, PlateRead, ReaderRead


def _r(reader: str, text: str | None, conf: float = 0.95, raw: str | None = None, province: float | None = None,
       reason: str | None = None) -> ReaderRead:
    n = len(text or raw or "x")
    confs = [conf] * n
    if province is not None:
        confs[0] = province
    return ReaderRead(reader, raw if raw is not None else (text or ""), text, "standard" if text else None,
                      tuple(confs) if text else (), reason if text is None else None)


@pytest.mark.parametrize(
    ("reads", "status", "text", "candidates"),
    [
        # both readers, same valid text: confirmed
        ([_r("ppocr", "皖A195K9"), _r("hyperlpr", "皖A195K9")], "confirmed", "皖A195K9", ["皖A195K9"]),
        # same text even at low confidence: agreement confirms (the grammar already refused weak characters)
        ([_r("ppocr", "皖A195K9", 0.5), _r("hyperlpr", "皖A195K9", 0.4)], "confirmed", "皖A195K9", ["皖A195K9"]),
        # one character differs: unconfirmed, both kept, PP-OCRv4 first
        ([_r("ppocr", "皖A195K9"), _r("hyperlpr", "皖A196K9")], "unconfirmed", None, ["皖A195K9", "皖A196K9"]),
        # only the province differs: still unconfirmed (the 琼 read as 京)
        ([_r("ppocr", "京B12345"), _r("hyperlpr", "琼B12345")], "unconfirmed", None, ["京B12345", "琼B12345"]),
        # the reader surer where they differ goes first
        ([_r("ppocr", "京B12345", province=0.4), _r("hyperlpr", "琼B12345", province=0.9)], "unconfirmed", None,
         ["琼B12345", "京B12345"]),
        # one reader's read refused by the grammar: one candidate, unconfirmed
        ([_r("ppocr", "皖A195K9"), _r("hyperlpr", None, raw="A195K9", reason="province missing")], "unconfirmed", None,
         ["皖A195K9"]),
        ([_r("ppocr", None, raw="8706", reason="too few"), _r("hyperlpr", "豫QM87C6")], "unconfirmed", None, ["豫QM87C6"]),
        # nothing valid: unreadable with both reasons
        ([_r("ppocr", None, raw="8706", reason="too few"), _r("hyperlpr", None, raw="X", reason="too few")], "unreadable",
         None, []),
        # a single reader can never confirm
        ([_r("ppocr", "皖A195K9")], "unconfirmed", None, ["皖A195K9"]),
        ([], "unreadable", None, []),
    ],
)
def test_synthetic_decision_table(reads, status, text, candidates) -> None:
    d = decide(reads)
    assert d.status == status
    assert d.text == text
    assert [c.text for c in d.candidates] == candidates
    if status == "confirmed":
        assert d.reason is None and len(d.char_confidences) == len(text)
        assert set(d.candidates[0].readers) == {"ppocr", "hyperlpr"}
    else:
        assert d.reason
    if status == "unreadable" and reads:
        assert "ppocr" in d.reason and "hyperlpr" in d.reason


@pytest.mark.parametrize(("runner_up", "status"), [(0.2, "confirmed"), (0.34, "confirmed"), (0.35, "unconfirmed"), (0.6, "unconfirmed")])
def test_synthetic_contested_character_blocks_confirmation(runner_up: float, status: str) -> None:
    hl = ReaderRead("hyperlpr", "青EWP199", "青EWP199", "standard", (0.55,) + (0.95,) * 6, None, 0, (runner_up,) + (0.0,) * 6)
    d = decide([_r("ppocr", "青EWP199"), hl], max_runner_up=0.35)
    assert d.status == status
    if status == "unconfirmed":
        assert [c.text for c in d.candidates] == ["青EWP199"] and "position 1" in d.reason


def test_synthetic_disagreement_reason_names_both_reads() -> None:
    d = decide([_r("ppocr", "皖A195K9"), _r("hyperlpr", "皖A196K9")])
    assert "皖A195K9" in d.reason and "皖A196K9" in d.reason and "disagree" in d.reason


@pytest.mark.parametrize(
    ("local", "pp_prov", "hl_prov", "first", "tie"),
    [
        (None, 0.5, 0.5, "京B12345", False),  # no local province: reader order
        ("琼", 0.5, 0.5, "琼B12345", True),  # both provinces unsure: the local one goes first
        ("琼", 0.95, 0.5, "京B12345", False),  # a confident province is never overridden
        ("琼", 0.5, 0.85, "琼B12345", False),  # the surer reader at the differing position goes first anyway
        ("苏", 0.5, 0.5, "京B12345", False),  # the local province is neither candidate's
        ("京", 0.5, 0.5, "京B12345", False),  # already first: nothing to break
    ],
)
def test_synthetic_local_province_breaks_ties_between_unsure_provinces_only(local, pp_prov, hl_prov, first, tie) -> None:
    reads = [_r("ppocr", "京B12345", province=pp_prov), _r("hyperlpr", "琼B12345", province=hl_prov)]
    d = decide(reads, local_province=local, tie_break_below=0.8)
    assert d.status == "unconfirmed" and d.text is None  # a tie-break never confirms
    assert d.candidates[0].text == first
    assert ("local province" in d.reason) == tie


def test_synthetic_tie_break_needs_candidates_differing_only_in_province() -> None:
    cands = [PlateCandidate("京B12345", ("ppocr",), 0.5), PlateCandidate("琼B12346", ("hyperlpr",), 0.5)]
    reads = [_r("ppocr", "京B12345", province=0.3), _r("hyperlpr", "琼B12346", province=0.3)]
    assert province_tie_break(cands, reads, "琼", 0.8) == (cands, None)


def _crop(pp: str | None, hl: str | None, conf: float = 0.95) -> list[ReaderRead]:
    return [_r("ppocr", pp, conf, raw=pp or "?", reason="bad"), _r("hyperlpr", hl, conf, raw=hl or "?", reason="bad")]


@pytest.mark.parametrize(
    ("crops", "status", "text"),
    [
        ([(_crop("皖A195K9", "皖A195K9"), 1.0)], "confirmed", "皖A195K9"),
        # (a) one crop confirmed, the others only one reader valid: confirmed
        ([(_crop("皖A195K9", "皖A195K9"), 1.0), (_crop("皖A195K9", None), 0.8), (_crop(None, None), 0.5)], "confirmed", "皖A195K9"),
        # (b) no crop confirmed, but each reader read the voted text somewhere and the vote agrees enough
        ([(_crop("皖A195K9", None), 1.0), (_crop(None, "皖A195K9"), 1.0), (_crop("皖A195K9", None), 1.0)], "confirmed", "皖A195K9"),
        # (b) fails: only one reader ever read it
        ([(_crop("皖A195K9", None), 1.0), (_crop("皖A195K9", None), 1.0)], "unconfirmed", None),
        # (b) fails: agreement too low
        ([(_crop("皖A195K9", "湘A195K9", 0.6), 1.0), (_crop("湘A195K8", "皖A195K9", 0.6), 1.0)], "unconfirmed", None),
        # crops confirming different plates: unconfirmed
        ([(_crop("皖A195K9", "皖A195K9"), 1.0), (_crop("皖A196K9", "皖A196K9"), 1.0)], "unconfirmed", None),
        ([(_crop(None, None), 1.0)], "unreadable", None),
    ],
)
def test_synthetic_track_decision_table(crops, status, text) -> None:
    d = decide_track(crops, confirm_agreement=0.75)
    assert d.status == status
    assert d.text == text
    if status != "unreadable":
        assert d.candidates and 0.0 < d.agreement <= 1.0
    if status == "unconfirmed":
        assert d.reason


def test_synthetic_track_vote_agreement_is_stated() -> None:
    d = decide_track([(_crop("皖A195K9", "湘A195K9"), 1.0), (_crop("皖A195K9", "皖A195K9"), 1.0)])
    assert d.status == "confirmed"
    # 4 reads at confidence 0.95, 3 agree everywhere, one differs in the province: 27 of 28 characters
    assert d.agreement == pytest.approx((3 * 7 + 6) * 0.95 / 28)


def test_synthetic_plate_read_best_is_confirmed_text_else_first_candidate() -> None:
    assert PlateRead("皖A195K9", status="confirmed").best == "皖A195K9"
    cands = (PlateCandidate("京B12345", ("ppocr",), 0.9), PlateCandidate("琼B12345", ("hyperlpr",), 0.8))
    r = PlateRead(None, status="unconfirmed", candidates=cands)
    assert r.text is None and r.best == "京B12345"
    assert PlateRead(None).best is None and PlateRead(None).status == "unreadable"


def test_synthetic_local_province_must_be_a_province() -> None:
    from pydantic import ValidationError

    from vision.plates import PlateReaderConfig

    assert PlateReaderConfig(local_province="琼").local_province == "琼"
    with pytest.raises(ValidationError, match="province"):
        PlateReaderConfig(local_province="X")


SURE = {"ppocr": 0.8, "hyperlpr": 0.9}


@pytest.mark.parametrize(
    ("reads", "status", "text", "why"),
    [
        # one reader sure of the province is enough
        ([_r("ppocr", "浙GQ6A99", province=0.85), _r("hyperlpr", "浙GQ6A99", province=0.5)], "confirmed", "浙GQ6A99", None),
        ([_r("ppocr", "浙GQ6A99", province=0.5), _r("hyperlpr", "浙GQ6A99", province=0.92)], "confirmed", "浙GQ6A99", None),
        # neither sure: the held-out crop where both read 湘 for a half-cut 浙 stays unconfirmed
        ([_r("ppocr", "湘GQ6A99", province=0.27), _r("hyperlpr", "湘GQ6A99", province=0.52)], "unconfirmed", None,
         "no reader is sure of the province (ppocr 0.27, hyperlpr 0.52)"),
        # HyperLPR's level is higher (its tuned province error rate is higher)
        ([_r("ppocr", "湘GQ6A99", province=0.79), _r("hyperlpr", "湘GQ6A99", province=0.89)], "unconfirmed", None, "province"),
        # a plate with no province character is not gated
        ([_r("ppocr", "WJ12345", province=0.3), _r("hyperlpr", "WJ12345", province=0.3)], "confirmed", "WJ12345", None),
    ],
)
def test_synthetic_province_gate(reads, status, text, why) -> None:
    d = decide(reads, province_sure=SURE)
    assert (d.status, d.text) == (status, text)
    assert why is None or why in d.reason


@pytest.mark.parametrize(
    ("reads", "status", "text", "candidates"),
    [
        # the readers differ only in the province; the referee reads PP-OCRv4's text, which is sure of it
        ([_r("ppocr", "浙A12345", province=0.95), _r("hyperlpr", "湘A12345", province=0.6), _r("ppocr6", "浙A12345")],
         "confirmed", "浙A12345", [("浙A12345", ("ppocr", "ppocr6")), ("湘A12345", ("hyperlpr",))]),
        # ... or HyperLPR's, when HyperLPR is the sure one
        ([_r("ppocr", "浙A12345", province=0.6), _r("hyperlpr", "湘A12345", province=0.95), _r("ppocr6", "湘A12345")],
         "confirmed", "湘A12345", [("湘A12345", ("hyperlpr", "ppocr6")), ("浙A12345", ("ppocr",))]),
        # the reader it backs is not sure of the province: no confirmation
        ([_r("ppocr", "浙A12345", province=0.7), _r("hyperlpr", "湘A12345", province=0.6), _r("ppocr6", "浙A12345")],
         "unconfirmed", None, [("浙A12345", ("ppocr", "ppocr6")), ("湘A12345", ("hyperlpr",))]),
        # a third text, or an invalid referee read: no confirmation
        ([_r("ppocr", "浙A12345"), _r("hyperlpr", "湘A12345"), _r("ppocr6", "川A12345")], "unconfirmed", None,
         [("浙A12345", ("ppocr",)), ("湘A12345", ("hyperlpr",)), ("川A12345", ("ppocr6",))]),
        ([_r("ppocr", "浙A12345"), _r("hyperlpr", "湘A12345"), _r("ppocr6", None, raw="A12345", reason="no province")],
         "unconfirmed", None, [("浙A12345", ("ppocr",)), ("湘A12345", ("hyperlpr",))]),
        # the referee never settles another character (the PaddleOCR models share Q/D/0 mistakes)
        ([_r("ppocr", "浙A1234D"), _r("hyperlpr", "浙A12340"), _r("ppocr6", "浙A1234D")], "unconfirmed", None,
         [("浙A1234D", ("ppocr", "ppocr6")), ("浙A12340", ("hyperlpr",))]),
    ],
)
def test_synthetic_province_referee(reads, status, text, candidates) -> None:
    d = decide(reads, province_sure=SURE)
    assert (d.status, d.text) == (status, text)
    assert [(c.text, c.readers) for c in d.candidates] == candidates


def test_synthetic_province_dispute_is_only_the_province() -> None:
    from vision.plates.decision import province_dispute

    assert province_dispute([_r("ppocr", "浙A12345"), _r("hyperlpr", "湘A12345")])
    assert not province_dispute([_r("ppocr", "浙A12345"), _r("hyperlpr", "浙A12346")])
    assert not province_dispute([_r("ppocr", "浙A12345"), _r("hyperlpr", None, raw="A12345")])
    assert not province_dispute([_r("ppocr", "浙A12345"), _r("hyperlpr", "湘A123456")])
