"""The decoder's command line: output size, frame selection, filters, and the ``ffmpeg`` arguments.

Frame selection (stride / target fps / the detector's schedule) happens inside the filter graph
BEFORE scaling and pixel-format conversion, so unused frames are decoded (they must be, for
inter-frame codecs) but never converted or copied. Two ``showinfo`` filters around ``select`` log
each frame's true pts and its index among all decoded frames, which ``rawvideo`` reads back from
stderr. The same process can also copy the undecoded stream into rolling segment files
(``segments.SegmentOutput``): one connection to a camera, one process, two outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from vision.sources.ffmpeg.binary import FFMPEG, find_binary
from vision.sources.ffmpeg.segments import SegmentOutput

# Global options for every process we start: no banner or stdin, and log lines with their level
# (``decode_log`` parses them).
GLOBAL_OPTIONS: tuple[str, ...] = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info")


def output_size(width: int, height: int, *, scale: float | None = None, max_width: int | None = None) -> tuple[int, int]:
    """Frame size after a region scale: a factor (0 < scale <= 1 typical) and/or a maximum width.

    Rounded to even numbers, which every downstream consumer (encoders for evidence clips) accepts.
    """
    factor = 1.0
    if scale is not None:
        if not (scale > 0):
            raise ValueError(f"scale must be > 0, got {scale}")
        factor = float(scale)
    if max_width is not None:
        if max_width <= 0:
            raise ValueError(f"max_width must be > 0, got {max_width}")
        factor = min(factor, max_width / width)
    if factor == 1.0:
        return width, height
    w = max(2, int(round(width * factor / 2)) * 2)
    h = max(2, int(round(height * factor / 2)) * 2)
    return w, h


def select_expression(*, stride: int | None = None, target_fps: float | None = None, detect_fps: float | None = None) -> str | None:
    """The ``select`` filter expression for a frame stride, a target rate or a detection schedule, or
    None to keep every frame.

    Target fps keeps a frame when at least 1/fps (minus half a millisecond of jitter) has passed since
    the last kept one: frames keep their true timestamps (unlike the ``fps`` filter, which retimes and
    duplicates). Detect fps keeps the first frame of every 1/fps interval counted from the first
    frame, which is the engine's own detection schedule (``CameraPipeline.needs_detection``) on a
    regular stream, so the frames handed over are exactly the ones it would have detected on.
    """
    if sum(v is not None for v in (stride, target_fps, detect_fps)) > 1:
        raise ValueError("give only one of stride, target_fps and detect_fps")
    if stride is not None:
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        return None if stride == 1 else f"not(mod(n,{int(stride)}))"
    if target_fps is not None:
        if not (target_fps > 0):
            raise ValueError(f"target_fps must be > 0, got {target_fps}")
        interval = 1.0 / float(target_fps) - 0.0005
        return f"isnan(prev_selected_t)+gte(t-prev_selected_t,{interval:.6f})"
    if detect_fps is not None:
        if not (detect_fps > 0):
            raise ValueError(f"detect_fps must be > 0, got {detect_fps}")
        fps = f"{float(detect_fps):.6f}"
        slack = f"{float(detect_fps) * 1e-6:.9f}"  # the engine's 1 us tolerance, in intervals
        bucket = lambda t: f"floor(({t}-start_t)*{fps}+{slack})"  # noqa: E731
        return f"isnan(prev_selected_t)+gt({bucket('t')},{bucket('prev_selected_t')})"
    return None


@dataclass(frozen=True, slots=True)
class PipeSpec:
    """Everything needed to (re)start the decoder process; kept so a failed hwaccel can reopen in software."""

    source: str
    width: int  # output frame size (after scaling)
    height: int
    input_options: tuple[tuple[str, str], ...] = ()  # ffmpeg input options, without dashes, in order
    select: str | None = None
    hwaccel: str | None = None
    pre_filters: tuple[str, ...] = ()  # raw filter strings applied first (e.g. an exact segment trim)
    extra_filters: tuple[str, ...] = ()  # raw filter strings applied after select, before scale
    copyts: bool = False  # keep container timestamps (pts not shifted to start at 0)
    read_timeout: float | None = None
    queue_size: int = 4
    hwaccel_auto: bool = False  # chosen by "auto": a failure is expected on machines without a device
    record: SegmentOutput | None = None  # also copy the undecoded stream into rolling segment files


def rawvideo_command(spec: PipeSpec) -> list[str]:
    """The ffmpeg command line (built with ffmpeg-python) that decodes ``spec`` to ``bgr24`` on stdout."""
    import ffmpeg  # ffmpeg-python

    kwargs: dict[str, str] = {}
    for key, value in spec.input_options:
        kwargs[key] = value
    if spec.hwaccel:
        kwargs["hwaccel"] = spec.hwaccel
    source = ffmpeg.input(spec.source, **kwargs)
    stream = source.video
    for flt in spec.pre_filters:
        stream = _apply_filter(stream, flt)
    if spec.select:
        stream = stream.filter("showinfo@pre", checksum=0).filter("select", spec.select)
    stream = stream.filter("showinfo@post", checksum=0)
    for flt in spec.extra_filters:
        stream = _apply_filter(stream, flt)
    stream = stream.filter("scale", spec.width, spec.height, flags="area")
    # passthrough: never duplicate/drop frames to fit a rate; enc_time_base -1: keep the input time
    # base so close VFR timestamps don't collide in the muxer.
    # flush_packets: each frame leaves whole as soon as it is made (else its tail waits in the output
    # buffer for the next frame: at a detection rate of 5 fps, 200 ms of needless latency)
    out = stream.output(
        "pipe:", format="rawvideo", pix_fmt="bgr24", fps_mode="passthrough", enc_time_base=-1, flush_packets=1,
        an=None, sn=None, dn=None,
    )
    if spec.record is not None:
        # The recording first: ffmpeg-python maps the input's video to it with stream copy, so the
        # camera's bitstream lands on disk untouched beside the decoded, selected, scaled frames.
        copy = source.video.output(spec.record.pattern, **spec.record.output_options())
        out = ffmpeg.merge_outputs(copy, out)
    # Global options first: ffmpeg-python would append them after the output ("trailing options").
    globals_ = [*GLOBAL_OPTIONS] + (["-copyts"] if spec.copyts else [])
    return [find_binary(FFMPEG), *globals_, *out.get_args()]


def _apply_filter(stream, text: str):  # noqa: ANN001, ANN202 - ffmpeg-python nodes are untyped
    """Apply ``name=a:k=v`` to an ffmpeg-python stream (values passed as arguments, so they get escaped once)."""
    name, _, args = text.partition("=")
    positional: list[str] = []
    keywords: dict[str, str] = {}
    for part in filter(None, args.split(":")):
        key, eq, value = part.partition("=")
        if eq:
            keywords[key] = value
        else:
            positional.append(part)
    return stream.filter(name, *positional, **keywords)


def format_option(value: object) -> str:
    """An input option value as ffmpeg reads it: floats to microseconds without trailing zeros."""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") or "0"
    return str(value)
