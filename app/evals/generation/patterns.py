"""Safe matching of phrases mined from data and of regexes written by people.

Mined phrases are word sequences; they become regexes made of escaped
literals joined by `\\W+`, which run in linear time whatever the text. A
person's regex is untrusted too (and may backtrack catastrophically on
hostile text): it is length-capped and run by the `regex` module with a
timeout (the stdlib `re` cannot stop a runaway match).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import regex as _regex_module

MAX_PATTERN_CHARS = 500
MATCH_TIMEOUT_S = 0.05
# Text searched by a user regex is capped: a timeout bounds time, this bounds memory.
MAX_SEARCH_CHARS = 100_000
NUMBER_TOKEN = "0"  # mined phrases stand for any number with this token


class PatternError(ValueError):
    """A pattern that cannot be used safely."""


def phrase_regex(phrase: str) -> str:
    """`refund within 0 days` -> `\\brefund\\W+within\\W+\\d+\\W+days\\b`."""
    tokens = phrase.split()
    if not tokens:
        raise PatternError("empty phrase")
    parts = [r"\d+" if token == NUMBER_TOKEN else re.escape(token) for token in tokens]
    return r"\b" + r"\W+".join(parts) + r"\b"


@dataclass(frozen=True)
class Matcher:
    """Finds a pattern in text; `search` returns the matched text or None."""

    pattern: str
    kind: str  # "phrase" (mined, escaped) or "regex" (written by a person)
    case_sensitive: bool = False

    @property
    def shown(self) -> str:
        return phrase_regex(self.pattern) if self.kind == "phrase" else self.pattern

    def search(self, text: str) -> str | None:
        if self.kind == "phrase":
            found = _compiled_phrase(self.pattern, self.case_sensitive).search(text)
            return found.group(0) if found else None
        return _search_user_regex(self.pattern, self.case_sensitive, text)

    def search_many(self, texts: list[str]) -> list[str | None]:
        if self.kind == "phrase":
            search = _compiled_phrase(self.pattern, self.case_sensitive).search
            return [m.group(0) if (m := search(t)) else None for t in texts]
        return [self.search(t) for t in texts]


@lru_cache(maxsize=4096)
def _compiled_phrase(phrase: str, case_sensitive: bool) -> re.Pattern:
    return re.compile(phrase_regex(phrase), 0 if case_sensitive else re.IGNORECASE)


def validate_user_regex(pattern: str) -> None:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"regex longer than {MAX_PATTERN_CHARS} characters")
    try:
        _compiled_user(pattern, False)
    except Exception as error:  # re.error or regex.error
        raise PatternError(f"invalid regex: {error}") from None


@lru_cache(maxsize=1024)
def _compiled_user(pattern: str, case_sensitive: bool):
    flags = 0 if case_sensitive else _regex_module.IGNORECASE
    return _regex_module.compile(pattern, flags | _regex_module.V0)


def _search_user_regex(pattern: str, case_sensitive: bool, text: str) -> str | None:
    compiled = _compiled_user(pattern, case_sensitive)
    try:
        found = compiled.search(text[:MAX_SEARCH_CHARS], timeout=MATCH_TIMEOUT_S)
    except TimeoutError:
        # A runaway pattern counts as "no match" rather than stalling the batch.
        return None
    return found.group(0) if found else None
