"""Checkpoint mode (卡口) on the engine side: capture lines, pass recording, watchlist matching,
clone detection, the pass sink and alert dispatch. The stored side is ``evidence.checkpoint``."""
