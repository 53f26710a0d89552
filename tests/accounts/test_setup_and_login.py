from app.accounts import repository
from app.core.security import CSRF_HEADER
from tests.factories import PASSWORD


def test_first_run_redirects_to_setup_which_creates_the_admin_and_then_closes(client, db):
    assert client.get("/").headers["location"] == "/setup"
    assert client.get("/login").headers["location"] == "/setup"
    assert client.get("/setup").status_code == 200

    response = client.form("/setup", {"organization": "Acme", "email": "Ada@Example.com",
                                      "password": "long enough pw", "name": "Ada"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/settings/projects"
    user = repository.get_user_by_email(db, "ada@example.com")
    assert user is not None and user.password_hash.startswith("$argon2")
    assert repository.memberships_of(db, user.id)[0].role == "admin"

    assert client.get("/setup").status_code == 404
    assert client.form("/setup", {"organization": "X", "email": "b@example.com",
                                  "password": "long enough pw"}).status_code == 404
    # The setup signed the admin in.
    assert client.get("/settings/projects").status_code == 200


def test_setup_form_shows_validation_errors_in_place(client, db):
    response = client.form("/setup", {"organization": "Acme", "email": "not-an-email", "password": "long enough pw"})
    assert response.status_code == 422
    assert "valid e-mail" in response.text
    assert 'name="organization" value="Acme"' in response.text
    assert repository.count_users(db) == 0


def test_login_success_sets_a_signed_http_only_lax_session_cookie(client, factory):
    user = factory.user("annotator")
    response = client.form("/login", {"email": user.email.upper(), "password": PASSWORD, "next": "/settings/projects"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/settings/projects"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("sextant_session="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert client.get("/api/v1/me").json()["email"] == user.email


def test_login_refuses_open_redirects(client, factory):
    user = factory.user()
    response = client.form("/login", {"email": user.email, "password": PASSWORD, "next": "//evil.example/x"})
    assert response.headers["HX-Redirect"] == "/"


def test_wrong_password_is_reported_in_the_form(client, factory):
    user = factory.user()
    response = client.form("/login", {"email": user.email, "password": "wrong password"})
    assert response.status_code == 400
    assert "Wrong e-mail or password" in response.text
    assert client.get("/api/v1/me").status_code == 401


def test_repeated_failures_are_throttled_with_429_and_retry_after(client, factory, redis_client):
    user = factory.user()
    for _ in range(5):
        assert client.form("/login", {"email": user.email, "password": "nope nope"}).status_code == 400
    throttled = client.form("/login", {"email": user.email, "password": PASSWORD})
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in throttled.text


def test_logout_ends_the_session(client, factory):
    user = factory.user()
    client.login(user.email, PASSWORD)
    response = client.form("/logout")
    assert response.headers["HX-Redirect"] == "/login"
    assert client.get("/api/v1/me").status_code == 401


def test_unsafe_browser_requests_without_csrf_token_are_refused(client, factory):
    user = factory.user()
    client.login(user.email, PASSWORD)
    response = client.post("/settings/projects", data={"name": "P"})
    assert response.status_code == 403
    assert "CSRF" in response.text
    bad = client.post("/settings/projects", data={"name": "P"}, headers={CSRF_HEADER: "forged"})
    assert bad.status_code == 403
    api = client.post("/api/v1/projects", json={"name": "P"})
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "csrf_failed"


def test_login_form_itself_needs_the_csrf_token(client, factory):
    user = factory.user()
    client.csrf_token()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 403


def test_password_forms_post_even_before_scripts_load(client, factory):
    """Without htmx bound (slow or blocked scripts) a submit must not put the password in a URL."""
    def posts_natively(path, action):
        page = client.get(path)
        assert page.status_code == 200, path
        forms = [tag.split(">", 1)[0] for tag in page.text.split("<form")[1:]]
        return any(f'method="post" action="{action}"' in tag for tag in forms)

    assert posts_natively("/setup", "/setup")
    factory.user("admin")
    assert posts_natively("/login", "/login")
    client.login(factory.user("admin").email, PASSWORD)
    assert posts_natively("/settings/members", "/settings/members")
    assert posts_natively("/account", "/account/password")
