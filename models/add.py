"""Register a site's own ONNX detector (``epolice models add``): copy it into the models directory
and write its manifest (input, output layout, class map, sha256) beside the built-in ones.

A site trains a model on its own footage (for example with tricycle, tractor and e-bike classes,
which COCO lacks), exports it to ONNX with ultralytics and adds it here; a camera then names it in
``extra_detectors`` and its boxes merge into the main detector's (``vision.nms.merge_models``).
Site manifests live in ``<models dir>/manifests/``; ``Registry`` reads them after the built-in
ones and never lets one replace a built-in name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from models.domain import DOMAIN_CLASSES
from models.manifest import ModelManifest
from models.registry import Registry, sha256_file

SITE_MANIFESTS = "manifests"


def parse_classes(text: str) -> dict[int, str | None]:
    """``tricycle,tractor,e_bike`` (model class 0, 1, 2) or ``0=tricycle,3=e_bike``; ``-`` maps a class to nothing."""
    out: dict[int, str | None] = {}
    for i, item in enumerate(p.strip() for p in text.split(",")):
        key, sep, name = item.partition("=")
        model_id, name = (int(key), name.strip()) if sep else (i, key)
        if name in ("-", ""):
            out[model_id] = None
        elif name not in DOMAIN_CLASSES:
            raise ValueError(f"--classes: {name!r} is not a domain class ({', '.join(DOMAIN_CLASSES)})")
        else:
            out[model_id] = name
    return out


def add_model(registry: Registry, path: Path, name: str, classes: dict[int, str | None], licence: str = "site model") -> ModelManifest:
    """Copy ``path`` into the registry as ``name`` with a manifest read from the ONNX file itself."""
    import onnxruntime as ort

    if name in registry.names():
        raise ValueError(f"--name: a model {name!r} is already registered")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp, out = session.get_inputs()[0], session.get_outputs()[0]
    _, _, h, w = inp.shape
    shape = out.shape
    if not (len(shape) == 3 and all(isinstance(d, int) for d in shape[1:])):
        raise ValueError(f"{path}: output {out.name} has shape {shape}; expected a YOLO head (1, 4+classes, N) or (1, N, 5+classes)")
    nc = len(classes)
    if shape[1] == 4 + nc or (shape[1] < shape[2] and shape[1] - 4 >= max(classes) + 1):
        layout, channels = "yolov8", shape[1]
    else:
        layout, channels = "yolov5", shape[2]
    if max(classes) + 1 > channels - (4 if layout == "yolov8" else 5):
        raise ValueError(f"--classes names {max(classes) + 1} classes; the model has {channels - (4 if layout == 'yolov8' else 5)}")
    dest = registry.models_dir / f"{name}.onnx"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, dest)
    manifest = ModelManifest.model_validate({
        "name": name, "task": "detect", "file": dest.name, "sha256": sha256_file(dest),
        "input": {"name": inp.name, "width": int(w), "height": int(h), "batch": 1 if inp.shape[0] == 1 else None,
                  "layout": "NCHW", "colour": "RGB", "scale": 1 / 255, "resize": "letterbox", "pad_value": 114},
        "output_layout": layout, "outputs": [{"name": out.name, "shape": list(shape)}],
        "class_map": classes, "class_names": {k: v or "-" for k, v in classes.items()},
        "licence": licence, "sources": [{"kind": "dir"}],
    })
    folder = registry.models_dir / SITE_MANIFESTS
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(manifest.model_dump(mode="json"), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return manifest
