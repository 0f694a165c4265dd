"""Per-track voting: per-character weighted votes, agreement, disagreement and invalid mixes."""

from __future__ import annotations

import pytest

from vision.plates.vote import Ballot, vote


def _b(text: str, conf: float = 1.0, weight: float = 1.0) -> Ballot:
    return Ballot(text, tuple([conf] * len(text)), weight)


@pytest.mark.parametrize(
    ("ballots", "text", "agreement"),
    [
        ([_b("皖A195K9")], "皖A195K9", 1.0),
        ([_b("皖A195K9", 0.8)], "皖A195K9", 0.8),  # one read: agreement is its confidence
        ([_b("皖A195K9"), _b("皖A195K9"), _b("皖A195K9")], "皖A195K9", 1.0),
        # one character differs in one of three equal reads: majority wins per character
        ([_b("皖A195K9"), _b("皖A195K9"), _b("皖A196K9")], "皖A195K9", (3 * 7 - 1) / 21),
        # different characters in different reads: each position still takes its majority
        ([_b("皖A195K9"), _b("皖A196K9"), _b("皖B195K9")], "皖A195K9", (3 * 7 - 2) / 21),
        # a heavier (better) crop outvotes a lighter one
        ([_b("皖A195K9", weight=3.0), _b("皖A196K9", weight=1.0)], "皖A195K9", (4 * 7 - 1) / 28),
        # confidence weighs too: a confident read beats an unsure one
        ([_b("皖A195K9", 0.95), _b("皖A196K9", 0.4)], "皖A195K9", (0.95 * 7 + 0.4 * 6) / 14),
        # a read of another length dissents at every position
        ([_b("皖A195K9"), _b("皖A195K9"), _b("黑AD03210")], "皖A195K9", 14 / 21),
    ],
)
def test_synthetic_vote_table(ballots: list[Ballot], text: str, agreement: float) -> None:
    res = vote(ballots)
    assert res.text == text
    assert res.agreement == pytest.approx(agreement)
    assert len(res.char_confidences) == len(text)
    assert res.reason is None


def test_synthetic_vote_never_outputs_an_invalid_mix() -> None:
    # small new-energy (D first) vs large new-energy (D last): a per-position mix could read
    # 粤B1234 5D-style nonsense; the vote falls back to the best whole read
    res = vote([_b("粤BD12345", 0.9, 1.0), _b("粤B12345D", 0.9, 1.0), _b("粤B12345D", 0.5, 1.0)])
    assert res.text in {"粤BD12345", "粤B12345D"}
    from vision.plates.grammar import is_valid

    assert is_valid(res.text)


def test_synthetic_vote_disagreement_below_threshold_is_unreadable() -> None:
    res = vote([_b("皖A195K9", 0.5), _b("鲁L88888", 0.5), _b("粤NBM959", 0.5)], min_agreement=0.5)
    assert res.text is None
    assert "disagree" in res.reason


@pytest.mark.parametrize("ballots", [[], [Ballot("", (), 1.0)], [Ballot("皖A195K9", (1.0,), 1.0)], [_b("皖A195K9", weight=0)]])
def test_synthetic_vote_without_usable_ballots(ballots: list[Ballot]) -> None:
    res = vote(ballots)
    assert res.text is None
    assert res.agreement == 0.0
    assert res.reason
