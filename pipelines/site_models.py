"""The models a site file names, loaded from the registry: the detector, the helmet model (with the
head classifier beside it when one is set), the site models a camera adds (``extra_detectors``) and
the plate reader."""

from __future__ import annotations

from typing import Sequence

from pipelines.config import CameraConfig, SiteConfig


def detectors_from_site(site: SiteConfig, cameras: Sequence[CameraConfig] | None = None, registry=None, threads: int | None = None):
    """(detector, helmet detector or None) named by the site's ``models`` section.

    The helmet model is only loaded when a rule of one of ``cameras`` (default: every camera of the
    site) reads heads. A missing model raises
    models.registry.ModelMissingError, whose message says how to fetch it.
    """
    from models.registry import Registry
    from vision.detector import Detector

    registry = registry or Registry()
    m = site.models
    detector = Detector(registry, m.detector, conf=m.detector_conf, iou=m.detector_iou, threads=threads)
    helmet = None
    cams = site.cameras if cameras is None else cameras
    if m.helmet and any(spec.needs_heads for cam in cams for spec in site.specs_for(cam)):
        helmet = Detector(registry, m.helmet, conf=m.helmet_conf, iou=m.detector_iou, threads=threads)
        if m.head_classifier:
            from vision.head_classifier import HeadClassifier, HelmetModels

            helmet = HelmetModels(helmet, HeadClassifier(registry, m.head_classifier, threads=threads))
    return detector, helmet


def extra_detectors_for(camera: CameraConfig, site: SiteConfig, registry=None, threads: int | None = None) -> list:
    """The site models a camera names (``extra_detectors``), loaded from the registry."""
    if not camera.extra_detectors:
        return []
    from models.registry import Registry
    from vision.detector import Detector

    registry = registry or Registry()
    m = site.models
    return [Detector(registry, name, conf=m.detector_conf, iou=m.detector_iou, threads=threads) for name in camera.extra_detectors]


def plate_reader_from_site(site: SiteConfig, registry=None, threads: int | None = None):  # noqa: ANN201 - a PlateReader
    """The double-reading plate reader with the site's ``plates`` section (e.g. its local province).

    It needs six models (two detectors, two recognisers, the colour classifier, the province
    referee); a missing one raises models.registry.ModelMissingError naming ``epolice models fetch <name>``."""
    from vision.plates.reader import PlateReader

    return PlateReader.from_registry(registry, config=site.plates, threads=threads)
