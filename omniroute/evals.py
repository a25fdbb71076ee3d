"""Evaluation suites: prompts with expected answers, run against a model or combo through the gateway.

Each case is one non-streaming chat request at temperature 0, served by the gateway's own chat pipeline
(so routing, fallbacks, resilience and the usage ledger treat it like any client request), and its
answer is checked by ``exact`` (after stripping surrounding whitespace), ``contains`` or ``regex``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Literal

import orjson
import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from omniroute.errors import OmniRouteError, UpstreamTimeout
from omniroute.pipeline import Exchange
from omniroute.routing.combos import Combo
from omniroute.routing.resolve import resolve

log = logging.getLogger("omniroute.evals")

MAX_CASES = 500
MAX_PROMPT_CHARS = 32_000  # the prompt (all its messages) and the system text of one case, together
MAX_MESSAGES = 100
MAX_VALUE_CHARS = 2_000
MAX_PATTERN_CHARS = 500
MAX_MATCH_CHARS = 20_000  # the part of an answer a check looks at
REGEX_TIMEOUT_S = 0.5
OUTPUT_CHARS = 2_000  # the part of an answer stored with the run
CONCURRENCY = 4
CASE_TIMEOUT_S = 60.0


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["exact", "contains", "regex"]
    value: str = Field(min_length=1, max_length=MAX_VALUE_CHARS)
    ignoreCase: bool = False

    @model_validator(mode="after")
    def _pattern(self):
        if self.type == "regex":
            if len(self.value) > MAX_PATTERN_CHARS:
                raise ValueError(f"a regex pattern may have at most {MAX_PATTERN_CHARS} characters")
            try:
                compile_check(self)
            except regex.error as exc:
                raise ValueError(f"invalid regular expression {self.value!r}: {exc}") from None
        return self


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_PROMPT_CHARS)


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str | None = Field(default=None, min_length=1, max_length=100)
    prompt: str | list[Message]
    system: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    check: Check
    maxTokens: int | None = Field(default=None, ge=1, le=65_536)

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value):
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("the prompt is empty")
        elif not 1 <= len(value) <= MAX_MESSAGES:
            raise ValueError(f"a prompt given as messages needs 1 to {MAX_MESSAGES} of them")
        return value

    @model_validator(mode="after")
    def _size(self):
        text = self.prompt if isinstance(self.prompt, str) else "".join(m.content for m in self.prompt)
        if len(text) + len(self.system or "") > MAX_PROMPT_CHARS:
            raise ValueError(f"the prompt and system text may have at most {MAX_PROMPT_CHARS} characters together")
        return self


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2_000)
    cases: list[Case] = Field(min_length=1, max_length=MAX_CASES)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the name is empty")
        return value

    @model_validator(mode="after")
    def _ids(self):
        seen: set[str] = set()
        for i, case in enumerate(self.cases):
            if case.id is None:
                case.id = f"case-{i + 1}"
            if case.id in seen:
                raise ValueError(f"case id {case.id!r} is used twice")
            seen.add(case.id)
        return self

    def stored_cases(self) -> list[dict]:
        """The cases as stored and shown: every case with its id, unset optional fields left out."""
        return [case.model_dump(exclude_none=True) for case in self.cases]


def compile_check(check: Check | dict):
    """The compiled pattern of a regex check."""
    value, ignore = (check.value, check.ignoreCase) if isinstance(check, Check) else (
        check["value"], check.get("ignoreCase", False))
    return regex.compile(value, regex.IGNORECASE if ignore else 0)


async def passes(check: dict, output: str) -> bool:
    """Whether ``output`` satisfies ``check``; a regex that runs too long raises TimeoutError."""
    text = output[:MAX_MATCH_CHARS]
    kind, value, ignore = check["type"], check["value"], check.get("ignoreCase", False)
    if kind == "regex":
        pattern = compile_check(check)
        # The regex module lets go of the GIL while matching a str, and stops at its timeout.
        return await asyncio.to_thread(lambda: pattern.search(text, timeout=REGEX_TIMEOUT_S) is not None)
    if ignore:
        text, value = text.casefold(), value.casefold()
    if kind == "exact":
        return text.strip() == value.strip()
    return value in text


def check_target(services, target: str) -> str:
    """Resolve ``target`` as the chat route would: ModelNotFound when nothing is named so, ValueError
    when its provider offers no chat or has no active connection. Returns "combo" or "model"."""
    found = resolve(target, services.registry, services.pool, True)
    if isinstance(found, Combo):
        return "combo"
    if "chat" not in found.provider.capabilities:
        raise ValueError(f"'{target}' belongs to provider '{found.provider.id}', which offers no chat")
    if found.provider.id not in services.pool.providers():
        raise ValueError(f"'{target}': provider '{found.provider.id}' has no active connection; "
                         "add one with POST /api/providers")
    return "model"


def chat_body(case: dict, target: str) -> dict:
    prompt = case["prompt"]
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
    if case.get("system"):
        messages.insert(0, {"role": "system", "content": case["system"]})
    body = {"model": target, "messages": messages, "temperature": 0, "stream": False}
    if case.get("maxTokens"):
        body["max_tokens"] = case["maxTokens"]
    return body


def _answer_text(raw: bytes) -> str:
    data = orjson.loads(raw)
    message = data["choices"][0]["message"]
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


async def run_case(services, case: dict, target: str, timeout_s: float = CASE_TIMEOUT_S) -> dict:
    """One case through the chat pipeline (recorded in the usage ledger); never raises."""
    pipeline = services.pipeline
    ex = Exchange(body=chat_body(case, target), api_key=None, no_cache=True)
    started = time.perf_counter()
    output, error = "", None
    try:
        async with asyncio.timeout(timeout_s):
            answer = await pipeline.run(ex)
        output = _answer_text(answer.body)
    except OmniRouteError as err:
        error = err.message
        pipeline.record(ex, err)
    except TimeoutError:
        err = UpstreamTimeout(f"no answer within the case timeout of {round(timeout_s * 1000)} ms")
        error = err.message
        pipeline.record(ex, err)
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        error = "the answer carries no chat message"
    except Exception as exc:  # a case must not end the run
        log.exception("eval case %r failed", case.get("id"))
        ex.status, ex.error = 500, f"internal error: {exc.__class__.__name__}"
        error = ex.error
    finally:
        pipeline.record(ex)
    latency_ms = int((time.perf_counter() - started) * 1000)
    passed = False
    if error is None:
        try:
            passed = await passes(case["check"], output)
        except TimeoutError:
            error = f"the regex check ran longer than {REGEX_TIMEOUT_S} s and was stopped"
    target_used = ex.target
    return {"caseId": case["id"], "passed": passed, "output": output[:OUTPUT_CHARS],
            "truncated": len(output) > OUTPUT_CHARS, "latencyMs": latency_ms, "error": error,
            "servedBy": f"{target_used.provider.id}/{target_used.model}" if target_used is not None else None}


def summary(results: list[dict]) -> dict:
    """Passed, total, score and latencies (of the cases that got an answer; of all when none did)."""
    total = len(results)
    passed = sum(1 for r in results if r["passed"])
    answered = [r["latencyMs"] for r in results if r["error"] is None] or [r["latencyMs"] for r in results]
    answered.sort()
    p50 = answered[math.ceil(len(answered) / 2) - 1] if answered else None
    every_failed = total > 0 and all(r["error"] is not None for r in results)
    return {"status": "failed" if every_failed else "done", "passed": passed, "total": total,
            "score": round(passed / total, 4) if total else None, "p50_ms": p50,
            "max_ms": answered[-1] if answered else None}


async def run_suite(services, repo, run_id: str, cases: list[dict], target: str,
                    timeout_s: float = CASE_TIMEOUT_S) -> None:
    """Run every case (at most CONCURRENCY at once) and store the run's results and scores."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(case: dict) -> dict:
        async with gate:
            return await run_case(services, case, target, timeout_s)

    results = list(await asyncio.gather(*(one(case) for case in cases)))
    totals = summary(results)
    await repo.finish_run(run_id, status=totals["status"], passed=totals["passed"], total=totals["total"],
                          score=totals["score"], p50_ms=totals["p50_ms"], max_ms=totals["max_ms"],
                          results=results)
