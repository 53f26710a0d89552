from app.accounts import repository
from app.audit.models import AuditEvent
from tests.factories import PASSWORD


def signed_in(client, factory, role="admin", organization=None):
    user = factory.user(role, organization=organization)
    client.login(user.email, PASSWORD)
    return user


def test_admin_creates_and_renames_projects_in_the_ui(client, factory, db):
    signed_in(client, factory)
    response = client.form("/settings/projects", {"name": "Support bot"})
    assert response.status_code == 204
    project_id = int(response.headers["HX-Redirect"].split("/")[2])
    assert repository.get_project(db, project_id).name == "Support bot"

    duplicate = client.form("/settings/projects", {"name": "Support bot"})
    assert duplicate.status_code == 409 and "already exists" in duplicate.text

    renamed = client.form(f"/projects/{project_id}/settings/name", {"name": "Helpdesk"})
    assert renamed.status_code == 200 and "Saved." in renamed.text
    assert repository.get_project(db, project_id).name == "Helpdesk"
    listing = client.get("/settings/projects")
    assert "Helpdesk" in listing.text


def test_api_key_is_shown_once_listed_by_prefix_and_revocable(client, factory, db):
    signed_in(client, factory)
    project = factory.project("Bot")
    created = client.form(f"/projects/{project.id}/settings/api-keys", {"name": "prod"})
    assert created.status_code == 200
    plain = created.text.split('data-testid="new-api-key">')[1].split("<")[0]
    assert plain.startswith("sx_") and len(plain) > 30

    page = client.get(f"/projects/{project.id}/settings").text
    assert plain not in page and plain[:10] in page
    key = repository.api_keys_of(db, project.id)[0]
    assert key.key_hash != plain and plain not in key.key_hash

    api = client.get(f"/api/v1/projects/{project.id}", headers={"Authorization": f"Bearer {plain}"})
    assert api.status_code == 200 and api.json()["name"] == "Bot"

    client.form(f"/projects/{project.id}/settings/api-keys/{key.id}/revoke")
    refused = client.get(f"/api/v1/projects/{project.id}", headers={"Authorization": f"Bearer {plain}"})
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "Invalid or revoked API key."
    actions = [e.action for e in db.query(AuditEvent).filter(AuditEvent.project_id == project.id)]
    assert {"project.created", "api_key.created", "api_key.revoked"} <= set(actions)


def test_api_key_json_routes(client, factory):
    signed_in(client, factory)
    project = factory.project()
    headers = {"x-csrf-token": client.csrf_token()}
    created = client.post(f"/api/v1/projects/{project.id}/api-keys", json={"name": "ci"}, headers=headers)
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith("sx_") and body["prefix"] == body["key"][:10]
    listed = client.get(f"/api/v1/projects/{project.id}/api-keys").json()
    assert [k["prefix"] for k in listed] == [body["prefix"]] and "key" not in listed[0]
    revoked = client.delete(f"/api/v1/projects/{project.id}/api-keys/{body['id']}", headers=headers)
    assert revoked.json()["revoked_at"] is not None


def test_an_api_key_never_reaches_another_project(client, factory):
    mine, other = factory.project(), factory.project()
    key = factory.api_key(mine)
    auth = {"Authorization": f"Bearer {key}"}
    assert client.get(f"/api/v1/projects/{mine.id}", headers=auth).status_code == 200
    response = client.get(f"/api/v1/projects/{other.id}", headers=auth)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_api_keys_cannot_administer(client, factory):
    project = factory.project()
    auth = {"Authorization": f"Bearer {factory.api_key(project)}"}
    assert client.get(f"/api/v1/projects/{project.id}/api-keys", headers=auth).status_code == 403
    assert client.get("/api/v1/me", headers=auth).status_code == 401


def test_viewer_sees_projects_but_cannot_create_them(client, factory):
    signed_in(client, factory, "viewer")
    factory.project("Visible")
    assert "Visible" in client.get("/settings/projects").text
    assert client.form("/settings/projects", {"name": "Nope"}).status_code == 403


def test_admin_adds_members_with_roles(client, factory, db):
    signed_in(client, factory)
    response = client.form("/settings/members", {"email": "new@example.com", "password": "long enough pw",
                                                 "role": "annotator", "name": "Nia"})
    assert response.status_code == 200 and "Added new@example.com" in response.text
    # The members table comes along, swapped in place out of band, with the new row.
    table = response.text[response.text.index('<div id="members" hx-swap-oob="true">'):]
    assert "new@example.com" in table and 'aria-label="Role of new@example.com"' in table
    user = repository.get_user_by_email(db, "new@example.com")
    assert repository.memberships_of(db, user.id)[0].role == "annotator"
    for weak_password in ("short", "password", "12345678", "eleven char"):
        weak = client.form("/settings/members", {"email": "x@example.com", "password": weak_password,
                                                 "role": "viewer"})
        assert weak.status_code == 422 and "at least 12 characters" in weak.text
        assert repository.get_user_by_email(db, "x@example.com") is None


def test_key_use_is_recorded_at_most_once_a_minute(db, factory):
    from datetime import timedelta

    from app.core.db import utcnow

    project = factory.project()
    factory.api_key(project)
    key = repository.api_keys_of(db, project.id)[0]
    first = utcnow()
    repository.touch_api_key(db, key.id, first)
    db.refresh(key)
    assert key.last_used_at == first
    repository.touch_api_key(db, key.id, first + timedelta(seconds=30))
    db.refresh(key)
    assert key.last_used_at == first
    repository.touch_api_key(db, key.id, first + timedelta(seconds=61))
    db.refresh(key)
    assert key.last_used_at == first + timedelta(seconds=61)
