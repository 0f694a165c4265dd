"""Reviewer app security: every route guarded, roles, CSRF, sessions, login limits, evidence serving."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from evidence.review import auth
from evidence.review.auth import ROLE_PERMISSIONS, Permission
from evidence.review.web import PUBLIC_ROUTES, SESSION_COOKIE
from tests.support.evidence import keys  # noqa: F401
from tests.support.postgres import postgres_server, postgres_url, store_url  # noqa: F401
from tests.support.review import PASSWORD, Env, csrf_of, env, login  # noqa: F401

ROLE_USER = {"reviewer": "rita", "supervisor": "sam", "exporter": "eve", "admin": "ada"}


def _permission(route: APIRoute) -> Permission | None:
    for dep in route.dependant.dependencies:
        perm = getattr(dep.call, "permission", None)
        if perm is not None:
            return perm
    return None


def _concrete(path: str, env: Env) -> str:
    values = {"record_id": str(env.ids[0]), "kind": "composite", "export_id": "1", "token": "x" * 32, "user_id": "1", "code": "duplicate",
              "alert_id": "1", "entry_id": "1", "pass_key": "0" * 32, "picture": "panorama"}
    out = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], path)
    assert "{" not in out, f"no sample value for a parameter of {path}: add one to the test"
    return out


def _flatten(routes):
    """Routes of included routers too (FastAPI keeps an included router as one lazy entry)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            assert not route.include_context.prefix and not route.include_context.dependencies
            yield from _flatten(inner.routes)
        else:
            yield route


def _routes(env: Env) -> list[tuple[str, str, Permission | None]]:
    out = []
    for route in _flatten(env.app.routes):
        if isinstance(route, Mount):
            assert route.path == "/static", f"unexpected mount {route.path}: only static CSS/JS may be public"
            continue
        assert isinstance(route, APIRoute), f"{route} is not an APIRoute: the guard test cannot see it"
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, route.path, _permission(route)))
    return out


def test_synthetic_every_route_declares_a_guard_and_only_login_is_public(env: Env):
    routes = _routes(env)
    assert len(routes) >= 25
    unguarded = {(m, p) for m, p, perm in routes if perm is None}
    assert unguarded == PUBLIC_ROUTES == {("GET", "/login"), ("POST", "/login")}
    any_user = {(m, p) for m, p, perm in routes if perm is Permission.ANY}
    assert any_user == {("GET", "/"), ("POST", "/logout"), ("POST", "/lang")}


def test_synthetic_every_route_refuses_a_visitor_without_session(env: Env):
    c = env.client()
    for method, path, perm in _routes(env):
        if perm is None:
            continue
        r = c.request(method, _concrete(path, env))
        if method == "GET" and not path.startswith("/api/"):
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), (method, path, r.status_code)
        else:
            assert r.status_code == 401, (method, path, r.status_code)


def test_synthetic_every_route_refuses_the_wrong_role(env: Env):
    clients = {role: env.client(name) for role, name in ROLE_USER.items()}
    tokens = {role: csrf_of(c) for role, c in clients.items()}
    checked = 0
    for method, path, perm in _routes(env):
        if perm is None or perm is Permission.ANY:
            continue
        wrong = [role for role, perms in ROLE_PERMISSIONS.items() if perm not in perms]
        assert wrong, f"{method} {path}: every role holds {perm}; the test needs a role that does not"
        for role in wrong:
            r = clients[role].request(method, _concrete(path, env), headers={"X-CSRF-Token": tokens[role]})
            assert r.status_code == 403, (method, path, role, r.status_code)
            checked += 1
    assert checked >= 25


@pytest.mark.parametrize("role,path,status", [
    ("reviewer", "/queue", 200), ("supervisor", "/queue?stage=second", 200), ("reviewer", "/queue?stage=second", 403),
    ("admin", "/admin/audit", 200), ("supervisor", "/dashboard", 200), ("exporter", "/export", 200),
])
def test_synthetic_right_role_gets_the_page(env: Env, role, path, status):
    assert env.client(ROLE_USER[role]).get(path).status_code == status


def test_synthetic_state_changes_need_the_sessions_csrf_token(env: Env):
    rita = env.client("rita")
    token = csrf_of(rita, "/queue")
    rid = env.ids[0]
    assert rita.get(f"/records/{rid}").status_code == 200  # claims it
    body = {"decision": "approve"}
    assert rita.post(f"/api/records/{rid}/decision", json=body).status_code == 403
    assert rita.post(f"/api/records/{rid}/decision", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    other = csrf_of(env.client("rob"), "/queue")  # a valid token, but another session's
    assert rita.post(f"/api/records/{rid}/decision", json=body, headers={"X-CSRF-Token": other}).status_code == 403
    assert env.store.get(rid).status == "pending_review"
    assert rita.post("/logout", data={}).status_code == 403  # forms too
    assert rita.post(f"/api/records/{rid}/decision", json=body, headers={"X-CSRF-Token": token}).status_code == 200
    assert env.store.get(rid).status == "approved"


def test_synthetic_login_form_has_its_own_csrf_and_cookie_flags(env: Env):
    c = env.client()
    r = c.post("/login", data={"name": "rita", "password": PASSWORD, "csrf_token": "x"})
    assert r.status_code == 403 and SESSION_COOKIE not in r.cookies
    r = login(c, "rita")
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")][0].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
    page = c.get("/queue")
    assert "default-src 'self'" in page.headers["content-security-policy"] and page.headers["x-frame-options"] == "DENY"


def test_synthetic_login_next_is_never_an_open_redirect(env: Env):
    c = env.client()
    page = c.get("/login?next=//evil.example/x")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = c.post("/login", data={"name": "rita", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/queue"


@pytest.mark.parametrize("name,password,status", [
    ("rita", PASSWORD, 303), ("rita", "wrong password!", 401), ("nobody", PASSWORD, 401), ("RITA", PASSWORD, 401),
])
def test_synthetic_login_outcomes(env: Env, name, password, status):
    assert login(env.client(), name, password).status_code == status


def test_synthetic_login_is_rate_limited_per_name(env: Env):
    c = env.client()
    for _ in range(env.settings.review.login_max_failures):
        assert login(c, "rita", "not the password").status_code == 401
    assert login(c, "rita", PASSWORD).status_code == 429  # even the right password, until the window passes
    assert login(env.client(), "rob", PASSWORD).status_code == 429  # and this client is blocked for other names too
    from evidence.review import audit
    actions = [e.action for e in audit.entries(env.store.engine)]
    assert actions.count("login_failed") == 5 and actions.count("login_blocked") == 2


def test_synthetic_logout_and_disabling_end_the_session(env: Env):
    rita = env.client("rita")
    old = rita.cookies.get(SESSION_COOKIE)
    assert env.client().get("/queue", headers={"Cookie": f"{SESSION_COOKIE}={old}"}).status_code == 200  # the cookie alone works
    assert rita.post("/logout", data={"csrf_token": csrf_of(rita, "/queue")}).status_code == 303
    replay = env.client()  # the old cookie value, replayed after logout
    assert replay.get("/queue", headers={"Cookie": f"{SESSION_COOKIE}={old}"}).status_code == 303

    rob = env.client("rob")
    assert rob.get("/queue").status_code == 200
    ada = env.client("ada")
    rob_id = next(u.id for u in auth.list_users(env.store.engine) if u.name == "rob")
    assert ada.post(f"/admin/users/{rob_id}/active", data={"active": "false", "csrf_token": csrf_of(ada)}).status_code == 303
    assert rob.get("/queue").status_code == 303  # signed out at once
    assert login(env.client(), "rob").status_code == 401


# -- evidence files -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind,status,media", [
    ("composite", 200, "image/jpeg"), ("closeup", 200, "image/jpeg"), ("clip", 200, "video/mp4"),
    ("panorama-1", 200, "image/jpeg"), ("panorama-3", 200, "image/jpeg"), ("panorama-4", 404, None),
    ("panorama-0", 404, None), ("manifest", 404, None), ("manifest.json", 404, None), ("...", 404, None),
    ("..%2F..%2Fkeys%2Fevidence.key", 404, None), ("%2e%2e%2fmanifest.sig", 404, None), ("composite.jpg", 404, None),
    ("/etc/passwd", 404, None),
])
def test_synthetic_evidence_served_by_kind_only(env: Env, kind, status, media):
    rita = env.client("rita")
    r = rita.get(f"/records/{env.ids[0]}/files/{kind}")
    assert r.status_code == status, r.text
    if media:
        assert r.headers["content-type"] == media
        rec = env.store.get(env.ids[0])
        entry_sha = {f.kind: f.sha256 for f in rec.evidence_files if f.kind != "panorama"}
        if kind in entry_sha:
            assert r.headers["x-evidence-sha256"] == entry_sha[kind]
    else:
        assert b"BEGIN" not in r.content and b"sha256" not in r.content  # never a key or the manifest


@pytest.mark.parametrize("path", [
    "/records/1/files/../../../../etc/passwd", "/records/1/files/..%2f..%2f..%2fetc%2fpasswd",
    "/records/1%2f..%2f..%2fkeys/files/composite", "/records/../keys/evidence.key",
])
def test_synthetic_traversal_paths_never_reach_the_disk(env: Env, path):
    r = env.client("rita").get(path)
    assert r.status_code in (404, 422) and b"PRIVATE KEY" not in r.content and b"root:" not in r.content


def test_synthetic_clip_range_requests(env: Env):
    rita = env.client("rita")
    whole = rita.get(f"/records/{env.ids[0]}/files/clip").content
    part = rita.get(f"/records/{env.ids[0]}/files/clip", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole)}"
    tail = rita.get(f"/records/{env.ids[0]}/files/clip", headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == whole[-50:]
    assert rita.get(f"/records/{env.ids[0]}/files/clip", headers={"Range": f"bytes={len(whole) + 5}-"}).status_code == 416


def _flip_middle(data: bytes) -> bytes:
    b = bytearray(data)
    b[len(b) // 2] ^= 0x01
    return bytes(b)


def _forge_signature(data: bytes) -> bytes:
    sig = json.loads(data)
    sig["signature"] = ("B" if sig["signature"][0] == "A" else "A") + sig["signature"][1:]
    return json.dumps(sig).encode()


def _edit_hint(data: bytes) -> bytes:
    sig = json.loads(data)
    sig["manifest_sha256"] = "0" * 64
    return json.dumps(sig).encode()


@pytest.mark.parametrize("target,edit,expect_all_refused", [
    ("panorama_2", _flip_middle, False), ("manifest.json", _flip_middle, True),
    ("manifest.sig", _forge_signature, True), ("manifest.sig", _edit_hint, True),
])
def test_synthetic_tampered_evidence_is_refused(env: Env, target, edit, expect_all_refused):
    rec = env.store.get(env.ids[0])
    folder = Path(rec.evidence_path)
    victim = next(p for p in folder.iterdir() if p.name.startswith(target))
    victim.write_bytes(edit(victim.read_bytes()))
    rita = env.client("rita")
    statuses = {k: rita.get(f"/records/{rec.id}/files/{k}").status_code for k in ("composite", "panorama-1", "panorama-2")}
    if expect_all_refused:
        assert set(statuses.values()) == {409}
    else:
        assert statuses == {"composite": 200, "panorama-1": 200, "panorama-2": 409}
    page = rita.get(f"/records/{rec.id}")
    assert page.status_code == 200 and 'class="alert"' in page.text  # the reviewer is told
    from evidence.review import audit
    assert "view_file_refused" in [e.action for e in audit.entries(env.store.engine, record_id=str(rec.id))]


def test_synthetic_swapped_package_of_another_record_is_refused(env: Env):
    """A validly signed package of ANOTHER record copied over this one's is refused (record's manifest hash)."""
    a, b = (env.store.get(i) for i in env.ids[:2])
    for f in Path(a.evidence_path).iterdir():
        f.unlink()
    for f in Path(b.evidence_path).iterdir():
        (Path(a.evidence_path) / f.name).write_bytes(f.read_bytes())
    assert env.client("rita").get(f"/records/{a.id}/files/composite").status_code == 409


def test_synthetic_forged_record_with_anothers_genuine_package_is_not_shown_as_verified(env: Env):
    """Issue 15 item 1: the record page must not say "signature OK" for a copy of another record."""
    from evidence.store import NewRecord

    real = env.store.get(env.ids[0])
    fields = real.model_dump(include=set(NewRecord.model_fields))
    fields.update(event_key="e" * 32, camera_id="cam-99", plate_text="京X00000")
    forged = env.store.add(NewRecord.model_validate(fields)).id
    rita = env.client("rita")
    assert rita.get(f"/api/records/{env.ids[0]}").json()["evidence_ok"] is True
    view = rita.get(f"/api/records/{forged}").json()
    assert view["evidence_ok"] is False and any("record_mismatch" in p for p in view["evidence_problems"])


# -- issue 15 item 3: login throttling that holds ------------------------------------------------
def test_synthetic_login_throttle_counts_the_normalised_name(env: Env):
    """After `rita` is blocked, " rita" (and its full-width form) from other addresses is blocked too."""
    attacker = env.client(address="203.0.113.5")
    for _ in range(env.settings.review.login_max_failures):
        assert login(attacker, "rita", "not the password").status_code == 401
    assert login(env.client(address="198.51.100.7"), " rita", PASSWORD).status_code == 429
    assert login(env.client(address="198.51.100.8"), "ｒｉｔａ\u3000", PASSWORD).status_code == 429  # NFKC: the same name


def test_synthetic_login_limit_behind_a_trusted_proxy_is_per_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Behind the TLS proxy the README asks for, every request came from the proxy's address, so five
    bad passwords from anyone locked out everyone. The client address is now taken from
    X-Forwarded-For, but only when the request comes from a configured trusted proxy."""
    from evidence.review.config import ReviewConfig
    from tests.support.review import cheap_hashing, make_env

    cheap_hashing(monkeypatch)
    e = make_env(tmp_path, review=ReviewConfig(export_dir=tmp_path / "exports", trusted_proxies=["10.0.0.0/24"]), specs=[])
    try:
        attacker = e.client(address="10.0.0.1", headers={"X-Forwarded-For": "203.0.113.5"})
        for i in range(e.settings.review.login_max_failures):
            assert login(attacker, f"guess{i}", "not the password").status_code == 401
        assert login(attacker, "rob", PASSWORD).status_code == 429  # this client is blocked ...
        colleague = e.client(address="10.0.0.1", headers={"X-Forwarded-For": "198.51.100.7, 10.0.0.2"})
        assert login(colleague, "rita", PASSWORD).status_code == 303  # ... everyone else is not
        spoofed = e.client(address="203.0.113.5", headers={"X-Forwarded-For": "198.51.100.99"})
        assert login(spoofed, "rob", PASSWORD).status_code == 429  # a header from an untrusted peer counts for nothing
    finally:
        e.store.close()


def test_synthetic_concurrent_login_attempts_are_counted_atomically(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch):
    """About 40 concurrent attempts all passed the check before any was recorded; now at most
    ``login_max_failures`` passwords are tried, on SQLite and PostgreSQL."""
    import threading

    from tests.support.review import cheap_hashing, make_env

    cheap_hashing(monkeypatch)
    e = make_env(tmp_path, url=store_url, specs=[])
    n = 40
    clients = [e.client(address=f"198.51.100.{i}") for i in range(n)]
    tokens = [re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1) for c in clients]
    barrier = threading.Barrier(n)
    codes: list[int] = []

    def attempt(i: int) -> None:
        barrier.wait()
        codes.append(clients[i].post("/login", data={"name": "rita", "password": "wrong!", "csrf_token": tokens[i]}).status_code)

    try:
        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(codes) == n and set(codes) <= {401, 429}
        assert codes.count(401) == e.settings.review.login_max_failures, codes
    finally:
        e.store.close()


# -- issue 15 item 19: roles -----------------------------------------------------------------------
def test_synthetic_exports_need_the_exporter_role_and_unguessable_ids(env: Env):
    for rid in env.ids[:2]:
        env.store.set_status(rid, "approved", "rita")
    rita, sam, eve = env.client("rita"), env.client("sam"), env.client("eve")
    assert rita.get("/export").status_code == 403 and sam.get("/export").status_code == 403
    assert rita.post("/export", data={"csrf_token": csrf_of(rita, "/queue")}).status_code == 403
    assert {env.store.get(i).status for i in env.ids[:2]} == {"approved"}
    r = eve.post("/export", data={"csrf_token": csrf_of(eve, "/export")})
    assert r.status_code == 303
    token = re.search(r"done=([^&]+)", r.headers["location"]).group(1)
    assert len(token) >= 20 and not token.isdigit()
    assert eve.get(f"/export/{token}/download").status_code == 200
    assert eve.get("/export/1/download").status_code == 404  # no sequential ids to walk
    assert rita.get(f"/export/{token}/download").status_code == 403


def test_synthetic_role_grants_need_a_second_admin(env: Env):
    ada, abe = env.client("ada"), env.client("abe")
    r = ada.post("/admin/users", data={"name": "mallory", "role": "supervisor", "password": "a long password", "csrf_token": csrf_of(ada)})
    assert r.status_code == 303
    assert login(env.client(), "mallory", "a long password").status_code == 401  # not yet granted
    uid = next(u.id for u in auth.list_users(env.store.engine) if u.name == "mallory")
    assert ada.post(f"/admin/users/{uid}/active", data={"active": "true", "csrf_token": csrf_of(ada)}).status_code == 409
    assert ada.post(f"/admin/users/{uid}/approve", data={"csrf_token": csrf_of(ada)}).status_code == 409  # not by the same admin
    assert login(env.client(), "mallory", "a long password").status_code == 401
    assert abe.post(f"/admin/users/{uid}/approve", data={"csrf_token": csrf_of(abe)}).status_code == 303
    assert login(env.client(), "mallory", "a long password").status_code == 303
    from evidence.review import audit
    acts = [(e.actor, e.action) for e in audit.entries(env.store.engine)]
    assert ("ada", "user_add") in acts and ("abe", "user_approve") in acts
