"""A project with two issues and two active rule evaluators, one fit for gating and one not,
and the outputs that make a baseline or candidate with chosen failure rates."""

from sqlalchemy.orm import Session

from app.evals.models import Evaluator, EvaluatorVersion
from app.issues.models import Issue

REFUND = "You can get a refund within {i} days, guaranteed."
SORRY = "I am so sorry, truly sorry, about case {i}."
FINE = "Refunds follow the policy on our website, case {i}."


def _rule(pattern: str) -> dict:
    return {"format": "sextant.evaluator", "version": 1, "family": "rule", "combine": "any",
            "clauses": [{"field": "output", "kind": "regex", "pattern": pattern}]}


def add_evaluator(session: Session, project_id: int, title: str, pattern: str, *, mcc: float,
                  ci: tuple[float, float], tpr: float, tnr: float, confusion: dict) -> tuple[Issue, Evaluator]:
    issue = Issue(project_id=project_id, title=title, state="ongoing")
    session.add(issue)
    session.flush()
    evaluator = Evaluator(project_id=project_id, issue_id=issue.id, name=f"Detects: {title}", origin="manual",
                          active=True)
    session.add(evaluator)
    session.flush()
    version = EvaluatorVersion(evaluator_id=evaluator.id, number=1, status="ready", family="rule",
                               spec=_rule(pattern), mcc=mcc, mcc_ci_low=ci[0], mcc_ci_high=ci[1], tpr=tpr,
                               tnr=tnr, metrics={"confusion": confusion, "n": sum(confusion.values())},
                               holdout_size=sum(confusion.values()))
    session.add(version)
    session.flush()
    evaluator.active_version_id = version.id
    session.flush()
    return issue, evaluator


def add_gating_pair(session: Session, project_id: int) -> dict:
    """'Invented refund window': fit (MCC CI from 0.65). 'Over-apologising': CI from 0.20, left out."""
    refund, fit = add_evaluator(session, project_id, "Invented refund window", r"refund within \d+ days",
                                mcc=0.8, ci=(0.65, 0.9), tpr=0.9, tnr=0.95,
                                confusion={"tp": 90, "fn": 10, "tn": 190, "fp": 10})
    sorry, unfit = add_evaluator(session, project_id, "Over-apologising", r"sorry",
                                 mcc=0.5, ci=(0.2, 0.7), tpr=0.8, tnr=0.8,
                                 confusion={"tp": 40, "fn": 10, "tn": 40, "fp": 10})
    return {"refund_issue": refund.id, "sorry_issue": sorry.id, "fit": fit.id, "unfit": unfit.id}


def outputs(prefix: str, n: int, refund_share: float, sorry_share: float) -> list[dict]:
    """n outputs: the first refund_share promise a refund window, the next sorry_share apologise."""
    refunds, sorries = round(n * refund_share), round(n * sorry_share)
    rows = []
    for i in range(n):
        template = REFUND if i < refunds else SORRY if i < refunds + sorries else FINE
        rows.append({"id": f"{prefix}-{i}", "input": f"Can I get my money back? #{i}",
                     "output": template.format(i=i)})
    return rows
