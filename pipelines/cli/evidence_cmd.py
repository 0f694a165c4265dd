"""Placeholder: filled by the owning area."""
