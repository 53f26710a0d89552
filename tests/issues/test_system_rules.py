"""The system's own moves with a controlled clock: aging out of "new", escalation and
recovery, regressions from human and evaluator occurrences; and the jobs they ask for."""

from datetime import datetime, timedelta, timezone


from app.core.jobs import pending_jobs
from app.issues import alerts, flows, repository, service
from tests.issues.helpers import evaluator, label, put_in_state, results, traces_at

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=timezone.utc)  # a Tuesday



def system_events(db, issue):
    return [(e.from_state, e.to_state, e.reason) for e in repository.events_of(db, issue.id)
            if e.kind == "transition" and e.actor == "system"]


def daily_baseline(db, project, version, days=21):
    """One evaluator-detected occurrence a day at 10:00 for `days` days before NOW's window."""
    times = [NOW.replace(hour=10, minute=0) - timedelta(days=d) for d in range(2, days + 2)]
    found = traces_at(db, project, times)
    results(db, version, found)
    return found


def spike(db, project, version, n, end):
    found = traces_at(db, project, [end - timedelta(hours=1, minutes=5 * i) for i in range(n)])
    results(db, version, found)
    return found


def test_a_new_issue_ages_into_ongoing_after_the_new_window(db, project):
    issue = service.create_issue(db, project.id, "Wrong language", actor="test")
    issue.first_seen = NOW - timedelta(days=6, hours=23)
    assert flows.apply_system_rules(db, project.id, now=NOW) == []
    assert issue.state == "new"
    issue.first_seen = NOW - timedelta(days=7, minutes=1)
    assert flows.apply_system_rules(db, project.id, now=NOW) == [(issue.id, "new", "ongoing")]
    assert system_events(db, issue) == [("new", "ongoing", "first seen 7 days ago; the new window is 7 days")]


def test_no_escalation_at_the_baseline_rate(db, project):
    issue = put_in_state(db, service.create_issue(db, project.id, "Invents refunds", actor="test"), "ongoing")
    _, version = evaluator(db, project, issue)
    found = daily_baseline(db, project, version)
    found += traces_at(db, project, [NOW - timedelta(hours=3)])  # one today, as usual
    results(db, version, found[-1:])
    flows.evaluator_occurrences(db, project.id, [(issue.id, t.start_time) for t in found])
    assert flows.apply_system_rules(db, project.id, now=NOW) == []
    assert issue.state == "ongoing"


def test_a_spike_escalates_and_the_issue_calms_down_when_it_passes(db, project):
    issue = put_in_state(db, service.create_issue(db, project.id, "Invents refunds", actor="test"), "ongoing")
    _, version = evaluator(db, project, issue)
    found = daily_baseline(db, project, version) + spike(db, project, version, 12, NOW)
    flows.evaluator_occurrences(db, project.id, [(issue.id, t.start_time) for t in found])

    assert flows.apply_system_rules(db, project.id, now=NOW) == [(issue.id, "ongoing", "escalating")]
    [(_, _, reason)] = system_events(db, issue)
    assert reason.startswith("occurrence rate: 12 in the last 24 h") and reason.endswith("escalating")
    # Running again changes nothing (idempotent).
    assert flows.apply_system_rules(db, project.id, now=NOW + timedelta(minutes=5)) == []

    later = NOW + timedelta(days=3)  # the spike is in the baseline now; the window is quiet
    assert flows.apply_system_rules(db, project.id, now=later) == [(issue.id, "escalating", "ongoing")]
    assert system_events(db, issue)[-1][2].startswith("occurrence rate: 0 in the last 24 h")


def test_human_and_evaluator_occurrences_of_one_trace_count_once(db, project):
    issue = put_in_state(db, service.create_issue(db, project.id, "Invents refunds", actor="test"), "ongoing")
    _, version = evaluator(db, project, issue)
    daily_baseline(db, project, version)
    burst = traces_at(db, project, [NOW - timedelta(hours=2, minutes=i) for i in range(5)])
    results(db, version, burst)
    for trace in burst:  # people confirm the same five traces: five, not ten, which is not significant
        label(db, project, trace, "fail", "made-up refund", [issue.id])
    assert flows.apply_system_rules(db, project.id, now=NOW) == []
    for trace in traces_at(db, project, [NOW - timedelta(hours=1, minutes=i) for i in range(4)]):
        label(db, project, trace, "fail", "made-up refund", [issue.id])  # four more, human only
    assert flows.apply_system_rules(db, project.id, now=NOW) == [(issue.id, "ongoing", "escalating")]
    assert system_events(db, issue)[-1][2].startswith("occurrence rate: 9 in the last 24 h")


def test_a_new_issue_can_escalate_and_resolved_or_ignored_ones_never_do(db, project):
    fresh = service.create_issue(db, project.id, "Invents refunds", actor="test")
    resolved = put_in_state(db, service.create_issue(db, project.id, "Wrong language", actor="test"), "resolved",
                            resolved_at=NOW + timedelta(days=1))
    ignored = put_in_state(db, service.create_issue(db, project.id, "Too long", actor="test"), "ignored")
    for issue in (fresh, resolved, ignored):
        _, version = evaluator(db, project, issue, name=f"detector {issue.id}")
        found = daily_baseline(db, project, version) + spike(db, project, version, 12, NOW)
        flows.evaluator_occurrences(db, project.id, [(issue.id, t.start_time) for t in found])
    fresh.first_seen = NOW - timedelta(days=3)  # still inside the new window
    moves = flows.apply_system_rules(db, project.id, now=NOW)
    assert moves == [(fresh.id, "new", "escalating")]
    assert (resolved.state, ignored.state) == ("resolved", "ignored")


def test_inactive_evaluators_and_old_versions_do_not_count(db, project):
    issue = put_in_state(db, service.create_issue(db, project.id, "Invents refunds", actor="test"), "ongoing")
    found_evaluator, version = evaluator(db, project, issue)
    found = daily_baseline(db, project, version) + spike(db, project, version, 12, NOW)
    found_evaluator.active = False
    db.flush()
    flows.evaluator_occurrences(db, project.id, [(issue.id, t.start_time) for t in found])
    assert flows.apply_system_rules(db, project.id, now=NOW) == []


def test_an_evaluator_occurrence_after_the_resolution_regresses_the_issue(db, project):
    issue = put_in_state(db, service.create_issue(db, project.id, "Invents refunds", actor="test"), "resolved",
                         resolved_at=NOW)
    flows.evaluator_occurrences(db, project.id, [(issue.id, NOW - timedelta(hours=1))])
    assert issue.state == "resolved"  # it happened before the fix
    assert issue.last_seen == NOW - timedelta(hours=1)
    flows.evaluator_occurrences(db, project.id, [(issue.id, NOW + timedelta(minutes=1)),
                                                 (issue.id, NOW - timedelta(days=2))])
    assert issue.state == "regressed"
    assert issue.first_seen == NOW - timedelta(days=2) and issue.last_seen == NOW + timedelta(minutes=1)
    assert system_events(db, issue) == [("resolved", "regressed", "new occurrence after resolution (evaluator)")]


def test_a_human_occurrence_after_the_resolution_regresses_the_issue(db, project):
    issue = put_in_state(db, service.create_issue(db, project.id, "Invents refunds", actor="test"), "resolved",
                         resolved_at=NOW)
    [trace] = traces_at(db, project, [NOW + timedelta(hours=1)])
    label(db, project, trace, "fail", "promised a 90-day refund", [issue.id])
    assert issue.state == "regressed"
    assert system_events(db, issue) == [("resolved", "regressed",
                                         "new occurrence after resolution (human annotation)")]


def test_alerting_events_and_new_occurrences_ask_for_jobs(db, project):
    issue = service.create_issue(db, project.id, "Invents refunds", actor="test")
    [created] = repository.events_of(db, issue.id)
    assert ("issues.notify", (created.id,), None, None) in pending_jobs(db)
    service.transition(db, issue, "ongoing", actor="user:1", actor_kind="user")
    assert sum(job[0] == "issues.notify" for job in pending_jobs(db)) == 1  # ongoing raises no alert
    service.transition(db, issue, "resolved", actor="user:1", actor_kind="user", reason="fixed in 2.4")
    resolved_event = repository.events_of(db, issue.id)[-1]
    assert ("issues.notify", (resolved_event.id,), None, None) in pending_jobs(db)
    [trace] = traces_at(db, project, [datetime.now(timezone.utc)])
    label(db, project, trace, "fail", "promised a 90-day refund", [issue.id])
    jobs = pending_jobs(db)
    assert ("issues.check_states", (project.id,), None, alerts.CHECK_COALESCE_S) in jobs
    regressed_event = repository.events_of(db, issue.id)[-1]
    assert regressed_event.to_state == "regressed"
    assert ("issues.notify", (regressed_event.id,), None, None) in jobs


def test_a_second_run_for_the_same_project_skips(db, project, monkeypatch):
    from sqlalchemy.orm import Session

    from app.core.db import get_engine

    assert repository.try_project_lock(db, "issues.check_states", project.id)
    with Session(get_engine()) as other:  # another worker, on another connection
        assert not repository.try_project_lock(other, "issues.check_states", project.id)
        assert repository.try_project_lock(other, "issues.check_states", project.id + 1)
        other.rollback()
    issue = service.create_issue(db, project.id, "Wrong language", actor="test")
    issue.first_seen = NOW - timedelta(days=8)
    monkeypatch.setattr(repository, "try_project_lock", lambda *args: False)
    assert flows.apply_system_rules(db, project.id, now=NOW) == []
    assert issue.state == "new"
