"""A bounded schema fuzz of every OpenAPI operation (schemathesis): whatever is sent, valid or
not, with an API key or a signed-in session, the answer is never a 5xx. Derandomized (the same
cases every run) and a few examples per operation, so it stays well under a minute."""

import json

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from app.core.security import CSRF_COOKIE, CSRF_HEADER
from tests.factories import PASSWORD

EXAMPLES_PER_OPERATION = 5
FUZZ = settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value) -> bytes:
    """Gate outputs are uploaded as JSON lines: one line per generated item (or the value alone)."""
    return "".join(json.dumps(item) + "\n" for item in (value if isinstance(value, list) else [value])).encode()


def server_errors(app, project, credentials: dict) -> dict[str, str]:
    """Each operation that answered a 5xx, with the first case that did."""
    schema = schemathesis.openapi.from_dict(app.openapi())  # /openapi.json itself needs a sign-in
    schema.app = app  # called in-process through ASGI
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    found = {f"{op.method.upper()} {op.path}": fuzz_operation(op, project, credentials) for op in operations}
    return {name: error for name, error in found.items() if error}


def fuzz_operation(operation, project, credentials: dict) -> str | None:
    first_error: list[str] = []

    @FUZZ
    @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE)))
    def fuzz(case):
        if operation.path.startswith("/api/v1/") and "project_id" not in (case.query or {}):
            case.query = {**(case.query or {}), "project_id": project.id}  # an existing project
        try:
            response = case.call(headers={**(case.headers or {}), **credentials["headers"]},
                                 cookies=credentials.get("cookies"))
            status, text = response.status_code, response.text[:200]
        except Exception as error:  # the in-process client raises what the server did not handle
            status, text = 500, repr(error)[:200]
        if status >= 500 and not first_error:
            first_error.append(f"{status} for {case.formatted_path} {case.query} {str(case.body)[:300]}: {text}")

    fuzz()
    return first_error[0] if first_error else None


def test_no_operation_answers_a_server_error_to_an_api_key(app, factory, project):
    credentials = {"headers": {"Authorization": f"Bearer {factory.api_key(project)}"}}
    assert server_errors(app, project, credentials) == {}


def test_no_operation_answers_a_server_error_to_a_session(app, client, factory, project):
    client.login(factory.user("admin").email, PASSWORD)
    credentials = {"headers": {CSRF_HEADER: client.cookies[CSRF_COOKIE]}, "cookies": dict(client.cookies)}
    assert server_errors(app, project, credentials) == {}
