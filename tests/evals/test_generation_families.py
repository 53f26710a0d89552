"""Each candidate family mines something sensible, explains itself, and survives a JSON round trip."""

import json

import numpy as np
import pytest

from app.evals.generation import Confusion, SpecError, compile_spec, mcc, score_spec
from app.evals.generation.classifier import fit_classifier
from app.evals.generation.classifier import predict_rows as classifier_rows
from app.evals.generation.examples import as_examples
from app.evals.generation.rules import fit_rule
from app.evals.generation.rules import predict_rows as rule_rows
from app.evals.generation.structure import fit_structure
from app.evals.generation.workspace import Workspace
from tests.evals.synthetic import synthetic_traces

FILLER = "your booking is confirmed and the seat was assigned we can help with baggage today".split()


def _phrase_data(n=60, phrase="refund within {n} days"):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        fail = i % 2 == 0
        text = " ".join(rng.choice(FILLER, size=15))
        if fail:
            text += " " + phrase.format(n=int(rng.integers(3, 30)))
        out.append({"id": str(i), "input": "question", "output": text, "label": "fail" if fail else "pass"})
    return as_examples(out)


def _round_trip(spec):
    return json.loads(json.dumps(spec))


def _same_predictions(spec, examples):
    before = compile_spec(spec).predict(examples)
    after = compile_spec(_round_trip(spec)).predict(examples)
    assert np.array_equal(before[0], after[0])
    assert np.allclose(before[1], after[1])
    return before


def test_rule_mines_the_planted_phrase_and_generalises_numbers():
    examples = _phrase_data()
    ws = Workspace(examples)
    spec = fit_rule(ws, np.arange(len(ws)), field="output", max_clauses=2)
    patterns = [c["pattern"] for c in spec["clauses"]]
    assert any(p in ("refund", "within", "days", "refund within", "within 0 days", "refund within 0") for p in patterns)
    fail, _ = _same_predictions(spec, examples)
    assert np.array_equal(fail, [e.is_fail for e in examples])
    # An amount never seen in training is still matched: the number became \d+.
    new = as_examples([{"id": "x", "output": "we offer a refund within 999 days", "label": "fail"}])
    assert compile_spec(spec).predict(new)[0][0]


def test_among_equally_telling_phrases_a_rule_prefers_words_over_function_words():
    # "a" separates these labels exactly as well as "guaranteed" does; only one of them means anything.
    examples = as_examples(
        [{"id": f"f{i}", "output": f"You get a refund in {i} days, guaranteed.", "label": "fail"} for i in range(12)]
        + [{"id": f"p{i}", "output": f"Refunds follow our policy, case {i}.", "label": "pass"} for i in range(12)])
    ws = Workspace(examples)
    spec = fit_rule(ws, np.arange(len(ws)), field="output", max_clauses=1)
    [clause] = spec["clauses"]
    assert clause["pattern"] in ("refund", "guaranteed", "get", "days") and not clause["negate"]


def test_rule_explains_matches_and_absences():
    spec = {"family": "rule", "combine": "any",
            "clauses": [{"field": "output", "kind": "phrase", "pattern": "refund within 0 days"}]}
    verdicts = compile_spec(spec).evaluate([
        {"id": "a", "output": "You get a Refund within 30 days."},
        {"id": "b", "output": "Nothing to see."},
    ])
    assert verdicts[0].verdict == "fail" and "refund within 30 days" in verdicts[0].explanation.lower()
    assert "in output" in verdicts[0].explanation
    assert verdicts[1].verdict == "pass" and "lacks" in verdicts[1].explanation


def test_lacks_clause_fails_when_the_phrase_is_missing():
    spec = {"family": "rule", "combine": "any",
            "clauses": [{"field": "output", "kind": "phrase", "pattern": "please confirm", "negate": True}]}
    fail, _ = compile_spec(spec).predict(as_examples([{"id": "a", "output": "Please confirm."}, {"id": "b", "output": "Done."}]))
    assert fail.tolist() == [False, True]


def test_hand_written_regex_is_scored_like_a_generated_spec():
    examples = _phrase_data()
    spec = {"family": "rule", "combine": "any",
            "clauses": [{"field": "output", "kind": "regex", "pattern": r"refund within \d+ days"}]}
    metrics = score_spec(spec, examples)
    assert metrics["mcc"] == pytest.approx(1.0)
    assert metrics["n"] == len(examples)


def test_dangerous_user_regexes_are_refused_or_bounded():
    with pytest.raises(SpecError):
        compile_spec({"family": "rule", "clauses": [{"field": "output", "kind": "regex", "pattern": "a" * 600}]})
    with pytest.raises(SpecError):
        compile_spec({"family": "rule", "clauses": [{"field": "output", "kind": "regex", "pattern": "(unclosed"}]})
    # Catastrophic backtracking on hostile text must not stall the batch.
    spec = {"family": "rule", "clauses": [{"field": "output", "kind": "regex", "pattern": r"^(a+)+$"}]}
    try:
        evaluator = compile_spec(spec)
    except SpecError:
        return  # refused outright where the timeout-capable module is absent
    import time

    started = time.monotonic()
    evaluator.predict(as_examples([{"id": "x", "output": "a" * 40 + "b"}]))
    assert time.monotonic() - started < 2.0


def test_unknown_family_and_field_are_spec_errors():
    with pytest.raises(SpecError):
        compile_spec({"family": "magic"})
    with pytest.raises(SpecError):
        compile_spec({"family": "rule", "clauses": [{"field": "nowhere", "pattern": "x"}]})
    with pytest.raises(SpecError):
        compile_spec({"family": "structure", "conditions": [{"feature": "nope", "op": ">=", "value": 1}]})


def test_structure_finds_error_spans_and_tool_calls():
    examples = as_examples(synthetic_traces(160, seed=2, label_noise=0.0))
    ws = Workspace(examples)
    spec = fit_structure(ws, np.arange(len(ws)), max_conditions=2)
    features = {c["feature"] for c in spec["conditions"]}
    assert features & {"n_span_errors", "tool_calls:issue_refund", "tool_calls:lookup_booking", "n_tool_errors"} or any(
        f.startswith("tool_arg:") for f in features
    )
    fail, _ = _same_predictions(spec, examples)
    # Structure alone cannot see the phrase failures, but what it flags is right.
    actual = np.array([e.is_fail for e in examples])
    assert fail.sum() > 0 and actual[fail].mean() > 0.9
    verdict = compile_spec(spec).evaluate(examples[:1])[0]
    assert any(c["feature"] in verdict.explanation for c in spec["conditions"])


def test_structure_infers_a_json_schema_from_passing_outputs():
    rows = []
    for i in range(20):
        rows.append({"id": f"p{i}", "output": json.dumps({"answer": "on time" * (i % 5), "id": i}), "label": "pass"})
        bad = json.dumps({"id": i, "note": "late" * (i % 7)}) if i % 2 else "not json at all" + "!" * (i % 9)
        rows.append({"id": f"f{i}", "output": bad, "label": "fail"})
    examples = as_examples(rows)
    ws = Workspace(examples)
    spec = fit_structure(ws, np.arange(len(ws)), max_conditions=1)
    assert spec["context"]["schema_keys"] == ["answer", "id"]
    assert spec["conditions"][0]["feature"] == "json_schema_mismatch"
    fail, _ = _same_predictions(spec, examples)
    assert np.array_equal(fail, [e.is_fail for e in examples])


def test_classifier_learns_and_round_trips_with_identical_scores():
    examples = as_examples(synthetic_traces(200, seed=4))
    ws = Workspace(examples)
    train, test = np.arange(140), np.arange(140, 200)
    spec = fit_classifier(ws, train, view="full", C=1.0, with_structure=True, seed=0)
    assert json.dumps(spec)  # plain JSON
    assert set(spec) >= {"vocabulary", "idf", "coef", "intercept", "threshold"}
    cached_fail, cached_scores = classifier_rows(spec, ws, test)
    fail, scores = _same_predictions(spec, [examples[i] for i in test])
    assert np.allclose(cached_scores, scores)  # the search's fast path = the compiled evaluator
    actual = np.array([examples[i].is_fail for i in test])
    value, _ = mcc(Confusion.of(actual, fail))
    assert value > 0.4  # chance is 0
    verdict = compile_spec(spec).evaluate([examples[140]])[0]
    assert "threshold" in verdict.explanation and "strongest sign" in verdict.explanation


def test_rule_fast_path_matches_compiled_rule():
    examples = _phrase_data()
    ws = Workspace(examples)
    spec = fit_rule(ws, np.arange(40), field="output", max_clauses=3)
    rows = np.arange(40, 60)
    assert np.array_equal(rule_rows(spec, ws, rows)[0], compile_spec(spec).predict([examples[i] for i in rows])[0])


def test_combined_spec_explains_with_its_parts():
    spec = {"family": "combine", "op": "any", "parts": [
        {"family": "rule", "clauses": [{"field": "output", "pattern": "refund"}]},
        {"family": "structure", "conditions": [{"feature": "output_empty", "op": ">=", "value": 1}]},
    ]}
    verdicts = compile_spec(_round_trip(spec)).evaluate([
        {"id": "a", "output": "a refund"}, {"id": "b", "output": ""}, {"id": "c", "output": "fine"}])
    assert [v.verdict for v in verdicts] == ["fail", "fail", "pass"]
    assert "refund" in verdicts[0].explanation and "output_empty" in verdicts[1].explanation


def test_missing_fields_are_tolerated():
    spec = {"family": "rule", "clauses": [{"field": "tool_calls", "pattern": "cancel"}]}
    verdicts = compile_spec(spec).evaluate([{"id": "only-id"}])
    assert verdicts[0].verdict == "pass"


def test_language_detector_tells_common_languages_apart():
    from app.evals.generation.facts import detect_language

    assert detect_language("the flight is late and you are not on the list".split()) == "en"
    assert detect_language("el vuelo de la tarde no sale para los pasajeros".split()) == "es"
    assert detect_language("der flug ist nicht auf der liste und die zeit".split()) == "de"
    assert detect_language(["xyz"]) == "unknown"


@pytest.mark.parametrize("text, refuses", [
    ("I'm sorry, I can't share that.", True),
    ("Sorry! As an AI, I have no opinion.", True),
    ("Well, i am unable to help with bookings.", True),
    ("xi am unable to help", True),  # "unable to help" starts a word even where "i am" does not
    ("taxi am sorry", False),
    ("as an aid to memory", False),
    ("_i cannot", False),
    ("Your refund is on its way.", False),
    ("", False),
])
def test_refusals_are_found_at_word_starts_in_any_case(text, refuses):
    from app.evals.generation.facts import is_refusal

    assert is_refusal(text) is refuses


def test_specs_describe_themselves_in_one_line():
    from app.evals.generation import describe_spec

    rule = {"family": "rule", "combine": "any", "clauses": [
        {"field": "output", "pattern": "refund within 0 days"},
        {"field": "conversation", "pattern": "transfer", "negate": True}]}
    assert describe_spec(rule) == "fail if output contains 'refund within 0 days' or conversation lacks 'transfer'"
    both = {"family": "combine", "op": "all", "parts": [
        rule, {"family": "structure", "conditions": [{"feature": "n_span_errors", "op": ">=", "value": 1}]}]}
    assert describe_spec(both).endswith("AND (fail if n_span_errors >= 1)")


def test_majority_vote_fails_when_most_parts_do():
    def rule(word):
        return {"family": "rule", "clauses": [{"field": "output", "pattern": word}]}

    spec = {"family": "combine", "op": "majority", "parts": [rule("late"), rule("rude"), rule("wrong")]}
    verdicts = compile_spec(spec).evaluate([
        {"id": "a", "output": "late and rude"}, {"id": "b", "output": "late only"}, {"id": "c", "output": "fine"}])
    assert [v.verdict for v in verdicts] == ["fail", "pass", "pass"]
    assert verdicts[0].explanation.startswith("2 of 3 parts agree")
