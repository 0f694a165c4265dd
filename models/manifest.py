"""One YAML manifest per model: what the file is, how to feed it, how to read it, where it comes from.

Everything a runtime needs to use a model without guessing lives here, so swapping weights is a
manifest change, never a code change. Manifests ship as package data (``models/manifests``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import Field, field_validator

from models.domain import DOMAIN_CLASSES
from models.strict import StrictModel

Task = Literal["detect", "plate_detect", "ocr_rec", "classify"]
OutputLayout = Literal[
    "yolov5",  # 1 x N x (5+nc): cx, cy, w, h, objectness, class scores (score = obj * cls)
    "yolov8",  # 1 x (4+nc) x N: cx, cy, w, h, class scores (no objectness); v8/v11/v12
    "retinaface_landmarks",  # loc (1xNx4), conf (1xNx2), landms (1xNx8) against SSD priors
    # 1 x N x 15: cx, cy, w, h, objectness, 4 corners TL, TR, BR, BL (8 values, input pixels),
    # 2 row-layout scores single / double (score = objectness x row score); no NMS inside
    "yolov5_face_plate",
    "ctc",  # N x T x C softmax over the character set, blank at 0
    "ctc_nct",  # N x C x T x 1 softmax over the character set, blank LAST (Caffe-era layout)
    "softmax",  # N x C class probabilities (classifiers); class_names say which is which
]


class InputSpec(StrictModel):
    """How pixels become the input tensor. ``None`` width/height = dynamic in that axis."""

    name: str
    width: int | None = None
    height: int | None = None
    batch: int | None = None  # None = dynamic batch; 1 = static batch of one (loop outside)
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    colour: Literal["RGB", "BGR"] = "RGB"
    # tensor = (pixel * scale - mean) / std, per channel in ``colour`` order
    scale: float = 1.0 / 255.0
    mean: list[float] | None = None
    std: list[float] | None = None
    resize: Literal["letterbox", "stretch", "none", "height"] = "letterbox"
    pad_value: int = 114


class TensorSpec(StrictModel):
    name: str
    shape: list[int | str]
    dtype: str = "float32"


class DirSource(StrictModel):
    """A directory of model files (``--from DIR``): the file named ``file`` in it."""

    kind: Literal["dir"] = "dir"


class WheelSource(StrictModel):
    """A member of a PyPI wheel, downloaded with pip and unzipped; the package is never installed."""

    kind: Literal["wheel"] = "wheel"
    package: str
    version: str
    member: str
    sha256: str  # of the member itself, so a changed upload is caught before export
    # further members the export needs beside ``member`` (e.g. a Caffe .prototxt): path -> sha256
    companions: dict[str, str] = Field(default_factory=dict)


class HubSource(StrictModel):
    """An ultralytics hub name (e.g. ``yolo11n.pt``), downloaded by ultralytics; online users only."""

    kind: Literal["hub"] = "hub"
    name: str


class DerivedSource(StrictModel):
    """Made from another registry model by ``models/derive_onnx.py`` in the export interpreter (it needs
    ``onnx``): the same YOLOv5 network at a smaller static input, or a static INT8 copy calibrated on
    images from the shared data."""

    kind: Literal["derived"] = "derived"
    base: str  # registry name of the model it is made from
    resize: int | None = None  # new static input size (YOLOv5 graphs)
    quantize: Literal["int8"] | None = None
    calibration: str | None = None  # folder of calibration images, relative to the shared data directory


class TrainSource(StrictModel):
    """Trained here from the labelled data (``epolice models train-head``); weights are never committed."""

    kind: Literal["train"] = "train"
    command: str  # the command that trains and registers it


Source = Annotated[Union[DirSource, WheelSource, HubSource, DerivedSource, TrainSource], Field(discriminator="kind")]


class ExportRecipe(StrictModel):
    """How a source becomes the ONNX ``file`` in a separate interpreter: ``ultralytics`` exports a
    ``.pt`` (models/export_onnx.py, torch + ultralytics), ``caffe`` converts a ``.caffemodel`` with its
    ``.prototxt`` companion (models/convert_caffe.py, onnx + opencv-python-headless<5 for the check)."""

    tool: Literal["ultralytics", "caffe"] = "ultralytics"
    imgsz: int = 640
    opset: int = 17
    dynamic: bool = False
    simplify: bool = False


class ModelManifest(StrictModel):
    name: str
    task: Task
    file: str
    sha256: str | None = None  # None: exported file verified by its sidecar ``<file>.sha256``
    input: InputSpec
    output_layout: OutputLayout
    outputs: list[TensorSpec] = Field(default_factory=list)
    class_map: dict[int, str | None] = Field(default_factory=dict)
    class_names: dict[int, str] = Field(default_factory=dict)  # the model's own names, for humans
    licence: str
    sources: list[Source]
    export: ExportRecipe | None = None
    optional: bool = False  # not fetched by a bare ``epolice models fetch`` (hub-only models)
    params: dict[str, Any] = Field(default_factory=dict)  # task-specific decoding constants
    notes: str = ""

    @field_validator("class_map")
    @classmethod
    def _domain_names(cls, value: dict[int, str | None]) -> dict[int, str | None]:
        for model_id, domain in value.items():
            if domain is not None and domain not in DOMAIN_CLASSES:
                raise ValueError(f"class_map[{model_id}] = {domain!r} is not a domain class {DOMAIN_CLASSES}")
        return value

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value)):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        return value

    @property
    def needs_export(self) -> bool:
        return self.export is not None

    @property
    def made_here(self) -> bool:
        """Exported, derived or trained on this machine: verified by the sidecar written when it was made."""
        return self.needs_export or self.trained or any(isinstance(s, DerivedSource) for s in self.sources)

    @property
    def trained(self) -> bool:
        """Trained here (``epolice models train-head``): verified by its sidecar sha256, like an export."""
        return any(s.kind == "train" for s in self.sources)


def load_manifest(path: Path) -> ModelManifest:
    """Parse one manifest; a malformed one names the file and the field."""
    from pydantic import ValidationError

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return ModelManifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"manifest {path}: field {field!r}: {first['msg']}") from None


def builtin_manifests() -> dict[str, ModelManifest]:
    """The manifests shipped with the package, by name."""
    out: dict[str, ModelManifest] = {}
    folder = resources.files("models") / "manifests"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            with resources.as_file(entry) as path:
                manifest = load_manifest(path)
            if manifest.name != entry.name[: -len(".yaml")]:
                raise ValueError(f"manifest {entry.name}: name {manifest.name!r} does not match the file name")
            out[manifest.name] = manifest
    return out
