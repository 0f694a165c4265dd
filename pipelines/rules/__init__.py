"""Violation rules: pure functions of a track's history, the camera's zones and the rule's config.

One module per rule, each ending in its ``SPEC``; the list of rules is ``registry.RULES``.
Shared types (zones, ``Decision``, ``RuleSpec``) are in ``base``.
"""
