"""Frame sources: recorded files and live cameras, both decoded by FFmpeg (see ``ffmpeg``)."""
