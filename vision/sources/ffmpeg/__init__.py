"""FFmpeg plumbing shared by every source (files, RTSP); one module per concern.

- ``errors``: FFmpegError and its kinds (DecodeError, ProbeError), PipeTimeout.
- ``binary``: finding the ``ffmpeg`` / ``ffprobe`` executables.
- ``probe``: ``probe()`` -> MediaInfo, what ffprobe says about a source.
- ``hwaccel``: which hardware decoder to try, and remembering the ones that failed.
- ``command``: output sizes, frame selection and the decoder's command line (PipeSpec).
- ``decode_log``: what ffmpeg said on stderr: cleaned lines, the error tail, one-line reasons.
- ``rawvideo``: the running decoder: ``open_rawvideo_pipe()`` -> RawVideoPipe of RawFrame, with an
  optional second output that copies the stream into rolling segments.
- ``segments``: the segment muxer's options and the list of segments it has closed.
- ``recorder``: a recording-only process (a camera's main stream while its sub-stream is analysed).

Other FFmpeg processes belong here too, each in its own module, reusing ``command``,
``decode_log`` and ``errors``. Work on a few frames or packets (evidence stills, clip copies) runs
in process through PyAV instead (``vision.sources.stills``, ``vision.sources.remux``): a process
start costs more than the work. Every module logs to this package's logger
(``vision.sources.ffmpeg``): the RTSP source redacts camera credentials there.
"""
