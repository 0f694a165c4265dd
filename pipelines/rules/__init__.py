"""Violation rules: pure functions of a track's history, the camera's zones and the rule's config.

One module per rule (helmet, passengers, u_turn, parking); shared types in ``base``.
"""
