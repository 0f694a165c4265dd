"""FFmpeg plumbing shared by every source (files, RTSP); one module per concern.

- ``errors``: FFmpegError and its kinds (DecodeError, ProbeError), PipeTimeout.
- ``binary``: finding the ``ffmpeg`` / ``ffprobe`` executables.
- ``probe``: ``probe()`` -> MediaInfo, what ffprobe says about a source.
- ``hwaccel``: which hardware decoder to try, and remembering the ones that failed.
- ``command``: output sizes, frame selection and the decoder's command line (PipeSpec).
- ``decode_log``: what ffmpeg said on stderr: cleaned lines, the error tail, one-line reasons.
- ``rawvideo``: the running decoder: ``open_rawvideo_pipe()`` -> RawVideoPipe of RawFrame.

Other FFmpeg processes belong here too, each in its own module beside ``rawvideo`` (e.g. a
segment recorder that copies a stream into rolling files, or a key-frame-only decoder), reusing
``command``, ``decode_log`` and ``errors``. Every module logs to this package's logger
(``vision.sources.ffmpeg``): the RTSP source redacts camera credentials there.
"""
