"""Plate grammar: formats, the D/F new-energy rule, suffixes, confusables by position, invalid reads."""

from __future__ import annotations

import pytest

from vision.plates.grammar import Candidate, candidates_from_text, is_valid, normalise


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("皖A195K9", "standard"),
        ("粤NBM959", "standard"),
        ("京AF0236", "standard"),
        ("闽EVL838", "standard"),
        ("苏ABC123", "standard"),  # three serial letters are still a plate
        ("鄂F8888警", "police"),
        ("粤ZR066港", "hk_macau_crossborder"),
        ("粤ZA123澳", "hk_macau_crossborder"),
        ("苏E1234学", "coach"),
        ("鲁B1234挂", "trailer"),
        ("沪A1234领", "consulate"),
        ("使014578", "embassy"),
        ("黑AD03210", "new_energy_small"),
        ("沪AF71017", "new_energy_small"),
        ("粤B12345D", "new_energy_large"),
        ("皖1946673", "tractor"),
        ("VA30093", "military"),
        ("SN6497", "hk_macau_local"),
        ("UW6532", "hk_macau_local"),
    ],
)
def test_synthetic_valid_plates_keep_their_text_and_kind(text: str, kind: str) -> None:
    res = normalise(text)
    assert res.text == text
    assert res.kind == kind
    assert res.repairs == 0
    assert is_valid(text)


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        ("皖0195K9", "皖D195K9"),  # authority letter must be a letter: 0 -> D
        ("皖O195K9", "皖D195K9"),  # O is never used: O -> D in the letter slot
        ("粤8B6R67", "粤BB6R67"),  # 8 -> B in the letter slot
        ("粤2R0665", "粤ZR0665"),  # 2 -> Z
        ("粤5R0665", "粤SR0665"),  # 5 -> S
        ("皖AO22C1", "皖A022C1"),  # serial never has O: O -> 0
        ("皖AT0I2C", "皖AT012C"),  # serial never has I: I -> 1
        ("黑ADO3210", "黑AD03210"),  # new-energy digits: O -> 0
        ("黑AD0321B", "黑AD03218"),  # new-energy last four are digits: B -> 8
        ("黑A003210", "黑AD03210"),  # small new-energy mark: 0 -> D
        ("va30093", "VA30093"),  # lower case is upper-cased
        ("鄂·F8888警", "鄂F8888警"),  # the separator dot is dropped
        ("皖A-195K9", "皖A195K9"),
    ],
)
def test_synthetic_confusables_resolved_by_position(read: str, expected: str) -> None:
    res = normalise(read)
    assert res.text == expected
    assert res.repairs == sum(a != b for a, b in zip(read.upper().replace("·", "").replace("-", ""), expected))


@pytest.mark.parametrize(
    ("read", "reason_part"),
    [
        ("", "no characters"),
        ("皖A19", "too few"),
        ("EVL838", "province character missing"),
        ("皖A195K9123", "too many"),
        ("皖1195K9", "matches no"),  # '1' has no letter twin: the authority letter stays unknown
        ("皖AD1234E", "matches no"),  # 8 chars but neither D/F first nor last
        ("皖A12345E", "matches no"),
        ("警A12345", "matches no"),  # suffix in the province slot
        ("使A12345", "matches no"),  # embassy plates are digits after 使
        ("AB12345678", "too many"),
        ("皖A1234港港", "matches no"),
        ("皖0O8O2C", "repaired"),  # too many repairs for one read
        ("皖AABCDE", "too many letters"),  # serials are mostly digits
        ("皖AABCD警", "too many letters"),
    ],
)
def test_synthetic_invalid_reads_are_unreadable_with_reason(read: str, reason_part: str) -> None:
    res = normalise(read)
    assert res.text is None
    assert not res.valid
    assert reason_part in res.reason
    assert not is_valid(read)


def test_synthetic_low_confidence_character_is_unreadable() -> None:
    res = normalise(candidates_from_text("皖A195K9", [0.99, 0.98, 0.2, 0.99, 0.99, 0.99, 0.99]))
    assert res.text is None
    assert "character 3" in res.reason


def test_synthetic_runner_up_candidate_repairs_before_lookalike_table() -> None:
    # the model's own second choice for the letter slot is 'G' (a '6' has no fixed letter twin)
    cands = candidates_from_text("闽6M1862")
    cands[1] = Candidate("6", 0.6, (("G", 0.35), ("8", 0.02)))
    res = normalise(cands)
    assert res.text == "闽GM1862"
    assert res.repairs == 1
    assert res.char_confidences[1] == pytest.approx(0.35)


def test_synthetic_runner_up_below_threshold_is_ignored() -> None:
    cands = candidates_from_text("闽6M1862")
    cands[1] = Candidate("6", 0.9, (("G", 0.01),))
    assert normalise(cands).text is None


@pytest.mark.parametrize(
    ("read", "color", "text", "reason_part"),
    [
        ("皖A195K9", "blue", "皖A195K9", None),
        ("VA30093", "white", "VA30093", None),
        ("VA30093", "blue", None, "military"),  # military plates are white
        ("AB1234", "yellow", None, "province missing"),  # HK shape alone: a mainland plate minus province
        ("UW6532", "white", None, "粤Z"),
        ("皖A19567", "green", None, "new-energy plates have 8"),
        ("黑AD03210", "blue", "黑AD03210", None),  # the format decides: colour becomes green later
    ],
)
def test_synthetic_read_validation_with_colour(read: str, color: str, text: str | None, reason_part: str | None) -> None:
    from vision.plates.reader import validate_read

    res = validate_read(read, color)
    assert res.text == text
    if reason_part:
        assert reason_part in res.reason
    else:
        assert res.reason is None


@pytest.mark.parametrize(
    ("read", "text", "kind", "reason_part"),
    [
        ("皖1946673", "皖1946673", "tractor", None),  # 皖19: a listed agricultural area code
        ("川0112345", "川0112345", "tractor", None),
        ("川0212345", None, None, "agricultural area code"),  # Sichuan has no 02 in the table
        ("京0312345", None, None, "agricultural area code"),  # 京 has only 01 and 02
        ("粤5112345", "粤5112345", "tractor", None),  # Guangdong's 51-53 are listed
        ("豫1912345", None, None, "agricultural area code"),
    ],
)
def test_synthetic_agricultural_plates_need_a_listed_area_code(read, text, kind, reason_part) -> None:
    res = normalise(read)
    assert res.text == text
    assert res.kind == kind
    if reason_part:
        assert reason_part in res.reason


@pytest.mark.parametrize(
    ("read", "expected", "reason_part"),
    [
        # the province is never repaired, not even from the recogniser's own runner-up
        ([Candidate("A", 0.9, (("皖", 0.4),)), *candidates_from_text("A195K9")], None, "province"),
        # a read province stays as read, even when a runner-up is another province
        ([Candidate("京", 0.5, (("琼", 0.45),)), *candidates_from_text("B12345")], "京B12345", None),
        # other slots still repair from runner-ups
        ([*candidates_from_text("皖"), Candidate("6", 0.6, (("G", 0.35),)), *candidates_from_text("M1862")], "皖GM1862", None),
    ],
)
def test_synthetic_province_is_never_repaired(read, expected, reason_part) -> None:
    res = normalise(read)
    assert res.text == expected
    if reason_part:
        assert reason_part in res.reason


@pytest.mark.parametrize(
    ("kind", "rows", "color", "aspect", "refined"),
    [
        ("standard", 1, "yellow", 3.1, "standard"),  # single-row yellow: a standard large-vehicle front plate
        ("standard", 2, "yellow", 2.0, "truck_double"),  # 440x220 yellow double-row: truck / bus rear plate
        ("standard", 2, "yellow", 1.55, "motorcycle"),  # 220x140: motorcycle
        ("standard", 2, "blue", 1.6, "motorcycle"),  # light motorcycle (blue)
        ("standard", 2, "blue", 2.0, "standard"),  # no such blue plate: kind left as read
        ("trailer", 2, "yellow", 2.0, "trailer"),  # 挂 keeps its own kind
        ("tractor", 2, "green", 2.0, "tractor"),
        (None, 2, "yellow", 2.0, None),
    ],
)
def test_synthetic_double_row_kinds(kind, rows, color, aspect, refined) -> None:
    from vision.plates.grammar import KIND_COLOR, refine_kind

    assert refine_kind(kind, rows, color, aspect) == refined
    assert KIND_COLOR["truck_double"] == "yellow"


@pytest.mark.parametrize(("rows", "valid"), [(1, False), (2, True), (None, True)])
def test_synthetic_agricultural_reads_must_be_double_row(rows, valid) -> None:
    from vision.plates.reader import validate_read

    res = validate_read("皖1946673", "green", rows=rows)
    assert res.valid == valid
    if not valid:
        assert "two" in res.reason


def test_synthetic_runner_ups_count_plausible_different_characters_only() -> None:
    from vision.plates.grammar import runner_ups

    cands = [Candidate("青", 0.55, (("晋", 0.42), ("A", 0.3))), Candidate("E", 0.9, (("F", 0.05),)),
             Candidate("1", 0.6, (("I", 0.39),)), *candidates_from_text("2345")]
    # 晋 counts for the province (A cannot stand there); I is the same as 1; a repaired char counts its own top
    assert runner_ups(cands, "青E12345") == pytest.approx((0.42, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0))
    repaired = [*candidates_from_text("闽"), Candidate("6", 0.6, (("G", 0.35),)), *candidates_from_text("M1862")]
    assert runner_ups(repaired, "闽GM1862")[1] == pytest.approx(0.6)
    assert runner_ups(cands, "青E1234") == ()
