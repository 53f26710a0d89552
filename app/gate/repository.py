"""All SQL of the gate domain."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, defer

from app.evals.models import EvalResult
from app.gate.models import GateOutput, GateRun, GateSetting
from app.traces.models import Trace


def get_run(session: Session, run_id: int, *, for_update: bool | dict = False) -> GateRun | None:
    return session.get(GateRun, run_id, with_for_update=for_update or None)


def runs_of(session: Session, project_id: int, release: str | None = None, limit: int = 100) -> list[GateRun]:
    """Newest first, without their reports (a list shows verdicts only)."""
    query = select(GateRun).options(defer(GateRun.report)).where(GateRun.project_id == project_id)
    if release:
        query = query.where(GateRun.release == release)
    return list(session.scalars(query.order_by(GateRun.created_at.desc(), GateRun.id.desc()).limit(limit)))


def get_setting(session: Session, project_id: int) -> GateSetting | None:
    return session.get(GateSetting, project_id)


def add_outputs(session: Session, run_id: int, first_seq: int, rows: Sequence[dict]) -> None:
    if rows:
        session.execute(insert(GateOutput), [{"gate_run_id": run_id, "seq": first_seq + i, "data": row}
                                             for i, row in enumerate(rows)])


def outputs_after(session: Session, run_id: int, seq: int, limit: int) -> list[tuple[int, dict]]:
    rows = session.execute(select(GateOutput.seq, GateOutput.data)
                           .where(GateOutput.gate_run_id == run_id, GateOutput.seq > seq)
                           .order_by(GateOutput.seq).limit(limit))
    return [(s, data) for s, data in rows]


def drop_outputs(session: Session, run_id: int) -> None:
    """Uploaded outputs are only needed until they are evaluated; the report keeps the counts."""
    session.execute(delete(GateOutput).where(GateOutput.gate_run_id == run_id))


def verdict_counts(session: Session, version_ids: Sequence[int], project_id: int, *, release: str | None = None,
                   environment: str | None = None, since: datetime | None = None,
                   exclude_release: str | None = None) -> dict[int, tuple[int, int]]:
    """(fails, evaluated) per version among stored verdicts on the baseline's traces."""
    if not version_ids:
        return {}
    query = (select(EvalResult.evaluator_version_id, func.count().filter(EvalResult.verdict == "fail"),
                    func.count())
             .join(Trace, Trace.id == EvalResult.trace_id)
             .where(EvalResult.evaluator_version_id.in_(list(version_ids)), EvalResult.verdict != "error",
                    Trace.project_id == project_id)
             .group_by(EvalResult.evaluator_version_id))
    if release is not None:
        query = query.where(Trace.release == release)
    if environment is not None:
        query = query.where(Trace.environment == environment)
    if since is not None:
        query = query.where(EvalResult.trace_start >= since)
    if exclude_release is not None:
        query = query.where(func.coalesce(Trace.release, "") != exclude_release)
    counts = {version_id: (0, 0) for version_id in version_ids}
    counts.update({version_id: (fails, total) for version_id, fails, total in session.execute(query)})
    return counts
