"""Train a tiny YOLOv8 from its YAML (no downloaded weights) for one epoch and export it to ONNX.

Run by the EXPORT interpreter (torch + ultralytics), not the runtime: ``PY train_tiny_yolo.py
DATA_YAML OUT_ONNX``. It stands in for a site training its own model on labelled footage; the
weights are meaningless after one epoch on four frames, the path (train, export, register, merge)
is what the test checks. Offline: no plots (they fetch a font), no validation, no AMP check.
"""

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
data, out = Path(sys.argv[1]), Path(sys.argv[2])
import torch
from ultralytics import YOLO

torch.manual_seed(0)
model = YOLO("yolov8n.yaml")
model.train(data=str(data), epochs=1, imgsz=160, batch=2, workers=0, device="cpu", plots=False, val=False, amp=False,
            project=str(out.parent / "runs"), name="tiny", exist_ok=True, verbose=False, seed=0, deterministic=True)
path = model.export(format="onnx", imgsz=160, opset=17, simplify=False, dynamic=False)
shutil.copyfile(path, out)
print("exported", out)
