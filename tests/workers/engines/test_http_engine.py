"""The OpenAI-compatible HTTP engine against a scripted server on the loopback interface."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import pytest

from service.errors import EngineError
from service.pipeline.engine import SamplingSettings
from tests.workers.engines.openai_server import ServerScript, reply_to, serve
from workers.engines.http_engine import OpenAIEngine

SAMPLING = SamplingSettings(max_tokens=32, temperature=0.0, top_p=1.0, seed=7)
SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer"}},
    "required": ["score"],
    "additionalProperties": False,
}


@pytest.fixture
def script() -> ServerScript:
    return ServerScript()


@pytest.fixture
def base_url(script: ServerScript, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with serve(script) as url:
        yield url


def engine(base_url: str, concurrency: int = 4, max_retries: int = 3) -> OpenAIEngine:
    return OpenAIEngine(
        "openai:test-model",
        "test-model",
        base_url,
        "sk-test-secret",
        concurrency=concurrency,
        max_retries=max_retries,
        timeout_s=10,
    )


def conversations(n: int) -> list[list[dict[str, str]]]:
    return [
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"question {i} " + "word " * i},
        ]
        for i in range(n)
    ]


def test_answers_in_input_order_with_usage(base_url: str, script: ServerScript) -> None:
    batch = conversations(6)
    script.delay_s = 0.01

    generations = engine(base_url).chat(batch, SAMPLING)

    assert [g.text for g in generations] == [reply_to(c[-1]["content"]) for c in batch]
    assert [g.prompt_tokens for g in generations] == [len(c[-1]["content"].split()) for c in batch]
    assert all(g.output_tokens > 0 and g.finish_reason == "stop" for g in generations)


def test_sends_sampling_settings_and_key(base_url: str, script: ServerScript) -> None:
    engine(base_url).chat(conversations(1), SAMPLING)

    body = script.requests[0]
    assert body["model"] == "test-model"
    assert body["max_completion_tokens"] == 32
    assert (body["temperature"], body["top_p"], body["seed"]) == (0.0, 1.0, 7)
    assert body["messages"] == conversations(1)[0]
    assert "response_format" not in body
    assert script.headers[0]["authorization"] == "Bearer sk-test-secret"


def test_json_schema_becomes_response_format(base_url: str, script: ServerScript) -> None:
    engine(base_url).chat(conversations(2), SAMPLING, json_schema=SCHEMA)

    expected = {
        "type": "json_schema",
        "json_schema": {"name": "grade", "schema": SCHEMA, "strict": True},
    }
    assert [r["response_format"] for r in script.requests] == [expected, expected]


def test_retries_rate_limits_and_server_errors(base_url: str, script: ServerScript) -> None:
    script.failures = [429, 503]

    generations = engine(base_url, max_retries=3).chat(conversations(1), SAMPLING)

    assert len(script.requests) == 3
    assert generations[0].text == reply_to(conversations(1)[0][-1]["content"])


def test_gives_up_after_max_retries(base_url: str, script: ServerScript) -> None:
    script.failures = [503] * 10

    with pytest.raises(EngineError, match="after 2 retries"):
        engine(base_url, concurrency=1, max_retries=2).chat(conversations(1), SAMPLING)
    assert len(script.requests) == 3


def test_client_errors_are_not_retried_and_fail_their_item_even_alone(
        base_url: str, script: ServerScript) -> None:
    script.failures = [400]

    [generation] = engine(base_url, max_retries=3).chat(conversations(1), SAMPLING)
    assert len(script.requests) == 1
    assert generation.finish_reason == "error" and "400" in (generation.error or "")
    assert "retries" not in (generation.error or "")


def test_concurrency_is_bounded(base_url: str, script: ServerScript) -> None:
    script.delay_s = 0.1

    generations = engine(base_url, concurrency=3).chat(conversations(12), SAMPLING)

    assert len(generations) == 12
    assert script.max_in_flight == 3


def test_chat_works_inside_a_running_event_loop(base_url: str) -> None:
    async def call_from_async_code() -> int:
        return len(engine(base_url).chat(conversations(2), SAMPLING))

    assert asyncio.run(call_from_async_code()) == 2


def test_unreachable_server_is_an_engine_error() -> None:
    dead = OpenAIEngine("openai:m", "m", "http://127.0.0.1:9/v1", "k", max_retries=0, timeout_s=2)
    with pytest.raises(EngineError, match="openai:m"):
        dead.chat(conversations(1), SAMPLING)


def test_empty_batch_sends_nothing(base_url: str, script: ServerScript) -> None:
    assert engine(base_url).chat([], SAMPLING) == []
    assert script.requests == []


def test_describe_tells_servers_apart_but_shows_neither_address_nor_key(base_url: str) -> None:
    described = engine(base_url).describe()

    assert described["engine"] == "openai-http"
    assert described["model"] == "openai:test-model"
    assert described["server"] == "self-hosted"
    assert len(described["server_sha256"]) == 16
    assert described["server_sha256"] == engine(base_url).describe()["server_sha256"]
    # Readers of an eval learn neither the key nor the server's address.
    assert "sk-test-secret" not in repr(described)
    assert "127.0.0.1" not in repr(described) and base_url not in repr(described)


def test_probability_grading_reads_the_first_tokens_alternatives(
        base_url: str, script: ServerScript) -> None:
    scoring = SamplingSettings(max_tokens=1, temperature=0.0, top_p=1.0, seed=0,
                               score_tokens=("1", "2", "3", "4", "5"))
    [generation] = engine(base_url).chat(conversations(1), scoring)

    assert script.requests[0]["logprobs"] is True
    assert script.requests[0]["top_logprobs"] == 20
    # "4" and " 4" are one score (their probabilities add up); "Grade" is not a score.
    assert generation.token_logprobs is not None
    assert set(generation.token_logprobs) == {"4", "2"}
    assert generation.token_logprobs["4"] == pytest.approx(math.log(math.exp(-0.5)
                                                                    + math.exp(-2.0)))
    assert generation.token_logprobs["2"] == pytest.approx(-1.5)


def test_without_score_tokens_no_logprobs_are_asked(base_url: str, script: ServerScript) -> None:
    [generation] = engine(base_url).chat(conversations(1), SAMPLING)
    assert "logprobs" not in script.requests[0]
    assert generation.token_logprobs is None


def test_one_failed_request_fails_its_item_only(base_url: str, script: ServerScript) -> None:
    script.failures = [400]  # the first request is refused, and 400 is not retried

    generations = engine(base_url, concurrency=1).chat(conversations(3), SAMPLING)

    failed = [g for g in generations if g.error is not None]
    assert len(failed) == 1 and failed[0].finish_reason == "error" and failed[0].text == ""
    assert "400" in (failed[0].error or "")
    answered = [g for g in generations if g.error is None]
    assert [g.text for g in answered] == [reply_to(c[-1]["content"])
                                          for c in conversations(3)[1:]]


def test_a_bad_key_or_model_fails_the_whole_batch(base_url: str, script: ServerScript) -> None:
    script.failures = [401]

    with pytest.raises(EngineError, match="401"):
        engine(base_url, concurrency=1).chat(conversations(3), SAMPLING)


LONG = "Patient history: " + "stable vitals, no complaints. " * 400 + "Question: what dose?"


def _long_conversation() -> list[dict[str, str]]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": LONG}]


def test_a_prompt_the_server_refuses_as_too_long_is_shortened_and_sent_again(
        base_url: str, script: ServerScript) -> None:
    script.context_limit = 1024
    [generation, short] = engine(base_url).chat([_long_conversation(), *conversations(1)],
                                                SAMPLING)
    assert generation.error is None and generation.finish_reason == "stop"
    sent = [r for r in script.requests if r["messages"][-1]["content"].startswith("Patient")]
    assert len(sent) == 2  # refused once, then the shortened prompt went through
    from tests.workers.engines.openai_server import prompt_tokens
    assert prompt_tokens(sent[0]) + 32 > 1024 >= prompt_tokens(sent[1]) + 32
    fitted = sent[1]["messages"][-1]["content"]
    assert "truncated to fit the context window" in fitted
    assert fitted.startswith("Patient history") and fitted.endswith("what dose?")
    assert sent[1]["messages"][0]["content"] == "Be brief."
    assert short.error is None


def test_a_known_context_length_fits_prompts_before_sending(
        base_url: str, script: ServerScript) -> None:
    script.context_limit = 1024
    fitting = OpenAIEngine("openai:test-model", "test-model", base_url, "sk-test", timeout_s=10,
                           max_model_len=1024)
    [generation] = fitting.chat([_long_conversation()], SAMPLING)
    assert generation.error is None
    assert len(script.requests) == 1  # never refused
    assert "truncated to fit" in script.requests[0]["messages"][-1]["content"]


def test_a_prompt_that_cannot_fit_fails_its_item_only(
        base_url: str, script: ServerScript) -> None:
    script.context_limit = 40  # less than max_tokens leaves room for
    [generation] = engine(base_url).chat([_long_conversation()], SAMPLING)
    assert generation.finish_reason == "error"
    assert "maximum context length is 40" in (generation.error or "")
    assert len(script.requests) == 1
