"""Build rows for tests through the real services (no shortcuts past the rules)."""

import itertools

from sqlalchemy.orm import Session

from app.accounts import service
from app.accounts.models import Organization, Project, Role, User

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


class Factory:
    def __init__(self, session: Session):
        self.session = session
        self._organization: Organization | None = None

    @property
    def organization(self) -> Organization:
        if self._organization is None:
            self._organization = Organization(name=f"Org {next(_counter)}")
            self.session.add(self._organization)
            self.session.flush()
        return self._organization

    def other_organization(self) -> Organization:
        organization = Organization(name=f"Other org {next(_counter)}")
        self.session.add(organization)
        self.session.flush()
        return organization

    def user(self, role: Role | str = Role.admin, organization: Organization | None = None,
             email: str | None = None) -> User:
        email = email or f"user{next(_counter)}@example.com"
        return service.create_user(self.session, email=email, password=PASSWORD, role=role,
                                   organization=organization or self.organization)

    def project(self, name: str | None = None, organization: Organization | None = None) -> Project:
        organization = organization or self.organization
        return service.create_project(self.session, organization_id=organization.id,
                                      name=name or f"Project {next(_counter)}", actor="test")

    def api_key(self, project: Project) -> str:
        _, plain = service.create_api_key(self.session, project, actor="test")
        return plain

    def traces(self, project: Project, count: int = 1, **fields) -> list:
        """Ingest `count` simple traces (input/output pairs) through the real ingestion code."""
        from datetime import datetime, timedelta, timezone

        from app.traces import service as traces_service
        from app.traces.models import Trace
        from app.traces.schemas import TraceCreate

        start = fields.pop("start_time", datetime(2026, 1, 1, tzinfo=timezone.utc))
        batch = [TraceCreate(id=f"t{next(_counter)}", input=f"question {i}", output=f"answer {i}",
                             start_time=start + timedelta(minutes=i),
                             end_time=start + timedelta(minutes=i, seconds=2), **fields)
                 for i in range(count)]
        spans, keys = traces_service.records_from_rest(batch)
        outcome = traces_service.ingest(self.session, project.id, spans, keys)
        return list(self.session.query(Trace).filter(Trace.id.in_(outcome.trace_ids)).order_by(Trace.id))
