"""The one human-label rule in SQL: views `trace_label` and `trace_label_issue`.

The same rule as `app.annotations.agreement.human_label` (which issues, evaluator training
and examples.jsonl use): an adjudication decides; otherwise the strict majority of the
annotators' verdicts (each annotator has one annotation per trace); a tie is no label. A
fail label's failure modes are the adjudication's, else every issue named by more than half
of the annotators who said fail. Filters (explorer, queues, backfills) read these views, so
a disputed trace is never both "failed" and "passed", and an adjudicated pass is not "failed".

Revision ID: b7c1f0e2a9d4
Revises: 8c1f2e7a9b10
Create Date: 2026-12-05 18:20:00+00:00
"""

from alembic import op

revision = 'b7c1f0e2a9d4'
down_revision = '8c1f2e7a9b10'
branch_labels = None
depends_on = None

TRACE_LABEL = """
CREATE VIEW trace_label AS
SELECT v.trace_id, v.project_id,
       coalesce(d.verdict, CASE WHEN v.n_fail > v.n_pass THEN 'fail'
                                WHEN v.n_pass > v.n_fail THEN 'pass' END) AS verdict,
       d.trace_id IS NOT NULL AS adjudicated, v.n_fail, v.n_pass
FROM (SELECT trace_id, project_id,
             count(*) FILTER (WHERE verdict = 'fail') AS n_fail,
             count(*) FILTER (WHERE verdict = 'pass') AS n_pass
      FROM annotation GROUP BY trace_id, project_id) v
LEFT JOIN adjudication d ON d.trace_id = v.trace_id
UNION ALL
SELECT d.trace_id, d.project_id, d.verdict, true, 0, 0
FROM adjudication d
WHERE NOT EXISTS (SELECT 1 FROM annotation a WHERE a.trace_id = d.trace_id)
"""

TRACE_LABEL_ISSUE = """
CREATE VIEW trace_label_issue AS
SELECT d.trace_id, d.project_id, CAST(x.issue_id AS bigint) AS issue_id
FROM adjudication d CROSS JOIN LATERAL jsonb_array_elements_text(d.issue_ids) AS x(issue_id)
WHERE d.verdict = 'fail'
UNION ALL
SELECT a.trace_id, a.project_id, ai.issue_id
FROM annotation a
JOIN annotation_issue ai ON ai.annotation_id = a.id
JOIN trace_label l ON l.trace_id = a.trace_id AND l.verdict = 'fail' AND NOT l.adjudicated
WHERE a.verdict = 'fail'
GROUP BY a.trace_id, a.project_id, ai.issue_id, l.n_fail
HAVING 2 * count(*) > l.n_fail
"""


def upgrade() -> None:
    op.execute(TRACE_LABEL)
    op.execute(TRACE_LABEL_ISSUE)


def downgrade() -> None:
    op.execute("DROP VIEW trace_label_issue")
    op.execute("DROP VIEW trace_label")
