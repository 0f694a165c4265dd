"""The double-read decision: confirmed, unconfirmed (candidates kept) or unreadable, per plate and per track.

A wrong but valid-looking plate fines an innocent owner, so a plate is only ``confirmed`` when two
independent recognisers (PP-OCRv4 and HyperLPR, different architectures and training data) read
the same text, character for character, after each read passed the grammar on its own. Anything
else with a valid read is ``unconfirmed`` and keeps every candidate for a reviewer.

Across a track (several crops of one vehicle) a plate is confirmed when
  (a) at least one crop was confirmed, every confirmed crop says the same text, and that text also
      wins the per-character vote over all reads; or
  (b) no crop was confirmed, but each recogniser read the voted text in some crop, and the vote's
      agreement (``vote.VoteResult.agreement``) is at least ``confirm_agreement``.

Contested characters: even when both top choices agree, a plate is not confirmed when either reader
gave a different plausible character at some position a probability of ``max_runner_up`` or more
(``ReaderRead.runner_ups``): that reader nearly read another plate.

Unsure province: the province character is where the readers fail most (HyperLPR reads 浙/皖 as
湘/川 when the character is cut or faint) and where two readers can fail alike. A plate is not
confirmed unless at least one reader is sure of its province: its confidence there at or above that
reader's level in ``province_sure``. The levels come from each reader's province error rate on the
tuned part of the crop set (PP-OCRv4: 0.06% wrong at 0.8 and above, 3.6% at 0.7-0.8; HyperLPR: 0.2%
at 0.9 and above, 3.2% at 0.8-0.9), never from the confirmed errors themselves.

Province referee: when PP-OCRv4 and HyperLPR read valid plates that differ ONLY in the province,
a third recogniser (``REFEREE``, PP-OCRv6) reads the same image; if it reads exactly the text of one
of the two, and that reader is sure of the province (``province_sure``), and no reader nearly read
another character, the plate is confirmed: every character is then backed by two recognisers, and
the rest of the plate by both independent ones. PP-OCRv6 settles nothing else: where it agreed with
PP-OCRv4 on a whole plate HyperLPR read otherwise it was wrong 8 times in 108 on the tuned crops
(the two PaddleOCR models share Q/D/0 mistakes), but on province-only disputes 0 times in 51.

Candidate order (unconfirmed): more readers first; between two 7-character single-reader candidates,
the one whose reader was surer at the positions where they differ (sum of confidences there) --
measured on the tuned part of the crop set: right first in 229 of 260 disagreements, against 222
for PP-OCRv4 always first; otherwise PP-OCRv4 first (HyperLPR's model predates the 8-character
new-energy plates and misreads them confidently).

Local province: a site may name its province. Between two candidates that differ ONLY in the
province character, where neither read of that character reached ``tie_break_below``, the one
with the local province is put first (the plate stays unconfirmed: a tie-break is a hint for the
reviewer, never a confirmation, and never overrides a confident province).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from vision.plates.grammar import PROVINCES
from vision.plates.result import PlateCandidate, PlateStatus, ReaderRead
from vision.plates.vote import Ballot, vote

READER_PRIORITY = ("ppocr", "hyperlpr", "ppocr6")  # measured: PP-OCRv4 is right more often when the two disagree
REFEREE = "ppocr6"  # PP-OCRv6: reads a plate only to settle a province dispute of the other two


@dataclass(frozen=True)
class Decision:
    status: PlateStatus
    text: str | None  # set only when confirmed
    candidates: tuple[PlateCandidate, ...] = ()
    reason: str | None = None
    char_confidences: tuple[float, ...] = ()
    kind: str | None = None
    agreement: float = 0.0
    contested: bool = False  # both read the same text, but a reader nearly read another character


def _priority(readers: Sequence[str]) -> int:
    return min((READER_PRIORITY.index(r) for r in readers if r in READER_PRIORITY), default=len(READER_PRIORITY))


def _candidates(reads: Sequence[ReaderRead]) -> list[PlateCandidate]:
    by_text: dict[str, list[ReaderRead]] = defaultdict(list)
    for r in reads:
        if r.text:
            by_text[r.text].append(r)
    cands = [
        PlateCandidate(text, tuple(dict.fromkeys(r.reader for r in rs)), max(r.confidence for r in rs), rs[0].kind)
        for text, rs in by_text.items()
    ]
    cands.sort(key=lambda c: (-len(c.readers), _priority(c.readers), -c.confidence))
    if len(cands) >= 2 and len(cands[0].readers) == len(cands[1].readers) == 1 and len(cands[0].text) == len(cands[1].text) == 7:
        a, b = (next(r for r in reads if r.text == c.text) for c in cands[:2])
        diff = [i for i, (x, y) in enumerate(zip(a.text, b.text)) if x != y]
        if sum(b.char_confidences[i] for i in diff) > sum(a.char_confidences[i] for i in diff):
            cands[0], cands[1] = cands[1], cands[0]
    return cands


def _contested(reads: Sequence[ReaderRead], limit: float) -> str | None:
    for r in reads:
        for i, p in enumerate(r.runner_ups):
            if p >= limit:
                return f"{r.reader} also saw another character at position {i + 1} ({p:.2f})"
    return None


def _province_doubt(reads: Sequence[ReaderRead], sure: Mapping[str, float] | None) -> str | None:
    """Why no reader is sure of the province of the (agreed) text, or None when one is (or the plate
    has no province, e.g. a HK local plate)."""
    texts = [r for r in reads if r.text and r.char_confidences]
    if not sure or not texts or texts[0].text[0] not in PROVINCES:
        return None
    if any(r.char_confidences[0] >= sure.get(r.reader, 1.01) for r in texts):
        return None
    return "no reader is sure of the province (" + ", ".join(f"{r.reader} {r.char_confidences[0]:.2f}" for r in texts) + ")"


def province_tie_break(cands: list[PlateCandidate], reads: Sequence[ReaderRead], local_province: str | None,
                       below: float) -> tuple[list[PlateCandidate], str | None]:
    """Put the local-province candidate first when the top two differ only in a low-confidence province."""
    if not local_province or len(cands) < 2:
        return cands, None
    a, b = cands[0], cands[1]
    if len(a.text) != len(b.text) or a.text[0] == b.text[0] or a.text[1:] != b.text[1:]:
        return cands, None
    province_conf = max((r.char_confidences[0] for r in reads if r.text in (a.text, b.text) and r.char_confidences),
                        default=1.0)
    if province_conf >= below:
        return cands, None  # a confident province read is never overridden
    local = [c for c in (a, b) if c.text[0] == local_province]
    if len(local) != 1 or local[0] is a:
        return cands, None
    note = f"local province {local_province} put first: provinces {a.text[0]}/{b.text[0]} both read below {below:.2f}"
    return [b, a, *cands[2:]], note


def _disagreement(reads: Sequence[ReaderRead]) -> str:
    parts = [f"{r.reader} {r.text!r}" if r.text else f"{r.reader}: {r.reason or 'no valid read'}" for r in reads]
    return "readers disagree: " + "; ".join(parts)


def province_dispute(reads: Sequence[ReaderRead]) -> bool:
    """The two main readers read valid plates that differ only in the province: the referee's case."""
    main = [r for r in reads if r.reader != REFEREE]
    if len(main) != 2 or not all(r.text for r in main):
        return False
    a, b = main[0].text, main[1].text
    return len(a) == len(b) and a[0] != b[0] and a[1:] == b[1:] and a[0] in PROVINCES and b[0] in PROVINCES


def _refereed(valid: Sequence[ReaderRead], sure: Mapping[str, float] | None, max_runner_up: float) -> ReaderRead | None:
    """The main read the referee backs in a province dispute, when its reader is sure of the province."""
    referee = next((r for r in valid if r.reader == REFEREE), None)
    if referee is None or not province_dispute(valid) or _contested(valid, max_runner_up):
        return None
    backed = next((r for r in valid if r.reader != REFEREE and r.text == referee.text), None)
    if backed is None or backed.char_confidences[0] < (sure or {}).get(backed.reader, 1.01):
        return None
    return backed


def decide(reads: Sequence[ReaderRead], local_province: str | None = None, tie_break_below: float = 0.8,
           max_runner_up: float = 1.0, province_sure: Mapping[str, float] | None = None) -> Decision:
    """One plate view read by every recogniser -> its status (see the module docstring)."""
    valid = [r for r in reads if r.text]
    if not valid:
        reason = "; ".join(f"{r.reader}: {r.reason or 'no valid read'}" for r in reads) or "not read"
        return Decision("unreadable", None, reason=reason)
    cands = _candidates(reads)
    ballots = [Ballot(r.text, r.char_confidences) for r in valid if r.text]
    voted = vote(ballots, min_agreement=0.0)
    main = [r for r in reads if r.reader != REFEREE]
    contested = _contested(valid, max_runner_up) or (_province_doubt(valid, province_sure) if len(cands) == 1 else None)
    if len(main) >= 2 and all(r.text for r in main) and len(cands) == 1 and contested is None:
        confs = tuple(max(r.char_confidences[i] for r in valid) for i in range(len(cands[0].text)))
        return Decision("confirmed", cands[0].text, tuple(cands), None, confs, cands[0].kind, voted.agreement)
    backed = _refereed(valid, province_sure, max_runner_up)
    if backed is not None:
        behind = [r for r in valid if r.text == backed.text]
        confs = tuple(max(r.char_confidences[i] for r in behind) for i in range(len(backed.text)))
        ordered = sorted(cands, key=lambda c: c.text != backed.text)
        return Decision("confirmed", backed.text, tuple(ordered), None, confs, backed.kind, voted.agreement)
    cands, note = province_tie_break(cands, reads, local_province, tie_break_below)
    doubt = len(reads) >= 2 and len(valid) == len(reads) and len(cands) == 1
    reason = f"both read {cands[0].text!r}, but {contested}" if doubt else _disagreement(reads) + (f" ({note})" if note else "")
    best = next(r for r in valid if r.text == cands[0].text)
    return Decision("unconfirmed", None, tuple(cands), reason, best.char_confidences, cands[0].kind, voted.agreement,
                    contested=doubt)


def decide_track(crops: Sequence[tuple[Sequence[ReaderRead], float]], confirm_agreement: float = 0.75,
                 local_province: str | None = None, tie_break_below: float = 0.8, max_runner_up: float = 1.0,
                 province_sure: Mapping[str, float] | None = None) -> Decision:
    """Several crops of one plate, each read by every recogniser (with the crop's quality weight)."""
    per_crop = [decide(reads, local_province, tie_break_below, max_runner_up, province_sure) for reads, _ in crops]
    all_reads = [r for reads, _ in crops for r in reads]
    ballots = [Ballot(r.text, r.char_confidences, w) for reads, w in crops for r in reads if r.text]
    if not ballots:
        reason = next((d.reason for d in per_crop if d.reason), "no valid read")
        return Decision("unreadable", None, reason=reason)
    voted = vote(ballots, min_agreement=0.0)
    text = voted.text
    confirmed = {d.text for d in per_crop if d.status == "confirmed"}
    readers_of = {r.reader for r in all_reads if r.text == text}
    all_readers = {r.reader for r in all_reads}
    kind = next((r.kind for r in all_reads if r.text == text), None)
    if confirmed == {text}:
        return Decision("confirmed", text, _track_candidates(crops), None, voted.char_confidences, kind, voted.agreement)
    behind = [r for r in all_reads if r.text == text]
    if (not confirmed and len(all_readers) >= 2 and readers_of == all_readers and voted.agreement >= confirm_agreement
            and _contested(behind, max_runner_up) is None and _province_doubt(behind, province_sure) is None):
        return Decision("confirmed", text, _track_candidates(crops), None, voted.char_confidences, kind, voted.agreement)
    cands, note = province_tie_break(_track_candidates(crops), all_reads, local_province, tie_break_below)
    if len(confirmed) > 1 or (confirmed and confirmed != {text}):
        reason = f"crops confirmed different plates or were outvoted: {sorted(confirmed)} vs vote {text!r}"
    else:
        reason = f"no crop confirmed and the track vote did not (agreement {voted.agreement:.2f}, readers {sorted(readers_of)})"
    best = next((d for d in per_crop if d.candidates and d.candidates[0].text == cands[0].text), None)
    confs = best.char_confidences if best else voted.char_confidences
    return Decision("unconfirmed", None, tuple(cands), reason + (f" ({note})" if note else ""), confs,
                    cands[0].kind, voted.agreement)


def _track_candidates(crops: Sequence[tuple[Sequence[ReaderRead], float]]) -> list[PlateCandidate]:
    """Candidates over a track: confidence is the weighted share of reads behind each text."""
    support: dict[str, float] = defaultdict(float)
    readers: dict[str, list[str]] = defaultdict(list)
    kinds: dict[str, str | None] = {}
    total = 0.0
    for reads, w in crops:
        for r in reads:
            total += w
            if r.text:
                support[r.text] += w * r.confidence
                readers[r.text].append(r.reader)
                kinds.setdefault(r.text, r.kind)
    cands = [PlateCandidate(t, tuple(dict.fromkeys(readers[t])), support[t] / max(total, 1e-9), kinds[t]) for t in support]
    return sorted(cands, key=lambda c: (-len(c.readers), -c.confidence, _priority(c.readers)))


def with_color(decision: Decision, color_of: dict[str, str]) -> Decision:
    """The decision with each candidate's colour filled in (colour may depend on the candidate's kind)."""
    cands = tuple(replace(c, color=color_of.get(c.text, c.color)) for c in decision.candidates)
    return replace(decision, candidates=cands)
