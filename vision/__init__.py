"""Perception: frame sources, detectors, tracker, attribute readers, geometry."""
