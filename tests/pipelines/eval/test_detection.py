"""`epolice eval detect`: label readers, matching, AP, two-wheeler-with-riders boxes, and the CLI on real frames."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from pipelines.cli.main import app
from pipelines.eval.detection import average_precision, evaluate, two_wheelers_with_riders
from pipelines.eval.labelled_images import LabelError, LabelledImage, read_voc_dir, read_yolo_dir
from tests.support.models import registry, require_model  # noqa: F401  (fixture import)
from vision.detections import Detections


@pytest.mark.parametrize(
    "scores, hits, labels, ap",
    [
        ([0.9, 0.8], [True, True], 2, 1.0),  # everything found, nothing false
        ([0.9, 0.8], [True, False], 2, 0.5),  # half the labels at precision 1
        ([0.9, 0.8], [False, True], 1, 0.5),  # the hit comes after a miss: precision 1/2
        ([0.9, 0.8, 0.7], [True, False, True], 2, 0.5 + 0.5 * 2 / 3),
        ([], [], 3, 0.0),
    ],
)
def test_synthetic_average_precision(scores, hits, labels, ap):
    assert average_precision(scores, hits, labels) == pytest.approx(ap)


def test_synthetic_average_precision_without_labels_is_undefined():
    assert math.isnan(average_precision([0.9], [False], 0))


def _labelled(boxes, names, difficult=None):
    return LabelledImage(
        image=None,
        xyxy=np.array(boxes, np.float32).reshape(-1, 4),
        names=tuple(names),
        difficult=np.array(difficult or [False] * len(names), bool),
    )


def test_synthetic_evaluate_counts_hits_misses_and_difficult(tmp_path):
    import cv2

    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((100, 100, 3), np.uint8))
    gt = _labelled([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], ["car", "car", "car"], [False, False, True])
    gt = LabelledImage(image, gt.xyxy, gt.names, gt.difficult)
    pred = Detections.from_names(
        [[0, 0, 10, 10], [0, 0, 10, 11], [50, 50, 60, 60], [80, 80, 90, 90]], [0.9, 0.8, 0.7, 0.1], ["car"] * 4
    )
    report = evaluate(lambda imgs: [pred for _ in imgs], "synthetic", [gt], {"car"}, conf=0.25)
    (car,) = report.classes
    # 0.9 hits label 0; 0.8 is a duplicate (miss); 0.7 hits a difficult label (ignored); 0.1 is below conf
    assert (car.labels, car.predictions, car.true_positives) == (2, 2, 1)
    assert car.precision == pytest.approx(0.5) and car.recall == pytest.approx(0.5)
    assert car.ap50 == pytest.approx(0.5)


def test_synthetic_two_wheeler_box_grows_over_its_rider():
    dets = Detections.from_names(
        [[100, 200, 160, 300], [105, 120, 155, 260], [400, 100, 440, 300]],  # bike, its rider, a pedestrian
        [0.8, 0.9, 0.9],
        ["motorcycle", "person", "person"],
    )
    grown = two_wheelers_with_riders(dets, person_conf=0.25)
    assert len(grown) == 1
    np.testing.assert_allclose(grown.xyxy[0], [100, 120, 160, 300])
    assert grown.confidence[0] == pytest.approx(0.8)


def test_synthetic_voc_and_yolo_readers(tmp_path):
    import cv2

    (tmp_path / "voc").mkdir()
    cv2.imwrite(str(tmp_path / "voc" / "f1.jpg"), np.zeros((40, 80, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "voc" / "f2.jpg"), np.zeros((40, 80, 3), np.uint8))  # unlabelled: skipped
    (tmp_path / "voc" / "f1.xml").write_text(
        "<annotation><object><name>motorbike</name><difficult>1</difficult><bndbox><xmin>1</xmin><ymin>2</ymin>"
        "<xmax>30</xmax><ymax>20</ymax></bndbox></object><object><name>tram</name><bndbox><xmin>1</xmin>"
        "<ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>"
    )
    (item,) = read_voc_dir(tmp_path / "voc")
    assert item.names == ("motorcycle",) and item.difficult.tolist() == [True] and item.ignored == ("tram",)
    np.testing.assert_allclose(item.xyxy, [[1, 2, 30, 20]])

    (tmp_path / "yolo" / "images").mkdir(parents=True)
    (tmp_path / "yolo" / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "yolo" / "images" / "h.jpg"), np.zeros((100, 200, 3), np.uint8))
    (tmp_path / "yolo" / "labels" / "h.txt").write_text("1 0.5 0.5 0.2 0.4\n7 0.1 0.1 0.1 0.1\n")
    (item,) = read_yolo_dir(tmp_path / "yolo", {0: "head_helmet", 1: "head_no_helmet"})
    assert item.names == ("head_no_helmet",) and item.ignored == ("7",)
    np.testing.assert_allclose(item.xyxy, [[80, 30, 120, 70]])

    (tmp_path / "yolo" / "labels" / "h.txt").write_text("1 0.5 oops\n")
    with pytest.raises(LabelError, match=r"h.txt:1"):
        read_yolo_dir(tmp_path / "yolo", {1: "head_no_helmet"})


runner = CliRunner()


def test_cli_eval_detect_json_on_real_cctv_frames(registry, shared_data):
    require_model(registry, "yolov5n_coco")
    result = runner.invoke(
        app,
        ["eval", "detect", "--images", str(shared_data / "cctv" / "train"), "--labels", "voc", "--limit", "12", "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["images"] == 12 and report["model"].startswith("yolov5n_coco@")
    rows = {r["name"]: r for r in report["classes"]}
    assert {"car", "motorcycle"} <= set(rows)
    assert rows["car"]["recall"] >= 0.85 and rows["car"]["ap50"] >= 0.7
    rider = report["two_wheeler"]
    assert rider["name"] == "two_wheeler_riders" and rider["labels"] == rows["motorcycle"]["labels"]
    # the labelled motorcycle boxes include riders: the grown boxes must match them better than bare bikes
    assert rider["ap50"] > rows["motorcycle"]["ap50"]
    text = runner.invoke(app, ["eval", "detect", "--images", str(shared_data / "cctv" / "train"), "--labels", "voc", "--limit", "3"])
    assert text.exit_code == 0 and "two_wheeler_riders" in text.output and "AP50" in text.output


def test_cli_eval_detect_refuses_a_model_that_sees_none_of_the_labels(registry, shared_data):
    require_model(registry, "helmet_yolov12m")
    result = runner.invoke(
        app,
        ["eval", "detect", "--images", str(shared_data / "cctv" / "train"), "--labels", "voc", "--limit", "2", "--model", "helmet_yolov12m"],
    )
    assert result.exit_code == 2 and "predicts none of the labelled classes" in result.output


def test_cli_eval_detect_on_an_empty_folder_is_one_clear_line(registry, tmp_path):
    require_model(registry, "yolov5n_coco")
    result = runner.invoke(app, ["eval", "detect", "--images", str(tmp_path), "--labels", "voc"])
    assert result.exit_code == 2 and "no labelled images" in result.output and "Traceback" not in result.output
