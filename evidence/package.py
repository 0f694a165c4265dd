"""Turn one ViolationEvent into a signed evidence package on disk.

The hand-off calls ``write_package(PackageInput(...), cfg, signer)`` with the event, the
full-resolution frames of its key frames (decoded from the camera's own bitstream), the clip (a file
stream-copied from that bitstream, or frames to encode) and the camera's context. The package:

    <output_dir>/<site_id>/<YYYY-MM-DD>/<event_key>/
        panorama_1_<role>.jpg ...   key frames at full resolution, untouched (no drawing)
        closeup.jpg                 the vehicle cropped with a margin and upscaled
        plate.jpg                   the plate the reader read, as captured with some context (when read)
        composite.jpg               违法图片合成: 3 panoramas + close-up, each under an information bar
        clip.mp4                    the camera's own H.264/H.265, N s before and after, cut at keyframes
        manifest.json               sha256 of every file + the record's fields
        manifest.sig                Ed25519 signature over manifest.json

It is built in a temp folder and renamed into place (see evidence.atomic); writing the same event
again returns the existing package if it verifies, and refuses to overwrite one that does not.
"""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence
from zoneinfo import ZoneInfo

import cv2
import numpy as np
from pydantic import ConfigDict, Field

from evidence.atomic import make_temp_dir, publish_dir, sweep_stale_temps, write_durable
from evidence.clip import burn_overlay, encode_clip
from evidence.composite import (
    ROLE_NAMES,
    Panel,
    format_time,
    load_font,
    make_closeup,
    plate_line,
    render_composite,
    rider_marks,
)
from evidence.config import EvidenceConfig
from evidence.event import KeyFrame, ViolationEvent
from evidence.manifest import MANIFEST, SIGNATURE, FileEntry, Manifest, SignatureFile, sha256_bytes, sha256_file, verify_package
from evidence.signing import Signer, keyring_with
from evidence.timezone import TimeZoneName
from models.strict import StrictModel


class PackageError(ValueError):
    """The input cannot make a valid package (too few key frames, span too short, missing frame...)."""


class CaptureContext(StrictModel):
    """Where and by what the event was captured, as printed on the overlay."""

    model_config = ConfigDict(frozen=True)
    site_id: str = Field(min_length=1)
    site_name: str = ""  # printed beside the id when given
    device_id: str = Field(min_length=1)  # camera id
    direction: str | None = None  # e.g. 由东向西
    lane: str | None = None  # e.g. 2 or 非机动车道
    timezone: TimeZoneName = "Asia/Shanghai"  # IANA zone for the printed times



@dataclass(frozen=True)
class ClipFrames:
    """Consecutive BGR frames, N s before to N s after the event, to be encoded (sources without a
    bitstream of their own)."""

    frames: Sequence[np.ndarray]
    fps: float


@dataclass(frozen=True)
class ClipFile:
    """A finished MP4 clip (the camera's packets, stream-copied) at ``path``; the package takes the
    file over (moved in, or copied when ``keep``)."""

    path: Path
    width: int
    height: int
    keep: bool = False
    start: datetime | None = None  # wall time of its first frame (the running clock of a burned-in overlay)


@dataclass(frozen=True)
class PackageInput:
    event: ViolationEvent
    key_images: Mapping[int, np.ndarray]  # KeyFrame.seq -> full-resolution BGR frame
    context: CaptureContext
    clip: ClipFrames | ClipFile | None = None
    plate_image: np.ndarray | None = None  # BGR: the plate as captured, from the frame the reader chose


class PackageInfo(StrictModel):
    """What the store records about a package."""

    event_key: str
    path: Path
    files: list[FileEntry]
    manifest_sha256: str
    signature: str
    key_id: str
    code: str
    code_name: str
    warnings: list[str] = Field(default_factory=list)
    created_at: datetime
    reused: bool = False  # True when an identical event had already been packaged


@dataclass
class _Staged:
    entries: list[FileEntry] = field(default_factory=list)


def package_dir(cfg: EvidenceConfig, event: ViolationEvent, context: CaptureContext) -> Path:
    day = event.start_time.astimezone(ZoneInfo(context.timezone)).strftime("%Y-%m-%d")
    return cfg.output_dir / _safe(event.site_id) / day / event.event_key


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "x"


def validate_input(inp: PackageInput, cfg: EvidenceConfig) -> list[str]:
    """Refuse input that cannot make lawful evidence; return warnings for what is weak but usable."""
    ev = inp.event
    warnings: list[str] = []
    if ev.site_id != inp.context.site_id:
        raise PackageError(f"event site_id {ev.site_id!r} differs from context site_id {inp.context.site_id!r}")
    kfs = sorted(ev.key_frames, key=lambda k: k.seq)
    if len(kfs) < cfg.min_key_frames:
        raise PackageError(f"{len(kfs)} key frames; a package needs at least {cfg.min_key_frames} panoramas")
    if len({k.seq for k in kfs}) != len(kfs):
        raise PackageError("key frames repeat a frame seq; panoramas must be distinct frames")
    if ev.rule == "parking":
        need = max(cfg.parking_min_span_s, float(ev.facts.get("min_dwell_s", 0.0)))
        span = (kfs[-1].wall_time - kfs[0].wall_time).total_seconds()
        if span < need:
            raise PackageError(f"parking panoramas span {span:.1f} s; first and last must be at least {need:.1f} s apart")
    shapes = set()
    for k in kfs:
        img = inp.key_images.get(k.seq)
        if img is None:
            raise PackageError(f"no image for key frame seq {k.seq} ({k.role})")
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise PackageError(f"image for key frame seq {k.seq} is {img.shape} {img.dtype}, expected HxWx3 uint8 BGR")
        h, w = img.shape[:2]
        b = k.box
        if not (0 <= b.x1 < b.x2 <= w + 1 and 0 <= b.y1 < b.y2 <= h + 1):
            raise PackageError(f"vehicle box {b} of key frame seq {k.seq} lies outside the {w}x{h} frame")
        shapes.add((w, h))
    for w, h in sorted(shapes):
        if w < cfg.min_panorama_width or h < cfg.min_panorama_height:
            warnings.append(
                f"panorama {w}x{h} is below the GA/T 832 minimum {cfg.min_panorama_width}x{cfg.min_panorama_height}; stored at camera resolution, not upscaled"
            )
    if inp.clip is None or (isinstance(inp.clip, ClipFrames) and not inp.clip.frames):
        warnings.append("no clip frames were handed over; package has no clip.mp4")
    elif isinstance(inp.clip, ClipFile) and not inp.clip.path.is_file():
        raise PackageError(f"clip file {inp.clip.path} is missing")
    if ev.plate is None or ev.plate.text is None:
        reason = ev.plate.reason if ev.plate and ev.plate.reason else "not read"
        state = "unconfirmed" if ev.plate is not None and ev.plate.status == "unconfirmed" else "unreadable"
        warnings.append(f"plate {state} ({reason})")
    plate = inp.plate_image
    if plate is not None and (plate.ndim != 3 or plate.shape[2] != 3 or plate.dtype != np.uint8):
        raise PackageError(f"plate image is {plate.shape} {plate.dtype}, expected HxWx3 uint8 BGR")
    return warnings


def _pick_panels(kfs: list[KeyFrame]) -> list[KeyFrame]:
    """Three panoramas for the composite: first, middle and last by time (all are stored as files)."""
    return [kfs[0], kfs[len(kfs) // 2], kfs[-1]] if len(kfs) > 3 else kfs[:3]


def _closeup_source(kfs: list[KeyFrame]) -> KeyFrame:
    """The key frame where the vehicle is largest: the most pixels on the plate."""
    return max(kfs, key=lambda k: ((k.box.x2 - k.box.x1) * (k.box.y2 - k.box.y1), k.seq))


def _overlay_lines(inp: PackageInput, cfg: EvidenceConfig, kf: KeyFrame, title: str) -> list[str]:
    ev, ctx = inp.event, inp.context
    code = cfg.code_for(ev.rule)
    place = f"地点 {ctx.site_name}（{ctx.site_id}）" if ctx.site_name else f"地点 {ctx.site_id}"
    place += f"  设备 {ctx.device_id}"
    if ctx.direction:
        place += f"  方向 {ctx.direction}"
    if ctx.lane:
        place += f"  车道 {ctx.lane}"
    plate = plate_line(ev.plate, ev.vehicle_class)
    if isinstance(ev.facts.get("speed_kmh"), (int, float)):
        plate += f"  车速 {ev.facts['speed_kmh']:.0f} km/h"
    return [
        f"{title}  {format_time(kf.wall_time, ctx.timezone)}",
        place,
        f"违法行为 {code.name}  代码 {code.code}",
        plate,
    ]


def _encode_jpeg(image_bgr: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise PackageError("JPEG encoding failed")
    return buf.tobytes()


def _stage(tmp: Path, name: str, data: bytes, staged: _Staged, **meta) -> None:
    write_durable(tmp / name, data)
    staged.entries.append(FileEntry(name=name, sha256=sha256_bytes(data), size=len(data), **meta))


def _build(inp: PackageInput, cfg: EvidenceConfig, signer: Signer, tmp: Path, warnings: list[str]) -> PackageInfo:
    ev, ctx = inp.event, inp.context
    code = cfg.code_for(ev.rule)
    kfs = sorted(ev.key_frames, key=lambda k: k.seq)
    staged = _Staged()
    for i, k in enumerate(kfs, 1):
        img = inp.key_images[k.seq]
        _stage(tmp, f"panorama_{i}_{_safe(k.role)}.jpg", _encode_jpeg(img, cfg.jpeg_quality), staged,
               kind="panorama", width=img.shape[1], height=img.shape[0], seq=k.seq, role=k.role)
    panels_kf = _pick_panels(kfs)
    ref = inp.key_images[panels_kf[0].seq]
    src = _closeup_source(kfs)
    close = make_closeup(inp.key_images[src.seq], src.box, cfg.closeup_margin, ref.shape[1], ref.shape[0])
    _stage(tmp, "closeup.jpg", _encode_jpeg(close.image, cfg.jpeg_quality), staged,
           kind="closeup", width=close.image.shape[1], height=close.image.shape[0], seq=src.seq, role="closeup")
    if inp.plate_image is not None and inp.plate_image.size:
        _stage(tmp, "plate.jpg", _encode_jpeg(inp.plate_image, cfg.jpeg_quality), staged, kind="plate",
               width=inp.plate_image.shape[1], height=inp.plate_image.shape[0], role="plate")
    n = len(panels_kf)
    path = tuple((float(x), float(y)) for x, y in ev.path)
    panels = [
        Panel(inp.key_images[k.seq], k.box, _overlay_lines(inp, cfg, k, f"{i}/{n} {ROLE_NAMES.get(k.role, k.role)}"),
              path=path, marks=tuple(rider_marks(ev.facts, k.seq)))
        for i, k in enumerate(panels_kf, 1)
    ]
    src_index = kfs.index(src) + 1
    panels.append(Panel(close.image, close.box, _overlay_lines(inp, cfg, src, f"特写 取自{src_index}/{len(kfs)} ×{close.scale:.1f}"),
                        tuple(rider_marks(ev.facts, src.seq, close.crop[:2], close.scale))))
    sheet = render_composite(panels, cfg.layout, cfg.font_path, cfg.font_face)
    buf = io.BytesIO()
    sheet.save(buf, format="JPEG", quality=cfg.jpeg_quality)
    _stage(tmp, "composite.jpg", buf.getvalue(), staged, kind="composite", width=sheet.width, height=sheet.height)
    clip_path = tmp / "clip.mp4"
    if isinstance(inp.clip, ClipFile) and cfg.clip_overlay:
        top = kfs[0]
        lines = _overlay_lines(inp, cfg, top, f"{ctx.device_id}")[1:]
        burn_overlay(inp.clip.path, clip_path, lines, inp.clip.start or top.wall_time, ctx.timezone, cfg.font_path, cfg.clip_crf, cfg.clip_preset)
        w, h = inp.clip.width, inp.clip.height
    elif isinstance(inp.clip, ClipFile):
        (shutil.copyfile if inp.clip.keep else shutil.move)(inp.clip.path, clip_path)
        w, h = inp.clip.width, inp.clip.height
    elif inp.clip is not None and inp.clip.frames:
        encode_clip(inp.clip.frames, inp.clip.fps, clip_path, cfg.clip_crf, cfg.clip_preset)
        h, w = inp.clip.frames[0].shape[:2]
    if clip_path.exists():
        staged.entries.append(FileEntry(name="clip.mp4", kind="clip", sha256=sha256_file(clip_path),
                                        size=clip_path.stat().st_size, width=w + w % 2, height=h + h % 2))
    record = ev.model_dump(mode="json")
    record.update(event_key=ev.event_key, code=code.code, code_name=code.name)
    created = datetime.now(timezone.utc)
    manifest = Manifest(
        event_key=ev.event_key,
        created_at=created,
        key_id=signer.key_id,
        record=record,
        context=ctx.model_dump(mode="json"),
        files=staged.entries,
        closeup={"source_seq": src.seq, "crop_xyxy": list(close.crop), "scale": round(close.scale, 4)},
        warnings=warnings,
    )
    mbytes = manifest.to_bytes()
    write_durable(tmp / MANIFEST, mbytes)
    signature = signer.sign(mbytes)
    msha = sha256_bytes(mbytes)
    write_durable(tmp / SIGNATURE, SignatureFile(key_id=signer.key_id, manifest_sha256=msha, signature=signature).to_bytes())
    return PackageInfo(
        event_key=ev.event_key, path=tmp, files=staged.entries, manifest_sha256=msha, signature=signature,
        key_id=signer.key_id, code=code.code, code_name=code.name, warnings=warnings, created_at=created,
    )


def info_from_existing(path: Path, signer: Signer, trusted_keys: Path | None = None) -> PackageInfo:
    """Describe a package already on disk; raises PackageError if it does not verify (by the signer's
    key, or one it replaced in ``trusted_keys``)."""
    res = verify_package(path, keyring_with(signer.public_key, trusted_keys))
    if not res.ok or res.manifest is None:
        raise PackageError(f"existing package {path} fails verification ({'; '.join(map(str, res.problems))}); refusing to overwrite evidence")
    m = res.manifest
    sig = SignatureFile.model_validate_json((path / SIGNATURE).read_bytes())
    return PackageInfo(
        event_key=m.event_key, path=path, files=m.files, manifest_sha256=sig.manifest_sha256, signature=sig.signature,
        key_id=sig.key_id, code=m.record["code"], code_name=m.record["code_name"], warnings=m.warnings,
        created_at=m.created_at, reused=True,
    )


def write_package(inp: PackageInput, cfg: EvidenceConfig, signer: Signer) -> PackageInfo:
    """Build, sign and atomically publish the package for ``inp.event``; idempotent per event_key."""
    warnings = validate_input(inp, cfg)
    cfg.code_for(inp.event.rule)  # fail before any write if the code table lacks the rule
    load_font(cfg.font_path, cfg.font_face, 16)  # ... or the font is missing
    final = package_dir(cfg, inp.event, inp.context)
    if final.exists():
        return info_from_existing(final, signer, cfg.trusted_keys_dir)
    sweep_stale_temps(final.parent)
    tmp = make_temp_dir(final)
    try:
        info = _build(inp, cfg, signer, tmp, warnings)
        publish_dir(tmp, final)
    except FileExistsError:
        shutil.rmtree(tmp, ignore_errors=True)
        return info_from_existing(final, signer, cfg.trusted_keys_dir)  # a concurrent writer of the same event won
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info.model_copy(update={"path": final})
