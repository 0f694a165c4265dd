"""Builders for the reviewer-app tests: a store with packaged records, users of each role, clients.

Records are real signed packages made by the evidence package writer (synthetic frames for the API
tests, frames of the real clip for the browser test), stored by the record store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from evidence.config import StoreConfig
from evidence.event import Box
from evidence.package import write_package
from evidence.review import auth
from evidence.review.app import create_app
from evidence.review.config import ReviewConfig, ReviewSettings
from evidence.signing import Signer
from evidence.store import NewRecord, RecordStore
from pipelines.rules.registry import rule_labels
from tests.support.evidence import T0, config, event, synthetic_input

PASSWORD = "correct horse battery"
SMALL_BOX = Box(x1=120, y1=70, x2=200, y2=120)  # inside the 320x180 synthetic frames
USERS = {"rita": "reviewer", "rob": "reviewer", "sam": "supervisor", "sue": "supervisor", "eve": "exporter", "ada": "admin",
         "abe": "admin"}


@dataclass
class Env:
    tmp: Path
    settings: ReviewSettings
    store: RecordStore
    signer: Signer
    pub: Path
    app: object
    ids: list[int]

    def client(self, user: str | None = None, address: str = "testclient", headers: dict[str, str] | None = None) -> TestClient:
        """A client over https (Secure cookies) from ``address``, signed in as ``user`` when given."""
        c = TestClient(self.app, base_url="https://testserver", follow_redirects=False, client=(address, 50000), headers=headers)
        if user is not None:
            login(c, user)
        return c


def login(c: TestClient, name: str, password: str = PASSWORD):
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return c.post("/login", data={"name": name, "password": password, "csrf_token": token})


def csrf_of(c: TestClient, path: str = "/") -> str:
    """The session's CSRF token, read from a page the user may open."""
    r = c.get(path, follow_redirects=True)
    m = re.search(r'name="csrf-token" content="([^"]*)"', r.text)
    assert m and m.group(1), f"no CSRF token on {path}"
    return m.group(1)


def add_records(tmp: Path, signer: Signer, store: RecordStore, specs: list[dict]) -> list[int]:
    """Package and store one synthetic event per spec (keys of tests.support.evidence.event)."""
    ids = []
    for i, spec in enumerate(specs):
        kw = {"track_id": 100 + i, "start": T0 + timedelta(minutes=i), "box": SMALL_BOX, **spec}
        clip = kw.pop("clip_frames", 0)
        plate_image = kw.pop("plate_image", None)
        ev = event(**kw)
        inp = replace(synthetic_input(ev, size=(320, 180), clip_frames=clip), plate_image=plate_image)
        info = write_package(inp, config(tmp, min_panorama_width=320, min_panorama_height=180), signer)
        ids.append(store.add(NewRecord.from_package(ev, info)).id)
    return ids


DEFAULT_SPECS = [
    {"rule": "parking", "camera_id": "cam-01", "clip_frames": 6},
    {"rule": "parking", "camera_id": "cam-02"},
    {"rule": "helmet", "camera_id": "cam-01", "times_s": (0.0, 1.0, 2.0),
     "facts": {"riders": 2, "riders_without_helmet": 1, "no_helmet_votes": 4, "observations": 6}},
    {"rule": "u_turn", "camera_id": "cam-02", "site_id": "site-002", "times_s": (0.0, 2.0, 4.0),
     "facts": {"heading_change_deg": 172.5}},
]


def make_env(tmp: Path, url: str | None = None, review: ReviewConfig | None = None,
             specs: list[dict] | None = None) -> Env:
    from evidence.signing import generate_keypair

    priv, pub = generate_keypair(tmp / "keys")
    signer = Signer.from_file(priv)
    review = review or ReviewConfig(export_dir=tmp / "exports")
    review = review.model_copy(update={"rule_labels": {**rule_labels(), **review.rule_labels}})  # as the site loader fills it
    settings = ReviewSettings(store=StoreConfig(url=url or f"sqlite:///{tmp / 'records.db'}"), evidence=config(tmp), review=review)
    store = RecordStore.from_config(settings.store)
    ids = add_records(tmp, signer, store, DEFAULT_SPECS if specs is None else specs)
    app = create_app(settings, store)
    for name, role in USERS.items():
        auth.add_user(store.engine, name, PASSWORD, role)
    return Env(tmp, settings, store, signer, pub, app, ids)


def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with small parameters (still argon2id): the production cost, ~0.2 s per hash on this
    machine, would dominate every test that creates users or signs in."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cheap_hashing(monkeypatch)
    e = make_env(tmp_path)
    try:
        yield e
    finally:
        e.store.close()
