"""CTC greedy decoding (synthetic probability tables) and the recogniser's batch preparation."""

from __future__ import annotations

import numpy as np
import pytest

from vision.plates.ocr import TextRecognizer, allowed_classes, ctc_greedy

CHARSET = ["<blank>", "A", "B", "8", "皖", "·", "x", " "]


def _probs(frames: list[tuple[int, float]], runner: int | None = None, runner_p: float = 0.0) -> np.ndarray:
    p = np.zeros((len(frames), len(CHARSET)), np.float32)
    for t, (k, conf) in enumerate(frames):
        p[t, k] = conf
        rest = 1.0 - conf
        if runner is not None and runner != k:
            p[t, runner] = min(runner_p, rest)
            rest -= p[t, runner]
        p[t, 0] += rest if k != 0 else 0.0
    return p


@pytest.mark.parametrize(
    ("frames", "text", "confs"),
    [
        ([(4, 0.9), (4, 0.95), (0, 1.0), (1, 0.8)], "皖A", (0.95, 0.8)),  # repeats collapse, best frame counts
        ([(1, 0.9), (0, 1.0), (1, 0.7)], "AA", (0.9, 0.7)),  # a blank separates a real double letter
        ([(2, 0.9), (5, 0.9), (3, 0.6)], "B8", (0.9, 0.6)),  # the plate dot is decoded then dropped
        ([(0, 1.0), (0, 1.0)], "", ()),
        ([(7, 0.9), (1, 0.9)], "A", (0.9,)),  # spaces are not characters
    ],
)
def test_synthetic_ctc_greedy(frames, text, confs) -> None:
    read = ctc_greedy(_probs(frames), CHARSET)
    assert read.text == text
    assert read.char_confidences == pytest.approx(confs)


def test_synthetic_ctc_allowed_classes_exclude_non_plate_characters() -> None:
    # 'x' wins the frame, but plates never show it: the best allowed class ('B') is taken instead
    p = _probs([(6, 0.6)], runner=2, runner_p=0.3)
    assert ctc_greedy(p, CHARSET).text == "x"
    allowed = allowed_classes(CHARSET, "AB8皖")
    read = ctc_greedy(p, CHARSET, allowed)
    assert read.text == "B"
    assert read.char_confidences == pytest.approx((0.3,))
    assert 6 not in allowed and 0 in allowed and 5 in allowed  # blank and the dot stay


def test_synthetic_ctc_runner_ups_are_reported() -> None:
    read = ctc_greedy(_probs([(3, 0.6)], runner=2, runner_p=0.35), CHARSET)
    assert read.text == "8"
    assert read.candidates[0].alternatives[0] == ("B", pytest.approx(0.35))


class _FakeSession:
    def get_inputs(self):
        class _I:
            name = "x"

        return [_I()]


def test_synthetic_batch_pads_to_common_width_and_normalises() -> None:
    rec = TextRecognizer(_FakeSession(), CHARSET)
    narrow = np.full((24, 40, 3), 255, np.uint8)
    wide = np.zeros((48, 200, 3), np.uint8)
    batch = rec.prepare([narrow, wide])
    assert batch.shape == (2, 3, 48, 200)
    assert batch[0, :, :, :80].min() == pytest.approx(1.0)  # white -> +1, resized to 80 wide
    assert np.all(batch[0, :, :, 80:] == 0.0)  # padding is mid-grey (0 after normalisation)
    assert batch[1].max() == pytest.approx(-1.0)  # black -> -1
