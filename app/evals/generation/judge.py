"""LLM judge: a binary judge prompt, improved by a GEPA-style reflective search.

Spec (family "judge"):
    {"model": "...", "prompt": "<instructions for the judge>", "max_output_tokens": 200}
The trace is sent as the user message; the judge answers FAIL or PASS on its
first line, then one sentence why (that sentence is the explanation).

Prompt search (after Agrawal et al. 2025, "GEPA: Reflective prompt evolution"):
the training examples the judge may see are split into a *feedback* set
(minibatches for reflection) and a *Pareto* set (per-example scores). Each
step samples a parent from the candidates that are best on at least one
Pareto example (weighted by how many), runs it on a minibatch, asks the LLM
to rewrite it from the mistakes and the annotators' feedback, and keeps the
child only if it does better on that minibatch; kept children are scored on
the whole Pareto set. The best candidate on the Pareto set is then scored
once on a validation part of the training split the search never used: that
figure is the judge's fitness, comparable to the CV fitness of the other
families. Every call goes through the budgeted, cached client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .examples import Example, as_examples, trace_text
from .llm import BudgetExhausted, LLMClient, client_for
from .metrics import Confusion, mcc
from .spec import SpecError, Verdict, envelope, verdicts
from .splits import SplitError, holdout_split

ANSWER = re.compile(r"\b(FAIL|PASS)\b", re.IGNORECASE)
FENCED = re.compile(r"```(?:[a-z]*\n)?(.*?)```", re.DOTALL)
MAX_TRACE_CHARS = 6000
MINIBATCH = 4
JUDGE_MARGIN = 0.05  # an LLM judge costs far more per trace: it must win clearly


def seed_prompt(title: str, description: str, examples: list[Example]) -> str:
    """The starting prompt: the issue's definition, plus what annotators wrote about a few failures."""
    notes = [e.feedback.strip() for e in examples if e.is_fail and e.feedback.strip()][:2]
    lines = [
        "You review one trace of an LLM application and decide whether it shows a specific failure mode.",
        f"Failure mode: {title or 'unnamed'}",
    ]
    if description:
        lines.append(f"Definition: {description}")
    if notes:
        lines.append("Annotators described failures like this:")
        lines.extend(f"- {note[:300]}" for note in notes)
    lines.append("Judge only this failure mode, not overall quality.")
    return "\n".join(lines)


ANSWER_FORMAT = (
    "Answer with FAIL if the trace shows this failure mode, PASS otherwise, on the first line; "
    "then one short sentence saying why."
)


def judge_messages(prompt: str, example: Example) -> list[dict[str, str]]:
    text = trace_text(example)
    if len(text) > MAX_TRACE_CHARS:
        text = text[: MAX_TRACE_CHARS // 2] + "\n…\n" + text[-MAX_TRACE_CHARS // 2 :]
    return [
        {"role": "system", "content": f"{prompt}\n\n{ANSWER_FORMAT}"},
        {"role": "user", "content": f"Trace:\n{text}"},
    ]


def parse_answer(answer: str) -> tuple[bool | None, str]:
    found = ANSWER.search(answer[:200])
    reason = answer.strip().splitlines()[1:] if "\n" in answer.strip() else [answer.strip()]
    reason_text = " ".join(r.strip() for r in reason if r.strip())[:300]
    if not found:
        return None, reason_text
    return found.group(1).upper() == "FAIL", reason_text


class JudgeEvaluator:
    def __init__(self, spec: dict[str, Any], llm: Any):
        if not str(spec.get("prompt", "")).strip():
            raise SpecError("a judge spec needs a prompt")
        self.spec = spec
        self.prompt = str(spec["prompt"])
        self.max_output_tokens = int(spec.get("max_output_tokens", 200))
        client = client_for(llm)
        # A judge is scored with the model it was written for, whatever the client's default.
        model = str(spec.get("model") or client.model)
        self.llm: LLMClient = client if model == client.model else client.with_model(model)

    def _answers(self, examples: list[Example]) -> list[tuple[bool | None, str]]:
        return [
            parse_answer(self.llm.chat(judge_messages(self.prompt, e), max_tokens=self.max_output_tokens))
            for e in examples
        ]

    def predict(self, examples) -> tuple[np.ndarray, np.ndarray]:
        answers = self._answers(as_examples(examples))
        fail = np.array([bool(a) for a, _ in answers], dtype=bool)
        return fail, np.array([0.5 if a is None else float(a) for a, _ in answers])

    def evaluate(self, traces) -> list[Verdict]:
        answers = self._answers(as_examples(traces))
        fail = np.array([bool(a) for a, _ in answers], dtype=bool)
        scores = np.array([0.5 if a is None else float(a) for a, _ in answers])
        explanations = [
            f"judge: {reason}" if a is not None else f"judge gave no FAIL/PASS answer, counted as pass: {reason}"
            for a, reason in answers
        ]
        return verdicts(fail, scores, explanations)


def judge_spec(prompt: str, model: str) -> dict[str, Any]:
    return envelope("judge", model=model, prompt=prompt, max_output_tokens=200)


@dataclass
class PromptCandidate:
    prompt: str
    parent: int | None
    pareto_correct: np.ndarray  # per Pareto example: judged like the people did


@dataclass
class GepaResult:
    best: PromptCandidate
    candidates: list[PromptCandidate]
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = "iterations done"


def _correct(client: LLMClient, prompt: str, examples: list[Example]) -> np.ndarray:
    predicted = JudgeEvaluator(judge_spec(prompt, client.model), client).predict(examples)[0]
    return predicted == np.array([e.is_fail for e in examples])


def _pareto_fitness(candidate: PromptCandidate, examples: list[Example]) -> float:
    actual = np.array([e.is_fail for e in examples])
    predicted = np.where(candidate.pareto_correct, actual, ~actual)
    value, _ = mcc(Confusion.of(actual, predicted))
    return -1.0 if value is None else value


def _front_weights(candidates: list[PromptCandidate]) -> np.ndarray:
    """How many Pareto examples each candidate is (jointly) best on; zero = dominated everywhere."""
    scores = np.vstack([c.pareto_correct for c in candidates]).astype(float)
    best = scores.max(axis=0)
    winners = (scores == best) & (best > 0)
    return winners.sum(axis=1).astype(float)


def reflection_messages(prompt: str, mistakes: list[tuple[Example, bool, str]]) -> list[dict[str, str]]:
    lines = [
        "You improve the instructions of an LLM judge that detects one failure mode in traces.",
        "Current instructions:",
        "```",
        prompt,
        "```",
        "The judge got these examples wrong:",
    ]
    for example, said_fail, reason in mistakes:
        text = trace_text(example)[:1500]
        lines += [
            "---",
            f"Trace:\n{text}",
            f"People labelled it: {'FAIL' if example.is_fail else 'PASS'}; the judge said: "
            f"{'FAIL' if said_fail else 'PASS'} ({reason})",
        ]
        if example.feedback:
            lines.append(f"Annotator feedback: {example.feedback[:500]}")
    lines += [
        "---",
        "Write improved instructions that keep what works and fix these mistakes. Name concrete signs of the "
        "failure mode (and of passing traces) taken from the feedback. Return only the new instructions inside ``` fences.",
    ]
    return [{"role": "user", "content": "\n".join(lines)}]


def _rewrite(client: LLMClient, prompt: str, mistakes: list[tuple[Example, bool, str]]) -> str | None:
    answer = client.chat(reflection_messages(prompt, mistakes), max_tokens=800)
    found = FENCED.search(answer)
    new = (found.group(1) if found else answer).strip()
    return new if new and new != prompt else None


def optimise_prompt(
    client: LLMClient,
    feedback_set: list[Example],
    pareto_set: list[Example],
    start_prompt: str,
    *,
    iterations: int,
    seed: int,
    reserve_calls: int = 0,
) -> GepaResult:
    """GEPA-style search; stops early when the budget (minus `reserve_calls`) cannot pay for a step."""
    rng = np.random.default_rng(seed)
    candidates = [PromptCandidate(start_prompt, None, _correct(client, start_prompt, pareto_set))]
    history: list[dict[str, Any]] = [{"step": 0, "event": "seed", "pareto_mcc": _pareto_fitness(candidates[0], pareto_set)}]
    stopped = "iterations done"
    for step in range(1, iterations + 1):
        step_cost = 2 * MINIBATCH + 1 + len(pareto_set)
        left = client.calls_left()
        if left is not None and left - reserve_calls < step_cost:
            stopped = "call budget reached"
            break
        weights = _front_weights(candidates)
        if weights.sum() == 0:
            weights = np.ones(len(candidates))
        parent_index = int(rng.choice(len(candidates), p=weights / weights.sum()))
        parent = candidates[parent_index]
        batch = [feedback_set[i] for i in rng.choice(len(feedback_set), size=min(MINIBATCH, len(feedback_set)), replace=False)]
        try:
            outcome = _one_step(client, parent, parent_index, batch, pareto_set)
        except BudgetExhausted:
            stopped = "token budget reached"
            break
        history.append({"step": step, **outcome["event"]})
        if outcome["child"] is not None:
            candidates.append(outcome["child"])
    best = max(candidates, key=lambda c: _pareto_fitness(c, pareto_set))
    return GepaResult(best, candidates, history, stopped)


def _one_step(client, parent: PromptCandidate, parent_index: int, batch: list[Example], pareto_set) -> dict[str, Any]:
    judge = JudgeEvaluator(judge_spec(parent.prompt, client.model), client)
    answers = judge._answers(batch)
    parent_correct = sum(bool(a) == e.is_fail for (a, _), e in zip(answers, batch))
    mistakes = [(e, bool(a), reason) for (a, reason), e in zip(answers, batch) if bool(a) != e.is_fail]
    if not mistakes:
        return {"child": None, "event": {"event": "parent right on minibatch", "parent": parent_index}}
    new_prompt = _rewrite(client, parent.prompt, mistakes)
    if new_prompt is None:
        return {"child": None, "event": {"event": "no rewrite", "parent": parent_index}}
    child_correct = int(_correct(client, new_prompt, batch).sum())
    event = {"parent": parent_index, "minibatch_parent": parent_correct, "minibatch_child": child_correct}
    if child_correct <= parent_correct:
        return {"child": None, "event": {"event": "rejected", **event}}
    child = PromptCandidate(new_prompt, parent_index, _correct(client, new_prompt, pareto_set))
    return {"child": child, "event": {"event": "accepted", "pareto_mcc": _pareto_fitness(child, pareto_set), **event}}


@dataclass
class JudgeOutcome:
    chosen: bool
    spec: dict[str, Any] | None
    fitness_summary: dict[str, Any]
    notes: list[str]
    gepa: GepaResult | None = None


def consider_judge(train_ws, holdout: list[Example], best_local, llm: Any, *, issue_title: str,
                   issue_description: str, budget, seed: int) -> JudgeOutcome:
    """Optimise a judge on part of the training split, score it on the rest, keep it if it clearly wins."""
    client = client_for(llm, max_calls=budget.llm_max_calls, max_tokens=budget.llm_max_tokens)
    examples = train_ws.examples
    try:
        search_rows, validation_rows = holdout_split(train_ws.actual_fail, train_ws.groups, seed=seed + 1)
        feedback_rows, pareto_rows = holdout_split(train_ws.actual_fail[search_rows], [train_ws.groups[i] for i in search_rows], fraction=0.5, seed=seed + 2)
    except SplitError as error:
        return JudgeOutcome(False, None, {}, [f"LLM judge skipped: {error}"])
    search_set = [examples[i] for i in search_rows]
    validation = [examples[i] for i in validation_rows]
    reserve = len(validation) + len(holdout)
    try:
        result = optimise_prompt(
            client,
            [search_set[i] for i in feedback_rows],
            [search_set[i] for i in pareto_rows],
            seed_prompt(issue_title, issue_description, search_set),
            iterations=budget.judge_iterations,
            seed=seed,
            reserve_calls=reserve,
        )
        spec = judge_spec(result.best.prompt, client.model)
        predicted, _ = JudgeEvaluator(spec, client).predict(validation)
    except BudgetExhausted as error:
        return JudgeOutcome(False, None, {}, [f"LLM judge skipped: {error}"])
    value, reason = mcc(Confusion.of([e.is_fail for e in validation], predicted))
    local = best_local.fitness if best_local.fitness is not None else -1.0
    chosen = value is not None and value > local + JUDGE_MARGIN
    notes = [
        f"LLM judge: validation MCC {value if value is not None else 'undefined (' + str(reason) + ')'} "
        f"vs best local candidate CV MCC {best_local.fitness}; "
        f"{'chosen' if chosen else 'not chosen'}; {client.usage.calls} calls, {client.usage.tokens} tokens; "
        f"search stopped: {result.stopped}"
    ]
    summary = {"mcc": value, "mcc_undefined_reason": reason, "judge_validation_n": len(validation)}
    return JudgeOutcome(chosen, spec, summary, notes, result)
