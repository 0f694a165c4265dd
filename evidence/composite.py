"""The composite image (违法图片合成) and the vehicle close-up.

Text is drawn with Pillow and a CJK font (OpenCV's putText has no CJK glyphs). Each panel gets its
information bar ABOVE the picture, outside the image area, so the overlay can never hide the vehicle;
the vehicle box is outlined just outside its edges for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from evidence.event import Box, PlateFacts

BAR_BG = (20, 24, 32)
BAR_FG = (255, 255, 255)
BAR_ACCENT = (255, 214, 0)
BAR_WARN = (255, 140, 60)  # the line of a plate that is not confirmed
BOX_COLOR = (255, 40, 40)
PATH_COLOR = (0, 230, 255)
PATH_OUTLINE = (0, 40, 60)
LETTERBOX = (40, 40, 40)

ROLE_NAMES = {
    "first": "首帧", "middle": "中间帧", "last": "末帧", "approach": "驶入", "turn": "掉头",
    "exit": "驶离", "violation": "违法", "closeup": "特写",
}
PLATE_COLORS = {"blue": "蓝", "yellow": "黄", "green": "绿", "white": "白", "black": "黑", "unknown": "未知"}
VEHICLE_NAMES = {
    "car": "小型汽车", "bus": "客车", "truck": "货车", "motorcycle": "摩托车", "bicycle": "自行车",
    "e_bike": "电动自行车", "tricycle": "三轮车", "tractor": "拖拉机",
}


PLATE_UNCONFIRMED = "号牌待确认"
SHOWN_CANDIDATES = 3


def plate_line(plate: PlateFacts | None, vehicle_class: str) -> str:
    """The overlay's plate line. Only a confirmed plate is printed as the plate: an unconfirmed one
    is marked 号牌待确认 with its candidates (a reviewer settles it), so the sheet never shows a
    doubtful read as fact."""
    vehicle = f"  车型 {VEHICLE_NAMES.get(vehicle_class, vehicle_class)}"
    if plate is not None and plate.status == "confirmed" and plate.text:
        return f"号牌 {plate.text}  {PLATE_COLORS.get(plate.color, plate.color)}牌" + vehicle
    if plate is not None and plate.candidates:
        shown = " / ".join(c.text for c in plate.candidates[:SHOWN_CANDIDATES])
        more = f" 等{len(plate.candidates)}个" if len(plate.candidates) > SHOWN_CANDIDATES else ""
        return f"{PLATE_UNCONFIRMED}（候选 {shown}{more}）" + vehicle
    return "号牌 未识别" + vehicle


class FontError(Exception):
    """The configured CJK font is missing or has no face of the configured name."""


@lru_cache(maxsize=16)
def load_font(path: Path, face: str | None, size: int) -> ImageFont.FreeTypeFont:
    if not path.exists():
        raise FontError(f"CJK font {path} not found (apt-get install fonts-noto-cjk, or set evidence.font_path)")
    if face is None:
        return ImageFont.truetype(str(path), size, index=0)
    names = []
    for index in range(64):  # a .ttc holds a handful of faces; OSError marks the end
        try:
            font = ImageFont.truetype(str(path), size, index=index)
        except OSError:
            break
        names.append(font.getname()[0])
        if names[-1] == face:
            return font
    raise FontError(f"font {path} has no face {face!r} (faces: {', '.join(names)}); set evidence.font_face")


def format_time(t: datetime, tz: str) -> str:
    """Capture time to the millisecond with its UTC offset and zone name, e.g. 2024-05-01 08:30:12.345 +08:00."""
    local = t.astimezone(ZoneInfo(tz))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d} {offset[:3]}:{offset[3:]} {tz}"


@dataclass(frozen=True)
class Closeup:
    image: np.ndarray  # BGR, upscaled crop
    crop: tuple[int, int, int, int]  # x1, y1, x2, y2 in the source frame
    scale: float
    box: Box  # the vehicle box in close-up pixels


def make_closeup(frame: np.ndarray, box: Box, margin: float, target_w: int, target_h: int) -> Closeup:
    """Crop the vehicle with ``margin`` around it and upscale (Lanczos) to fit ``target_w`` x ``target_h``."""
    h, w = frame.shape[:2]
    bw, bh = max(box.x2 - box.x1, 1.0), max(box.y2 - box.y1, 1.0)
    x1 = int(max(0, np.floor(box.x1 - margin * bw)))
    y1 = int(max(0, np.floor(box.y1 - margin * bh)))
    x2 = int(min(w, np.ceil(box.x2 + margin * bw)))
    y2 = int(min(h, np.ceil(box.y2 + margin * bh)))
    if x2 - x1 < 2 or y2 - y1 < 2:
        raise ValueError(f"vehicle box {box} lies outside the {w}x{h} frame")
    crop = frame[y1:y2, x1:x2]
    scale = min(target_w / crop.shape[1], target_h / crop.shape[0])
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    interp = cv2.INTER_LANCZOS4 if scale > 1 else cv2.INTER_AREA
    image = cv2.resize(crop, size, interpolation=interp)
    local = Box(x1=(box.x1 - x1) * scale, y1=(box.y1 - y1) * scale, x2=(box.x2 - x1) * scale, y2=(box.y2 - y1) * scale)
    return Closeup(image=image, crop=(x1, y1, x2, y2), scale=float(scale), box=local)


@dataclass(frozen=True)
class Mark:
    """A labelled box drawn on a panel: a rider's head, red without a helmet."""

    box: Box  # in the panel image's pixels
    label: str
    color: tuple[int, int, int]


HEAD_COLORS = {"no_helmet": (255, 40, 40), "helmet": (40, 200, 80), "not_judgeable": (200, 200, 200)}
HEAD_LABELS = {"no_helmet": "未戴头盔", "helmet": "戴头盔", "not_judgeable": "无法判定"}
ROLE_LABELS = {"driver": "驾驶人", "passenger": "乘客"}


def rider_marks(facts: dict, seq: int, offset: tuple[float, float] = (0.0, 0.0), scale: float = 1.0) -> list[Mark]:
    """Head marks from a rider event's facts (``rider_heads`` boxes, ``rider_status``, ``rider_roles``)
    when the panel shows the look they were read in (``rider_look_seq``); boxes moved into the panel's
    pixels by ``offset`` (the crop's origin) and ``scale``."""
    heads, status, roles = facts.get("rider_heads"), facts.get("rider_status"), facts.get("rider_roles") or []
    if facts.get("rider_look_seq") != seq or not isinstance(heads, list) or not isinstance(status, list):
        return []
    out = []
    for i, st in enumerate(status):
        x1, y1, x2, y2 = heads[4 * i : 4 * i + 4]
        role = ROLE_LABELS.get(roles[i] if i < len(roles) else "", "")
        box = Box(x1=(x1 - offset[0]) * scale, y1=(y1 - offset[1]) * scale, x2=(x2 - offset[0]) * scale, y2=(y2 - offset[1]) * scale)
        out.append(Mark(box, f"{role}{HEAD_LABELS.get(st, st)}", HEAD_COLORS.get(st, HEAD_COLORS["not_judgeable"])))
    return out


@dataclass(frozen=True)
class Panel:
    image: np.ndarray  # BGR
    box: Box  # vehicle, in this image's pixels
    lines: list[str]  # overlay text, top to bottom; the first is highlighted
    path: tuple[tuple[float, float], ...] = ()  # the vehicle's way over the event, this image's pixels, in time order
    marks: tuple[Mark, ...] = ()  # riders' heads, drawn over the picture


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` pixels (character-wise: CJK has no spaces)."""
    if font.getlength(text) <= width:  # the usual case: one measurement instead of one per character
        return [text] if text else []
    out, cur = [], ""
    for ch in text:
        if font.getlength(cur + ch) > width and cur:
            out.append(cur.rstrip())
            cur = ch.lstrip()
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def _fit(image: np.ndarray, w: int, h: int, box: Box) -> tuple[Image.Image, Box, float, int, int]:
    """Letterbox ``image`` into w x h (no distortion) and move ``box`` with it (also: scale, x and y offset)."""
    ih, iw = image.shape[:2]
    scale = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    resized = image if (nw, nh) == (iw, ih) else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LANCZOS4)
    # PIL unpacks BGR itself (no converted copy of a full-resolution frame)
    picture = Image.frombuffer("RGB", (nw, nh), np.ascontiguousarray(resized).tobytes(), "raw", "BGR", 0, 1)
    ox, oy = (w - nw) // 2, (h - nh) // 2
    if (nw, nh) == (w, h):
        canvas = picture
    else:
        canvas = Image.new("RGB", (w, h), LETTERBOX)
        canvas.paste(picture, (ox, oy))
    moved = Box(x1=box.x1 * scale + ox, y1=box.y1 * scale + oy, x2=box.x2 * scale + ox, y2=box.y2 * scale + oy)
    return canvas, moved, scale, ox, oy


def draw_path(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], width: int, arrows: int = 5) -> None:
    """The vehicle's way as a line with arrowheads along it pointing the way it went (U-turn, wrong-way)."""
    if len(points) < 2:
        return
    draw.line(points, fill=PATH_OUTLINE, width=width + 2, joint="curve")
    draw.line(points, fill=PATH_COLOR, width=width, joint="curve")
    seg = [float(np.hypot(b[0] - a[0], b[1] - a[1])) for a, b in zip(points, points[1:])]
    total = sum(seg)
    if total <= 0:
        return
    size = max(6.0, 3.0 * width)
    for k in range(1, arrows + 1):
        goal, run = total * k / (arrows + 1) if k < arrows else total, 0.0
        for (a, b), length in zip(zip(points, points[1:]), seg):
            if run + length >= goal and length > 0:
                f = (goal - run) / length
                tip = (a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]))
                ux, uy = (b[0] - a[0]) / length, (b[1] - a[1]) / length
                base = (tip[0] - size * ux, tip[1] - size * uy)
                left = (base[0] - 0.6 * size * uy, base[1] + 0.6 * size * ux)
                right = (base[0] + 0.6 * size * uy, base[1] - 0.6 * size * ux)
                draw.polygon([tip, left, right], fill=PATH_COLOR, outline=PATH_OUTLINE)
                break
            run += length


def render_composite(
    panels: list[Panel],
    layout: Literal["2x2", "1x3+closeup"],
    font_path: Path,
    font_face: str | None,
) -> Image.Image:
    """Lay out four panels (three panoramas then the close-up), each under its own text bar."""
    if len(panels) != 4:
        raise ValueError(f"a composite takes 4 panels (3 panoramas + close-up), got {len(panels)}")
    pw, ph = panels[0].image.shape[1], panels[0].image.shape[0]
    size = max(14, round(pw / 36))
    font = load_font(font_path, font_face, size)
    pad = max(4, size // 3)
    line_h = round(size * 1.35)
    wrapped = [[seg for line in p.lines for seg in _wrap(line, font, pw - 2 * pad)] for p in panels]
    bar_h = max(len(w) for w in wrapped) * line_h + 2 * pad
    cell_w, cell_h = pw, bar_h + ph
    cols, rows = (2, 2) if layout == "2x2" else (4, 1)
    gap = 2
    sheet = Image.new("RGB", (cols * cell_w + (cols - 1) * gap, rows * cell_h + (rows - 1) * gap), (0, 0, 0))
    draw = ImageDraw.Draw(sheet)
    stroke = max(2, pw // 320)
    for i, (panel, lines) in enumerate(zip(panels, wrapped)):
        cx, cy = (i % cols) * (cell_w + gap), (i // cols) * (cell_h + gap)
        draw.rectangle([cx, cy, cx + cell_w - 1, cy + bar_h - 1], fill=BAR_BG)
        for j, text in enumerate(lines):
            fill = BAR_ACCENT if j == 0 else BAR_WARN if text.startswith(PLATE_UNCONFIRMED) else BAR_FG
            draw.text((cx + pad, cy + pad + j * line_h), text, font=font, fill=fill)
        picture, box, fit_scale, fx, fy = _fit(panel.image, pw, ph, panel.box)
        sheet.paste(picture, (cx, cy + bar_h))
        # Outline just outside the vehicle so the outline itself hides none of it.
        ox, oy = cx, cy + bar_h
        if panel.path:
            draw_path(draw, [(ox + fx + x * fit_scale, oy + fy + y * fit_scale) for x, y in panel.path], max(2, stroke))
        draw.rectangle(
            [
                max(ox, ox + box.x1 - stroke - 1), max(oy, oy + box.y1 - stroke - 1),
                min(ox + pw - 1, ox + box.x2 + stroke), min(oy + ph - 1, oy + box.y2 + stroke),
            ],
            outline=BOX_COLOR,
            width=stroke,
        )
        small = load_font(font_path, font_face, max(10, size * 2 // 3)) if panel.marks else None
        for mark in panel.marks:
            x1, y1 = ox + fx + mark.box.x1 * fit_scale, oy + fy + mark.box.y1 * fit_scale
            x2, y2 = ox + fx + mark.box.x2 * fit_scale, oy + fy + mark.box.y2 * fit_scale
            draw.rectangle([x1, y1, x2, y2], outline=mark.color, width=max(1, stroke // 2 + 1))
            draw.text((x1, max(oy, y1 - small.size - 2)), mark.label, font=small, fill=mark.color)
    return sheet
