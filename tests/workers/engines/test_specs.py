"""Engine specs and load_engine's checks that need no model."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import Settings
from service.errors import EngineError, InvalidInput
from tests.fakes import FakeEngine
from workers.engines import (
    EngineKind,
    EngineSpec,
    InvalidEngineSpec,
    forget_engines,
    load_engine,
    loaded_engines,
    parse_spec,
    registry,
    validate_spec,
)
from workers.engines.http_engine import OpenAIEngine


@pytest.fixture(autouse=True)
def own_engine_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty engine cache for each test; the session's warm engines stay untouched."""
    monkeypatch.setattr(registry, "_engines", {})


@pytest.mark.parametrize(
    ("spec", "kind", "name"),
    [
        ("bundled:smollm2", EngineKind.BUNDLED, "smollm2"),
        (" openai:gpt-4o-mini ", EngineKind.OPENAI, "gpt-4o-mini"),
        ("vllm:/models/llama", EngineKind.VLLM, "/models/llama"),
        ("meta-llama/Llama-3.1-8B-Instruct", EngineKind.VLLM, "meta-llama/Llama-3.1-8B-Instruct"),
        ("gpt2", EngineKind.VLLM, "gpt2"),
        ("/srv/models/merged", EngineKind.VLLM, "/srv/models/merged"),
        ("./out/merged", EngineKind.VLLM, "./out/merged"),
        ("~/models/x", EngineKind.VLLM, "~/models/x"),
    ],
)
def test_parses_valid_specs(spec: str, kind: EngineKind, name: str) -> None:
    parsed = parse_spec(spec)

    assert (parsed.kind, parsed.name, parsed.text) == (kind, name, spec.strip())
    validate_spec(spec)


def test_unknown_bundled_model_lists_the_known_ones() -> None:
    with pytest.raises(InvalidEngineSpec, match="bundled:smollm2"):
        validate_spec("bundled:llama")


@pytest.mark.parametrize(
    "spec", ["", "   ", "openai:", "vllm: ", "foo:bar", "has space/x", "bundled:"]
)
def test_rejects_malformed_specs(spec: str) -> None:
    with pytest.raises(InvalidEngineSpec) as caught:
        validate_spec(spec)
    assert caught.value.status_code == 422
    assert isinstance(caught.value, InvalidInput)


def test_missing_local_folder_fails_before_starting_vllm(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"

    with pytest.raises(EngineError, match="no model folder"):
        load_engine(str(missing), Settings(model_cache_dir=tmp_path))


def test_openai_engine_uses_settings_and_is_cached(tmp_path: Path) -> None:
    settings = Settings(
        model_cache_dir=tmp_path,
        openai_base_url="http://127.0.0.1:9/v1",
        openai_api_key="sk-x",
        http_concurrency=3,
        http_max_retries=1,
    )

    engine = load_engine("openai:judge-model", settings)

    assert isinstance(engine, OpenAIEngine)
    assert (engine.model, engine.base_url, engine.concurrency, engine.max_retries) == (
        "judge-model",
        "http://127.0.0.1:9/v1",
        3,
        1,
    )
    assert load_engine("openai:judge-model", settings) is engine


def test_openai_key_falls_back_to_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")

    engine = load_engine(
        "openai:env-model", Settings(model_cache_dir=tmp_path, openai_api_key=None)
    )

    assert isinstance(engine, OpenAIEngine)
    assert engine._api_key == "sk-env"


def test_openai_without_key_or_server_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = Settings(model_cache_dir=tmp_path, openai_api_key=None, openai_base_url=None)

    with pytest.raises(EngineError, match="MEDSAFE_OPENAI_API_KEY"):
        load_engine("openai:gpt-4o", settings)


def test_importing_the_package_loads_no_engine_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, workers.engines; "
        "print(sorted(m for m in ('vllm', 'openai', 'torch', 'transformers') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_forget_engines_empties_the_cache(tmp_path: Path) -> None:
    settings = Settings(model_cache_dir=tmp_path, openai_api_key="k")
    load_engine("openai:a", settings)

    forget_engines()

    assert loaded_engines() == {}


def test_a_dead_engine_is_replaced_on_the_next_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[FakeEngine] = []

    def start(spec: EngineSpec, settings: Settings) -> FakeEngine:
        started.append(FakeEngine(lambda c: "ok", spec=spec.text))
        return started[-1]

    monkeypatch.setattr(registry, "_start", start)
    settings = Settings(model_cache_dir=tmp_path)
    first = load_engine("bundled:smollm2", settings)
    assert load_engine("bundled:smollm2", settings) is first

    first.dead = True  # type: ignore[attr-defined]  # as VLLMEngine marks itself
    second = load_engine("bundled:smollm2", settings)

    assert second is not first
    assert started == [first, second]


@pytest.mark.parametrize("name", ["~nosuchuser-medsafe/model", "~importing~", "x" * 5000])
def test_a_spec_naming_no_folder_this_machine_can_have_has_no_local_path(name: str) -> None:
    from service.model_specs import parse_spec

    assert parse_spec(name).local_path() is None
