"""The evidence hand-off shared by the live worker, the batch processor and the bench.

An event fired by the engine waits (``queue.EvidenceQueue``) until its camera's clock has passed
the clip's after-window; then its key frames and clip frames are collected from the camera's ring
buffer (``frames``) and packaged, signed and recorded off the inference loop (``writer``). Both
stages are bounded and count what waits, what is forced early and what fails.
"""
