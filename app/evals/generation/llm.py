"""A small client for OpenAI-compatible chat endpoints: budget, cache, retries.

Every call is counted against a budget (calls and tokens) *before* it is
sent, so a search can never overspend. Answers are cached under a hash of
model + messages + settings; the cache is anything with `get(key)` and
`set(key, value)` (or a plain dict), so the database layer can plug in a
persistent one. Retries back off exponentially on 429 and 5xx (honouring
Retry-After), and on connection errors; other errors are raised at once with
the endpoint's message.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx


class LLMError(RuntimeError):
    """The endpoint failed or answered something unusable."""


class BudgetExhausted(LLMError):
    """The call or token budget would be exceeded."""


class Cache(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...


class MemoryCache(dict):
    """The default cache: a dict with `set`."""

    def set(self, key: str, value: str) -> None:
        self[key] = value


@dataclass
class LLMConfig:
    base_url: str
    api_key: str
    model: str
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_s: float = 1.0
    cache: Any = None


@dataclass
class Usage:
    calls: int = 0
    tokens: int = 0
    cache_hits: int = 0


@dataclass
class LLMClient:
    config: LLMConfig
    max_calls: int | None = None
    max_tokens: int | None = None
    usage: Usage = field(default_factory=Usage)
    transport: httpx.BaseTransport | None = None

    def __post_init__(self) -> None:
        self.cache = self.config.cache if self.config.cache is not None else MemoryCache()
        self._http = httpx.Client(
            base_url=self.config.base_url.rstrip("/"),
            timeout=self.config.timeout_s,
            headers={"Authorization": f"Bearer {self.config.api_key}"},
            transport=self.transport,
        )

    @property
    def model(self) -> str:
        return self.config.model

    def calls_left(self) -> int | None:
        return None if self.max_calls is None else self.max_calls - self.usage.calls

    def cache_key(self, messages: list[dict[str, str]], max_tokens: int) -> str:
        payload = json.dumps([self.config.model, messages, 0, max_tokens], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def chat(self, messages: list[dict[str, str]], *, max_tokens: int = 300) -> str:
        key = self.cache_key(messages, max_tokens)
        cached = self.cache.get(key)
        if cached is not None:
            self.usage.cache_hits += 1
            return cached
        self._check_budget(messages, max_tokens)
        answer, tokens = self._post(messages, max_tokens)
        self.usage.calls += 1
        self.usage.tokens += tokens
        self._store(key, answer)
        return answer

    def _store(self, key: str, answer: str) -> None:
        if hasattr(self.cache, "set"):
            self.cache.set(key, answer)
        else:
            self.cache[key] = answer

    def _check_budget(self, messages: list[dict[str, str]], max_tokens: int) -> None:
        if self.max_calls is not None and self.usage.calls >= self.max_calls:
            raise BudgetExhausted(f"LLM call budget of {self.max_calls} calls used up")
        if self.max_tokens is not None:
            expected = _estimate_tokens(messages) + max_tokens
            if self.usage.tokens + expected > self.max_tokens:
                raise BudgetExhausted(f"LLM token budget of {self.max_tokens} tokens would be exceeded")

    def _post(self, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, int]:
        body = {"model": self.config.model, "messages": messages, "temperature": 0, "max_tokens": max_tokens}
        for attempt in range(self.config.max_retries + 1):
            last = attempt == self.config.max_retries
            try:
                response = self._http.post("/chat/completions", json=body)
            except httpx.TransportError as error:
                if last:
                    raise LLMError(f"LLM endpoint unreachable: {error}") from None
                self._sleep(attempt, None)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                if last:
                    raise LLMError(f"LLM endpoint answered {response.status_code} after {attempt + 1} tries: {_excerpt(response)}")
                self._sleep(attempt, response.headers.get("retry-after"))
                continue
            if response.status_code != 200:
                raise LLMError(f"LLM endpoint answered {response.status_code}: {_excerpt(response)}")
            return _parse(response, messages)
        raise LLMError("unreachable")  # pragma: no cover

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.config.backoff_s * (2**attempt)
        if retry_after:
            try:
                delay = max(delay, min(float(retry_after), 60.0))
            except ValueError:
                pass
        time.sleep(delay)

    def with_model(self, model: str) -> "LLMClient":
        """The same endpoint, cache and budget (usage is shared), another model."""
        config = LLMConfig(**{**self.config.__dict__, "model": model, "cache": self.cache})
        return LLMClient(config, self.max_calls, self.max_tokens, self.usage, self.transport)

    def close(self) -> None:
        self._http.close()


def _parse(response: httpx.Response, messages: list[dict[str, str]]) -> tuple[str, int]:
    try:
        data = response.json()
        answer = data["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMError(f"LLM endpoint answered an unexpected shape: {_excerpt(response)}") from None
    usage = data.get("usage") or {}
    tokens = usage.get("total_tokens") or (_estimate_tokens(messages) + len(answer) // 4)
    return answer, int(tokens)


def _estimate_tokens(messages: list[dict[str, str]]) -> int:
    return sum(len(m.get("content") or "") for m in messages) // 4 + 4 * len(messages)


def _excerpt(response: httpx.Response) -> str:
    return response.text[:300].replace("\n", " ")


def client_for(llm: Any, *, max_calls: int | None = None, max_tokens: int | None = None) -> LLMClient:
    """An LLMClient from a client (returned as is), an LLMConfig, or a dict of its fields."""
    if isinstance(llm, LLMClient):
        return llm
    config = llm if isinstance(llm, LLMConfig) else LLMConfig(**dict(llm))
    return LLMClient(config, max_calls=max_calls, max_tokens=max_tokens)
