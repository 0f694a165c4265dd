"""Chinese plate formats: validate and normalise a recognised string, or say why it is unreadable.

A read is only ever reported as a plate when every character fits its position in one of the formats
below. Characters that do not fit are repaired only from the recogniser's own runner-up candidates
for that character, or from the fixed look-alike pairs that are unambiguous in that position
(a digit where only letters are allowed, a letter where only digits are, I/O in a serial). A missing
character is never invented: the read is then unreadable with the reason.

Formats (GA 36 plates, without the separator dot):
- standard: province, issuing-authority letter, 5 serial characters (digits/letters, never I or O,
  at most 3 letters -- serials are mostly digits; more letters is a misread of a sign or banner);
- suffixed: province, letter, 4 serial characters, then 警 (police), 学 (driving school), 挂 (trailer),
  港/澳 (Hong Kong/Macau cross-border), 领 (consulate);
- embassy: 使 then 6 digits;
- new energy, 8 characters: small vehicles D/F right after the letter (then a digit or letter and
  4 digits); large vehicles 5 digits then D/F;
- tractor (double-row, agricultural 农用车 / 拖拉机): province, 2-digit area code, 5 digits; the
  province + area code must be a listed agricultural prefix (``prefixes.AGRICULTURAL_PREFIXES``);
- military: 2 letters then 5 digits;
- Hong Kong / Macau local plates (carried beside a 粤Z plate): 2 letters then 1-4 digits.

The province character is never repaired: a read whose first character is not a province (or a
province the recogniser was unsure of) stays as read, so a 琼 seen as 京 is never "corrected" into
another valid plate; the second reader and the site's tie-break decide (see ``decision``).

Double-row plates (``refine_kind``): the text grammar is the same as the single-row format, the row
layout and shape decide the kind -- a yellow 440x220 plate is a truck/bus rear plate
(``truck_double``), a 220x140 plate (aspect ~1.6) a motorcycle plate (``motorcycle``); tractor
plates are always double-row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence

from vision.plates.prefixes import AGRICULTURAL_PREFIXES

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # I and O are never used on plates
DIGITS = "0123456789"
SERIAL = DIGITS + LETTERS
SUFFIXES = "警学挂港澳领"
EMBASSY = "使"
NEV_MARK = "DF"
ALL_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Everything a plate can show; the recogniser is restricted to these (plus separators it drops).
PLATE_CHARSET = PROVINCES + ALL_LETTERS + DIGITS + SUFFIXES + EMBASSY

PlateKind = Literal[
    "standard", "police", "coach", "trailer", "hk_macau_crossborder", "consulate", "embassy",
    "new_energy_small", "new_energy_large", "tractor", "military", "hk_macau_local",
    "truck_double", "motorcycle",
]

# Look-alikes, applied only where the position allows one class and the read shows the other.
TO_LETTER = {"0": "D", "O": "D", "8": "B", "2": "Z", "5": "S"}  # '1' has no letter twin (I is unused)
TO_DIGIT = {"O": "0", "D": "0", "Q": "0", "I": "1", "B": "8", "Z": "2", "S": "5"}
TO_SERIAL = {"O": "0", "I": "1"}


@dataclass(frozen=True)
class _Slot:
    allowed: str
    confusables: dict[str, str] = field(default_factory=dict)


_P = _Slot(PROVINCES)
_L = _Slot(LETTERS, TO_LETTER)
_D = _Slot(DIGITS, TO_DIGIT)
_S = _Slot(SERIAL, TO_SERIAL)
_NEV = _Slot(NEV_MARK, {"0": "D", "O": "D"})

_FORMATS: tuple[tuple[PlateKind, tuple[_Slot, ...]], ...] = (
    ("standard", (_P, _L, _S, _S, _S, _S, _S)),
    ("police", (_P, _L, _S, _S, _S, _S, _Slot("警"))),
    ("coach", (_P, _L, _S, _S, _S, _S, _Slot("学"))),
    ("trailer", (_P, _L, _S, _S, _S, _S, _Slot("挂"))),
    ("hk_macau_crossborder", (_P, _L, _S, _S, _S, _S, _Slot("港澳"))),
    ("consulate", (_P, _L, _S, _S, _S, _S, _Slot("领"))),
    ("embassy", (_Slot(EMBASSY), _D, _D, _D, _D, _D, _D)),
    ("new_energy_small", (_P, _L, _NEV, _S, _D, _D, _D, _D)),
    ("new_energy_large", (_P, _L, _D, _D, _D, _D, _D, _NEV)),
    ("tractor", (_P, _D, _D, _D, _D, _D, _D, _D)),
    ("military", (_L, _L, _D, _D, _D, _D, _D)),
    ("hk_macau_local", (_L, _L, _D)),
    ("hk_macau_local", (_L, _L, _D, _D)),
    ("hk_macau_local", (_L, _L, _D, _D, _D)),
    ("hk_macau_local", (_L, _L, _D, _D, _D, _D)),
)

# Plate colour each format is printed in (None: several, decided by the pixels).
KIND_COLOR: dict[str, str | None] = {
    "standard": None, "police": "white", "coach": "yellow", "trailer": "yellow",
    "hk_macau_crossborder": "black", "consulate": "black", "embassy": "black",
    "new_energy_small": "green", "new_energy_large": "green", "tractor": "green",
    "military": "white", "hk_macau_local": None, "truck_double": "yellow", "motorcycle": None,
}
# width / height of a double-row plate below which it is a motorcycle plate (220x140 = 1.57 vs 440x220 = 2)
MOTORCYCLE_MAX_ASPECT = 1.8


@dataclass(frozen=True)
class Candidate:
    """One recognised character with the recogniser's runner-ups, best first: ((char, prob), ...)."""

    char: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class GrammarResult:
    text: str | None  # normalised plate, None when unreadable
    kind: PlateKind | None
    reason: str | None  # why unreadable, or None
    repairs: int = 0  # characters changed to fit the format
    char_confidences: tuple[float, ...] = ()

    @property
    def valid(self) -> bool:
        return self.text is not None


def _fit_slot(c: Candidate, slot: _Slot, min_alt: float) -> tuple[str, float, int] | None:
    if c.char in slot.allowed:
        return c.char, c.confidence, 0
    if slot is _P:  # the province is never repaired (see the module docstring)
        return None
    for alt, p in c.alternatives:
        if alt in slot.allowed and p >= min_alt:
            return alt, p, 1
    mapped = slot.confusables.get(c.char)
    if mapped is not None and mapped in slot.allowed:
        return mapped, c.confidence * 0.5, 1
    return None


def _fit(cands: Sequence[Candidate], slots: tuple[_Slot, ...], min_alt: float) -> tuple[str, tuple[float, ...], int] | None:
    if len(cands) != len(slots):
        return None
    chars, confs, repairs = [], [], 0
    for c, slot in zip(cands, slots):
        fitted = _fit_slot(c, slot, min_alt)
        if fitted is None:
            return None
        chars.append(fitted[0])
        confs.append(fitted[1])
        repairs += fitted[2]
    return "".join(chars), tuple(confs), repairs


def candidates_from_text(text: str, confidences: Sequence[float] | None = None) -> list[Candidate]:
    """Plain text (e.g. from a label or a test) as candidates without runner-ups."""
    confs = list(confidences) if confidences is not None else [1.0] * len(text)
    return [Candidate(ch, float(p)) for ch, p in zip(text, confs)]


def normalise(
    cands: Sequence[Candidate] | str,
    max_repairs: int = 2,
    min_alt: float = 0.05,
    min_char_confidence: float = 0.3,
) -> GrammarResult:
    """The plate these characters spell, or unreadable with the reason.

    Characters are upper-cased and stray separators dropped first. Among the formats the read can
    be fitted to, the one with fewest repairs wins (then the highest mean confidence). More than
    ``max_repairs`` repairs, or any character below ``min_char_confidence``, is unreadable.
    """
    if isinstance(cands, str):
        cands = candidates_from_text(cands)
    cleaned = [
        Candidate(c.char.upper(), c.confidence, tuple((a.upper(), p) for a, p in c.alternatives))
        for c in cands
        if c.char.strip() and c.char not in "·.-:：•∶—_"
    ]
    if not cleaned:
        return GrammarResult(None, None, "no characters read")
    fits: list[tuple[int, float, PlateKind, str, tuple[float, ...]]] = []
    for kind, slots in _FORMATS:
        fitted = _fit(cleaned, slots, min_alt)
        if fitted is not None:
            text, confs, repairs = fitted
            fits.append((repairs, -sum(confs) / len(confs), kind, text, confs))
    if not fits:
        return GrammarResult(None, None, _why_no_format(cleaned))
    kept = [f for f in fits if _serial_letters_ok(f[2], f[3])]
    if not kept:
        read = "".join(c.char for c in cleaned)
        if all(f[2] == "tractor" for f in fits):
            return GrammarResult(None, None, f"{read!r}: {fits[0][3][:3]} is not a listed agricultural area code")
        return GrammarResult(None, None, f"{read!r} has too many letters for a plate serial")
    fits = kept
    fits.sort(key=lambda f: (f[0], f[1]))
    repairs, _, kind, text, confs = fits[0]
    if repairs > max_repairs:
        return GrammarResult(None, kind, f"{repairs} characters had to be repaired to fit a {kind} plate")
    weakest = min(confs)
    if weakest < min_char_confidence:
        pos = confs.index(weakest)
        return GrammarResult(None, kind, f"character {pos + 1} of {text!r} is uncertain ({weakest:.2f})", repairs, confs)
    return GrammarResult(text, kind, None, repairs, confs)


MAX_SERIAL_LETTERS = 3


def _serial_letters_ok(kind: str, text: str) -> bool:
    """Mainland serials (after province + letter) carry at most ``MAX_SERIAL_LETTERS`` letters;
    agricultural plates must carry a listed area code."""
    if kind == "tractor":
        return text[:3] in AGRICULTURAL_PREFIXES
    if kind in ("embassy", "military", "hk_macau_local"):
        return True
    return sum(ch in ALL_LETTERS for ch in text[2:]) <= MAX_SERIAL_LETTERS


def refine_kind(kind: PlateKind | None, rows: int, color: str, aspect: float | None = None) -> PlateKind | None:
    """The kind once the row layout, colour and shape are known (double-row formats share the text grammar).

    ``aspect`` is the plate's width / height (rectified quad); double-row standard plates narrower than
    ``MOTORCYCLE_MAX_ASPECT`` are motorcycle plates, wider yellow ones truck/bus rear plates.
    """
    if rows != 2 or kind != "standard":
        return kind
    if aspect is not None and aspect < MOTORCYCLE_MAX_ASPECT:
        return "motorcycle"
    return "truck_double" if color == "yellow" else kind


def _why_no_format(cands: Sequence[Candidate]) -> str:
    text = "".join(c.char for c in cands)
    n = len(text)
    if n < 5:
        return f"too few characters read ({text!r})"
    if text[0] not in PROVINCES and n in (6, 7) and text[0] in ALL_LETTERS and not text[1:2].isdigit():
        return f"province character missing or unreadable ({text!r})"
    if n > 8:
        return f"too many characters read ({text!r})"
    return f"{text!r} matches no Chinese plate format"


def runner_ups(cands: Sequence[Candidate], text: str) -> tuple[float, ...]:
    """Per character of ``text``, the highest probability the recogniser gave a DIFFERENT character that
    could stand there (a province for a province, a serial character otherwise; I/O count as 1/0).

    A confirmation needs both top choices to agree; a strong runner-up means one reader nearly saw
    another plate, which ``decision`` refuses to confirm."""
    kept = [c for c in cands if c.char.strip() and c.char not in "·.-:：•∶—_"]
    if len(kept) != len(text):
        return ()
    out = []
    for c, ch in zip(kept, text):
        best = 0.0
        for alt, p in ((c.char, c.confidence), *c.alternatives):  # the top char too: it differs after a repair
            alt = TO_SERIAL.get(alt.upper(), alt.upper())
            if alt != ch and (alt in PROVINCES) == (ch in PROVINCES):
                best = max(best, p)
        out.append(best)
    return tuple(out)


def is_valid(text: str) -> bool:
    """True when ``text`` is already a well-formed plate (no repair needed)."""
    res = normalise(text, max_repairs=0)
    return res.valid and res.text == text
