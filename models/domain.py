"""The domain classes every model's class map must translate into.

Detectors speak COCO, helmet or plate vocabularies; the rest of epolice only ever sees these names,
so swapping a model never touches a rule.
"""

DOMAIN_CLASSES: tuple[str, ...] = (
    "person",
    "car",
    "bus",
    "truck",
    "motorcycle",
    "bicycle",
    "e_bike",
    "tricycle",
    "tractor",
    "head_helmet",
    "head_no_helmet",
    "plate",
)

CLASS_ID: dict[str, int] = {name: i for i, name in enumerate(DOMAIN_CLASSES)}

VEHICLE_CLASSES: frozenset[str] = frozenset(
    {"car", "bus", "truck", "motorcycle", "bicycle", "e_bike", "tricycle", "tractor"}
)
RIDDEN_CLASSES: frozenset[str] = frozenset({"motorcycle", "bicycle", "e_bike", "tricycle", "tractor"})
HEAD_CLASSES: frozenset[str] = frozenset({"head_helmet", "head_no_helmet"})
