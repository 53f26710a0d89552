"""Sign-in for every role, sessions that end, passwords, and what admins do to members."""

import re

import pytest

from app.accounts import repository
from app.core.security import SESSION_COOKIE
from tests.factories import PASSWORD

NEW_PASSWORD = "a brand new passphrase"


def me(client) -> int:
    return client.get("/api/v1/me").status_code


@pytest.mark.parametrize(("role", "landing"), [("admin", "traces"), ("annotator", "queues"),
                                                ("viewer", "traces")])
def test_every_role_signs_in_lands_on_its_page_and_fails_with_a_wrong_password(
        client, factory, role, landing):
    user = factory.user(role)
    project = factory.project()
    wrong = client.form("/login", {"email": user.email, "password": PASSWORD + "x"})
    assert wrong.status_code == 400 and "Wrong e-mail or password" in wrong.text
    assert me(client) == 401
    signed_in = client.login(user.email, PASSWORD)
    assert signed_in.headers["HX-Redirect"] == "/"
    assert client.get("/").headers["location"] == f"/projects/{project.id}/{landing}"
    assert client.get(f"/projects/{project.id}/{landing}").status_code == 200
    assert client.get("/api/v1/me").json()["email"] == user.email


def test_a_cookie_replayed_after_sign_out_is_refused(client, make_client, factory):
    user = factory.user("annotator")
    client.login(user.email, PASSWORD)
    stolen = client.cookies[SESSION_COOKIE]
    assert client.form("/logout").headers["HX-Redirect"] == "/login"
    replay = make_client()
    replay.cookies.set(SESSION_COOKIE, stolen)
    assert me(replay) == 401
    assert replay.get("/account").status_code == 303


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(client, make_client, factory, db):
    user = factory.user("viewer")
    other_device = make_client()
    other_device.login(user.email, PASSWORD)
    client.login(user.email, PASSWORD)
    page = client.get("/account")
    assert page.status_code == 200 and user.email in page.text

    changed = client.form("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 200 and "other sessions have been signed out" in changed.text
    assert me(client) == 200
    assert me(other_device) == 401
    assert make_client().form("/login", {"email": user.email, "password": PASSWORD}).status_code == 400
    make_client().login(user.email, NEW_PASSWORD)


@pytest.mark.parametrize(("current", "new", "message"), [
    ("not my password", NEW_PASSWORD, "current password is wrong"),
    (PASSWORD, "password", "at least 12 characters"),
    (PASSWORD, "12345678", "at least 12 characters"),
])
def test_a_refused_password_change_says_why_and_changes_nothing(client, factory, db, current, new, message):
    user = factory.user("annotator")
    client.login(user.email, PASSWORD)
    before = (user.password_hash, user.session_version)
    refused = client.form("/account/password", {"current_password": current, "new_password": new})
    assert refused.status_code == 422 and message in refused.text
    db.refresh(user)
    assert (user.password_hash, user.session_version) == before
    assert me(client) == 200


def test_setup_refuses_weak_passwords_with_a_clear_message(client, db):
    for weak in ("password", "12345678"):
        refused = client.form("/setup", {"organization": "Acme", "email": "a@example.com", "password": weak})
        assert refused.status_code == 422 and "at least 12 characters" in refused.text
    assert repository.count_users(db) == 0


def test_deactivation_ends_sessions_and_sign_in_until_reactivated(client, make_client, factory):
    client.login(factory.user("admin").email, PASSWORD)
    member = factory.user("annotator")
    theirs = make_client()
    theirs.login(member.email, PASSWORD)

    off = client.form(f"/settings/members/{member.id}/active", {"active": "false"})
    assert off.status_code == 200 and "deactivated" in off.text and "Reactivate" in off.text
    assert me(theirs) == 401
    assert make_client().form("/login", {"email": member.email, "password": PASSWORD}).status_code == 400

    on = client.form(f"/settings/members/{member.id}/active", {"active": "true"})
    assert on.status_code == 200 and "reactivated" in on.text
    make_client().login(member.email, PASSWORD)


def test_a_role_change_ends_the_members_sessions_and_takes_effect(client, make_client, factory, db):
    client.login(factory.user("admin").email, PASSWORD)
    project = factory.project()
    member = factory.user("viewer")
    theirs = make_client()
    theirs.login(member.email, PASSWORD)
    assert theirs.get(f"/projects/{project.id}/queues/new").status_code == 403

    changed = client.form(f"/settings/members/{member.id}/role", {"role": "admin"})
    assert changed.status_code == 200 and f"{member.email} is now admin" in changed.text
    assert me(theirs) == 401
    theirs.login(member.email, PASSWORD)
    assert theirs.get(f"/projects/{project.id}/queues/new").status_code == 200


def test_admins_cannot_change_or_deactivate_themselves_nor_touch_other_organisations(client, factory):
    admin = factory.user("admin")
    client.login(admin.email, PASSWORD)
    stranger = factory.user("viewer", organization=factory.other_organization())
    assert client.form(f"/settings/members/{admin.id}/role", {"role": "viewer"}).status_code == 409
    assert client.form(f"/settings/members/{admin.id}/active", {"active": "false"}).status_code == 409
    for action, data in (("role", {"role": "admin"}), ("active", {"active": "false"}), ("password-reset", {})):
        assert client.form(f"/settings/members/{stranger.id}/{action}", data).status_code == 404
    assert me(client) == 200


def test_a_password_reset_link_works_once_and_ends_the_members_sessions(client, make_client, factory):
    client.login(factory.user("admin").email, PASSWORD)
    member = factory.user("annotator")
    theirs = make_client()
    theirs.login(member.email, PASSWORD)

    issued = client.form(f"/settings/members/{member.id}/password-reset")
    assert issued.status_code == 200
    link = re.search(r"<code>http://testserver(/reset/[^<]+)</code>", issued.text).group(1)
    assert me(theirs) == 200  # issuing a link ends nothing yet

    visitor = make_client()
    page = visitor.get(link)
    assert page.status_code == 200 and member.email in page.text
    short = visitor.form(link, {"new_password": "short"})
    assert short.status_code == 422 and "at least 12 characters" in short.text
    done = visitor.form(link, {"new_password": NEW_PASSWORD})
    assert done.headers["HX-Redirect"] == "/login"
    assert me(theirs) == 401
    assert visitor.get(link).status_code == 404
    assert visitor.form(link, {"new_password": "another new passphrase"}).status_code == 404
    visitor.login(member.email, NEW_PASSWORD)
    assert make_client().get("/reset/forged-token").status_code == 404


def test_sign_in_and_set_up_need_the_pre_session_token(client, factory):
    """Login CSRF: a cross-site form carries no cookies, so it cannot sign a browser in."""
    user = factory.user("admin")
    cross_site = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert cross_site.status_code == 403 and "CSRF" in cross_site.text
    assert SESSION_COOKIE not in client.cookies
    assert client.post("/setup", data={"organization": "X", "email": "x@example.com",
                                        "password": "long enough pw"}).status_code == 403
    client.login(user.email, PASSWORD)  # with the token from the sign-in page it works


def test_a_valid_api_key_is_exempt_from_csrf_and_is_then_the_only_identity(client, factory, key):
    client.login(factory.user("admin").email, PASSWORD)
    ingested = client.post("/api/v1/traces", headers=key,
                           json={"traces": [{"id": "k1", "input": "q", "output": "a"}]})
    assert ingested.status_code == 200, ingested.text
    # The admin's cookie came along, but the key is who asks: no user-only action.
    as_key = client.post("/api/v1/projects", headers=key, json={"name": "Via the cookie"})
    assert as_key.status_code == 401 and "signed-in user" in as_key.text


def test_strict_transport_security_only_when_cookies_are_secure(monkeypatch, db, redis_client):
    from app.core.settings import clear_caches
    from app.main import create_app
    from tests.http import BrowserClient

    for secure, expected in (("true", "max-age=31536000; includeSubDomains"), ("false", None)):
        monkeypatch.setenv("SEXTANT_COOKIE_SECURE", secure)
        clear_caches()
        with BrowserClient(create_app()) as browser:
            assert browser.get("/healthz").headers.get("strict-transport-security") == expected
    clear_caches()
