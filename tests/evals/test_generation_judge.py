"""LLM judge and its GEPA-style prompt search, against the local stub endpoint (no network)."""

import pytest

from app.evals.generation import Budget, LLMConfig, LLMError, compile_spec, generate
from app.evals.generation.examples import as_examples
from app.evals.generation.judge import judge_spec, optimise_prompt, seed_prompt
from app.evals.generation.llm import BudgetExhausted, LLMClient, MemoryCache
from tests.llm_stub import StubLLM

PROMISES = ["guaranteed refund", "free upgrade", "waive the fee", "lifetime voucher", "double miles", "cash bonus"]
TITLE = "Unauthorised promises"
DESCRIPTION = 'The agent promises compensation it cannot grant, such as a "free upgrade".'


def promise_data(n=72):
    rows = []
    for i in range(n):
        fail = i % 2 == 0
        promise = PROMISES[(i // 2) % len(PROMISES)]
        reply = f"Thanks for waiting, order {i} checked. " + (
            f"I can offer you a {promise} today." if fail else "Your booking is confirmed."
        )
        rows.append({
            "id": str(i), "input": "Can you help me?", "output": reply, "label": "fail" if fail else "pass",
            "feedback": f'The agent promised a "{promise}".' if fail else "", "group": f"g{i // 2}",
        })
    return rows


@pytest.fixture
def stub():
    server = StubLLM().start()
    yield server
    server.stop()


def _client(stub, **budget):
    return LLMClient(LLMConfig(stub.base_url, "test-key", "stub-model", backoff_s=0.01), **budget)


def test_gepa_improves_training_fitness_within_budget(stub):
    examples = as_examples(promise_data())
    client = _client(stub, max_calls=120)
    result = optimise_prompt(
        client, examples[:36], examples[36:], seed_prompt(TITLE, DESCRIPTION, examples[:36]), iterations=8, seed=0
    )
    first, best = result.history[0]["pareto_mcc"], max(
        h.get("pareto_mcc", -1) for h in result.history
    )
    assert best > first + 0.2
    assert any(h["event"] == "accepted" for h in result.history)
    assert stub.calls == client.usage.calls <= 120
    # The improved prompt names failure signs the seed prompt did not.
    assert sum(f'"{p}"' in result.best.prompt for p in PROMISES) > sum(
        f'"{p}"' in result.candidates[0].prompt for p in PROMISES
    )


def test_gepa_stops_at_the_call_budget(stub):
    examples = as_examples(promise_data())
    client = _client(stub, max_calls=100)
    result = optimise_prompt(
        client, examples[:36], examples[36:], seed_prompt(TITLE, "", examples[:36]), iterations=50, seed=1
    )
    assert result.stopped in ("call budget reached", "token budget reached")
    assert stub.calls <= 100


def test_judge_answers_are_cached(stub):
    client = _client(stub)
    spec = judge_spec('Fail when the reply promises a "free upgrade".', "stub-model")
    traces = [{"id": "a", "output": "Enjoy a free upgrade!"}, {"id": "b", "output": "Booked."}]
    first = compile_spec(spec, llm=client).evaluate(traces)
    calls = stub.calls
    again = compile_spec(spec, llm=client).evaluate(traces)
    assert stub.calls == calls == 2 and client.usage.cache_hits == 2
    assert [v.verdict for v in first] == [v.verdict for v in again] == ["fail", "pass"]
    assert first[0].explanation.startswith("judge:")


def test_a_shared_cache_serves_a_second_client(stub):
    cache = MemoryCache()
    config = LLMConfig(stub.base_url, "test-key", "stub-model", cache=cache)
    messages = [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]
    LLMClient(config).chat(messages)
    LLMClient(config).chat(messages)
    assert stub.calls == 1 and len(cache) == 1


def test_retries_on_429_then_succeeds():
    server = StubLLM(fail_first=2).start()
    try:
        client = _client(server)
        answer = client.chat([{"role": "system", "content": 'sign "x y"'}, {"role": "user", "content": "x y"}])
        assert answer.startswith("FAIL") and server.calls == 3
    finally:
        server.stop()


def test_clear_errors_for_bad_key_and_exhausted_budget(stub):
    bad = LLMClient(LLMConfig(stub.base_url, "wrong", "m"))
    with pytest.raises(LLMError, match="401"):
        bad.chat([{"role": "user", "content": "hi"}])
    client = _client(stub, max_calls=1)
    client.chat([{"role": "user", "content": "one"}])
    with pytest.raises(BudgetExhausted):
        client.chat([{"role": "user", "content": "two"}])


def test_unreachable_endpoint_is_a_clear_error():
    client = LLMClient(LLMConfig("http://127.0.0.1:9", "k", "m", max_retries=1, backoff_s=0.01, timeout_s=1))
    with pytest.raises(LLMError, match="unreachable"):
        client.chat([{"role": "user", "content": "hi"}])


def test_generate_considers_a_judge_and_keeps_to_the_budget(stub):
    result = generate(
        promise_data(96), issue_title=TITLE, issue_description=DESCRIPTION,
        llm=LLMConfig(stub.base_url, "test-key", "stub-model", backoff_s=0.01),
        budget=Budget(n_splits=4, n_repeats=1, generations=1, llm_max_calls=90, judge_iterations=4),
    )
    assert any(note.startswith("LLM judge") for note in result.notes)
    assert stub.calls <= 90
    assert result.metrics["n"] == result.sizes["n_holdout"]


def test_a_judge_spec_runs_with_its_own_model(stub):
    client = _client(stub)
    spec = judge_spec('Fail on "late".', "other-model")
    compile_spec(spec, llm=client).evaluate([{"id": "a", "output": "late again"}])
    assert stub.requests[-1]["model"] == "other-model"
    assert client.usage.calls == 1  # the budget is shared
