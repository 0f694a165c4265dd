"""Per-character voting over several reads of one plate (one track), weighted by confidence.

Only grammar-valid reads vote. Reads are aligned by position within the most supported length (a
plate's format fixes its length, so equal length means aligned characters); reads of another length
count as dissent at every position. The voted string is re-validated: a character-wise mix of two
valid reads can be invalid (e.g. half of a new-energy plate), and then the best whole read stands.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from vision.plates.grammar import normalise


@dataclass(frozen=True)
class Ballot:
    """One valid read: normalised text, its per-character confidences, and the crop's quality weight."""

    text: str
    char_confidences: tuple[float, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class VoteResult:
    text: str | None
    # 0..1: confidence mass behind the chosen characters over the most there could be (every read
    # agreeing with confidence 1) -- one sure read scores its confidence, disagreement lowers it
    agreement: float
    char_confidences: tuple[float, ...]
    reason: str | None = None


def vote(ballots: Sequence[Ballot], min_agreement: float = 0.5) -> VoteResult:
    """The plate most reads support, with how much they agree; unreadable below ``min_agreement``."""
    ballots = [b for b in ballots if b.text and len(b.char_confidences) == len(b.text) and b.weight > 0]
    if not ballots:
        return VoteResult(None, 0.0, (), "no valid read to vote on")
    by_len: dict[int, float] = defaultdict(float)
    for b in ballots:
        by_len[len(b.text)] += b.weight * sum(b.char_confidences) / len(b.text)
    length = max(by_len, key=lambda n: by_len[n])
    aligned = [b for b in ballots if len(b.text) == length]
    total_at = sum(b.weight for b in ballots)  # every ballot has a say at every position

    chars, confs = [], []
    for i in range(length):
        score: dict[str, float] = defaultdict(float)
        for b in aligned:
            score[b.text[i]] += b.weight * b.char_confidences[i]
        winner = max(score, key=lambda c: score[c])
        chars.append(winner)
        backers = [b for b in aligned if b.text[i] == winner]
        confs.append(max(b.char_confidences[i] for b in backers))
    text = "".join(chars)
    if not normalise(text, max_repairs=0).valid:
        best = max(aligned, key=lambda b: b.weight * sum(b.char_confidences))
        text, confs = best.text, list(best.char_confidences)
    support = sum(b.weight * b.char_confidences[i] for i in range(length) for b in aligned if b.text[i] == text[i])
    agreement = min(1.0, support / (total_at * length))
    if agreement < min_agreement:
        return VoteResult(None, agreement, tuple(confs), f"reads disagree (agreement {agreement:.2f})")
    return VoteResult(text, agreement, tuple(confs))
