"""Watchlist matching: exact plates, patterns, look-alike characters, one-character edits, and the
candidates of unconfirmed reads, each hit with a score.

A pass offers one read (a confirmed plate, weight 1) or several (an unconfirmed read's candidates,
the first weighted ``unconfirmed_first``, the rest ``unconfirmed_other``). Each read is looked up:

- ``exact``: the same text (``MatchConfig.exact``, 1.0);
- ``pattern``: an entry with ``*`` (any run) or ``?`` (one character) matching the whole text;
- ``confusable``: the same text once look-alike characters are folded (0/D/Q, 8/B, 2/Z, 5/S, 6/G,
  1/I/T, 4/A): a misread the readers are known to make;
- ``edit``: one character replaced, missing or extra (Levenshtein distance 1).

A hit's score is the kind's score times the read's weight; an entry's best hit over all reads is
kept, and hits below ``min_score`` are dropped. Lookups use indexes (exact text, folded text, and
each text with one character deleted), so a long watchlist costs the same per pass as a short one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from evidence.checkpoint.values import MatchKind, NewPass, WatchEntry
from pipelines.checkpoint.config import MatchConfig

CONFUSABLE_GROUPS = ("0DQ", "8B", "2Z", "5S", "6G", "1IT", "4A")
_FOLD = {c: group[0] for group in CONFUSABLE_GROUPS for c in group}


def fold(text: str) -> str:
    """The text with every look-alike character replaced by its group's first."""
    return "".join(_FOLD.get(c, c) for c in text)


def deletions(text: str) -> set[str]:
    """Every text with exactly one character deleted."""
    return {text[:i] + text[i + 1:] for i in range(len(text))}


def within_one_edit(a: str, b: str) -> bool:
    """True when a and b differ by at most one replaced, inserted or deleted character."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def reads_of(p: NewPass, cfg: MatchConfig) -> list[tuple[str, float]]:
    """The texts of a pass to look up, with their weights: a confirmed plate whole; an unconfirmed
    read's candidates less, the first more than the rest; nothing for an unreadable plate."""
    if p.confirmed:
        return [(p.plate or "", 1.0)]
    texts = list(dict.fromkeys([c.text for c in p.plate_candidates] or ([p.plate] if p.plate else [])))
    return [(t, cfg.unconfirmed_first if i == 0 else cfg.unconfirmed_other) for i, t in enumerate(texts)]


def _pattern(plate: str) -> re.Pattern[str]:
    return re.compile("^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in plate) + "$")


@dataclass(frozen=True)
class Hit:
    entry: WatchEntry
    score: float
    kind: MatchKind
    text: str  # the read that matched


class WatchIndex:
    """The active entries valid at some time, indexed for the four kinds of lookup."""

    def __init__(self, entries: Iterable[WatchEntry], cfg: MatchConfig | None = None) -> None:
        self.cfg = cfg or MatchConfig()
        self.entries = [e for e in entries if e.active]
        self._exact: dict[str, list[WatchEntry]] = defaultdict(list)
        self._folded: dict[str, list[WatchEntry]] = defaultdict(list)
        self._deleted: dict[str, list[WatchEntry]] = defaultdict(list)
        self._patterns: list[tuple[re.Pattern[str], WatchEntry]] = []
        for e in self.entries:
            if e.is_pattern:
                self._patterns.append((_pattern(e.plate), e))
                continue
            self._exact[e.plate].append(e)
            self._folded[fold(e.plate)].append(e)
            for d in deletions(e.plate) | {e.plate}:
                self._deleted[d].append(e)

    def __len__(self) -> int:
        return len(self.entries)

    def _kinds(self, text: str) -> list[tuple[WatchEntry, MatchKind]]:
        found: list[tuple[WatchEntry, MatchKind]] = [(e, "exact") for e in self._exact.get(text, ())]
        found += [(e, "pattern") for p, e in self._patterns if p.match(text)]
        found += [(e, "confusable") for e in self._folded.get(fold(text), ()) if e.plate != text]
        seen: set[int] = set()
        for d in deletions(text) | {text}:  # substitution, insertion, deletion: a shared one-deletion form
            for e in self._deleted.get(d, ()):
                if e.id not in seen and e.plate != text and within_one_edit(e.plate, text):
                    seen.add(e.id)
                    found.append((e, "edit"))
        return found

    def match(self, reads: Sequence[tuple[str, float]], when: datetime) -> list[Hit]:
        """The best hit per entry valid at ``when`` over every (text, weight) read, best first."""
        best: dict[int, Hit] = {}
        for text, weight in reads:
            if not text:
                continue
            for entry, kind in self._kinds(text):
                if not entry.valid_at(when):
                    continue
                score = round(getattr(self.cfg, kind) * weight, 4)
                if score >= self.cfg.min_score and (entry.id not in best or score > best[entry.id].score):
                    best[entry.id] = Hit(entry, score, kind, text)
        return sorted(best.values(), key=lambda h: (-h.score, h.entry.priority, h.entry.id))
