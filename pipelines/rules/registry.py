"""The rule registry: the one list of rules, and everything derived from it.

Adding a rule is one module (its config model, a pure ``evaluate`` and a ``SPEC``) plus one entry
in ``RULES`` below. Everything else follows from the list: the rule names, the site file's
``rules:`` sections and the camera ``rules:`` choices (pipelines.config), the zone kinds, the
engine's rule loop, the default violation codes and the review app's labels.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, create_model

from evidence.config import ViolationCode
from models.strict import StrictModel
from pipelines.rules import helmet, parking, passengers, u_turn, wrong_way
from pipelines.rules.base import RuleSpec

RULES: tuple[RuleSpec, ...] = (helmet.SPEC, passengers.SPEC, u_turn.SPEC, parking.SPEC, wrong_way.SPEC)

RULE_NAMES: tuple[str, ...] = tuple(spec.name for spec in RULES)
RuleName = Literal[RULE_NAMES]  # type: ignore[valid-type]  # a Literal built from the registry
ZONE_KINDS: tuple[str, ...] = tuple(sorted({kind for spec in RULES for kind in spec.zone_kinds}))
ZoneKind = Literal[ZONE_KINDS]  # type: ignore[valid-type]

_BY_NAME = {spec.name: spec for spec in RULES}
if len(_BY_NAME) != len(RULES):
    raise RuntimeError(f"two rules share a name in {RULE_NAMES}")


def rule_spec(name: str) -> RuleSpec:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown rule {name!r}; expected one of {', '.join(RULE_NAMES)}") from None


def default_codes() -> dict[str, ViolationCode]:
    """Each rule's default violation code (illustrative; sites set their platform's codes)."""
    return {spec.name: spec.code for spec in RULES}


def rule_labels() -> dict[str, dict[str, str]]:
    """Display names by rule, then language (the review app's ``rule.<name>``)."""
    return {spec.name: dict(spec.labels) for spec in RULES}


RulesConfig = create_model(
    "RulesConfig",
    __base__=StrictModel,
    __doc__="The site file's ``rules:`` section: one config section per registered rule.",
    **{spec.name: (spec.config, Field(default_factory=spec.config)) for spec in RULES},
)
