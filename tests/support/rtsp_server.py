#!/usr/bin/python3
"""A real RTSP camera on loopback for the live-ingest tests: GStreamer's RTSP server looping a clip.

Run by the SYSTEM python (``/usr/bin/python3``, which has ``gi``), never the venv:

    /usr/bin/python3 tests/support/rtsp_server.py --port 8554 --path /cam --video clip.mp4 [--user u --password p]

Why appsrc and not ``filesrc ! qtdemux``: a demuxer ends at EOS, and a real camera never does. The
clip's H.264 access units are read into memory once, then pushed to every client's pipeline in a
loop with a monotonic timestamp, so the stream is endless and the RTP clock never jumps back.
Each unit keeps its presentation offset from the file (``pts - dts``), so a clip with B-frames is
sent as a camera sends one: in decode order, with RTP timestamps in presentation order.
The file's first frame is an IDR and each client gets its own media, so a client always starts
on a decodable frame. The RTSP sinks pace delivery by the clock, so the stream is real-time.

``--mount PATH=VIDEO`` (repeatable) serves several streams, e.g. a camera's main stream and its
sub-stream. ``--live`` makes every mount behave like a camera's sensor instead: one shared media per
mount whose content follows the server's clock from its start (frame ``n`` is what the sensor shows
at ``start + n x duration``), so two mounts made from the same clip show the same moment at the same
time, whenever each client connects; a client then starts at the next keyframe, as with a camera.

Prints ``READY <port>`` on stdout once it listens, so the fixture knows when to connect.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def read_access_units(path: str) -> tuple[list[tuple[bytes, int]], int, str]:
    """Demux the clip into byte-stream H.264 access units, each with its presentation delay
    (``pts - dts``, ns); returns (units, frame duration ns, caps)."""
    pipe = Gst.parse_launch(
        f'filesrc location="{path}" ! qtdemux ! h264parse config-interval=-1 '
        "! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false"
    )
    sink = pipe.get_by_name("sink")
    pipe.set_state(Gst.State.PLAYING)
    units: list[tuple[bytes, int]] = []
    caps = None
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        caps = caps or sample.get_caps()
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        if ok:
            valid = buf.pts != Gst.CLOCK_TIME_NONE and buf.dts != Gst.CLOCK_TIME_NONE
            units.append((bytes(info.data), max(0, buf.pts - buf.dts) if valid else 0))
            buf.unmap(info)
    pipe.set_state(Gst.State.NULL)
    if not units or caps is None:
        raise SystemExit(f"no H.264 access units in {path}")
    s = caps.get_structure(0)
    ok, num, den = s.get_fraction("framerate")
    if not ok or num <= 0:
        num, den = 25, 1
    duration = Gst.util_uint64_scale(Gst.SECOND, den, num)
    width, height = s.get_int("width")[1], s.get_int("height")[1]
    out_caps = f"video/x-h264,stream-format=byte-stream,alignment=au,width={width},height={height},framerate={num}/{den}"
    return units, duration, out_caps


class LoopFactory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, units: list[tuple[bytes, int]], duration: int, caps: str, live_since: float | None = None) -> None:
        super().__init__()
        self.units, self.duration, self.caps = units, duration, caps
        self.live_since = live_since  # server start (monotonic) in --live mode
        self.set_shared(live_since is not None)  # live: one sensor for every client; else each starts at frame 0 (an IDR)
        self.set_launch(
            f'( appsrc name=src is-live=true format=time caps="{caps}" '
            "! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        )
        self.connect("media-configure", self._configure)

    def _configure(self, _factory, media) -> None:
        src = media.get_element().get_child_by_name("src")
        first = 0
        if self.live_since is not None:  # the sensor has been running since the server started
            first = int((time.monotonic() - self.live_since) * Gst.SECOND // self.duration)
        state = {"n": 0}

        def need_data(appsrc, _length) -> None:
            n = state["n"]
            data, delay = self.units[(first + n) % len(self.units)]
            buf = Gst.Buffer.new_wrapped(data)
            buf.dts = n * self.duration
            buf.pts = buf.dts + delay
            buf.duration = self.duration
            state["n"] = n + 1
            appsrc.emit("push-buffer", buf)

        src.connect("need-data", need_data)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/cam")
    ap.add_argument("--video")
    ap.add_argument("--mount", action="append", default=[], help="PATH=VIDEO, repeatable (beside or instead of --path/--video)")
    ap.add_argument("--live", action="store_true", help="mounts follow the server clock like a camera's sensor (shared media)")
    ap.add_argument("--user")
    ap.add_argument("--password")
    args = ap.parse_args()

    Gst.init(None)
    mounts = [tuple(m.split("=", 1)) for m in args.mount] + ([(args.path, args.video)] if args.video else [])
    if not mounts:
        ap.error("give --video or at least one --mount PATH=VIDEO")
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    since = time.monotonic() if args.live else None
    for path, video in mounts:
        factory = LoopFactory(*read_access_units(video), live_since=since)
        _protect(factory, server, args)
        server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY {args.port}", flush=True)
    loop.run()
    return 0


def _protect(factory: LoopFactory, server, args) -> None:
    """Basic auth on the server and this mount when --user is given."""
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, args.user)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role(args.user, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        perms.add_permission_for_role(args.user, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(perms)


if __name__ == "__main__":
    sys.exit(main())
