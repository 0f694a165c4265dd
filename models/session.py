"""ONNX Runtime sessions with the best available execution provider and a CPU fallback.

TensorRT and CUDA are used when the installed onnxruntime offers them (the ``gpu`` extra); a
provider that fails to initialise (no driver, no TensorRT libs) falls back to CPU instead of
taking the pipeline down.
"""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort

log = logging.getLogger(__name__)

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def choose_providers(requested: list[str] | None = None) -> list[str]:
    """Requested (or preferred) providers that this onnxruntime has, in order, always ending in CPU."""
    available = set(ort.get_available_providers())
    wanted = list(requested) if requested else list(PREFERRED_PROVIDERS)
    wanted = [p if p.endswith("ExecutionProvider") else f"{p}ExecutionProvider" for p in wanted]
    chosen = [p for p in wanted if p in available and p != "CPUExecutionProvider"]
    return chosen + ["CPUExecutionProvider"]


def create_session(path: Path, providers: list[str] | None = None, threads: int | None = None) -> ort.InferenceSession:
    """Open ``path``; ``threads`` caps intra-op threads (None = onnxruntime's default)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    chosen = choose_providers(providers)
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=chosen)
    except Exception as exc:  # noqa: BLE001 - any accelerator init failure: fall back to CPU
        if chosen == ["CPUExecutionProvider"]:
            raise
        log.warning("onnxruntime providers %s failed for %s (%s); falling back to CPU", chosen, path, exc)
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
