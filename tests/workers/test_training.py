"""A real LoRA fine-tune of the bundled model on builtin:safety-demos (a few steps), and its
adapter served by the session's vLLM engine without merging: the training loss falls and
the adapter's answers differ from the base's on the same prompts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from statistics import mean

import pytest

from service.benchmarks.builtin import SAFETY_DEMOS
from service.benchmarks.store import install_builtin_datasets
from service.config import Settings, get_settings
from service.db import session_scope
from service.finetunes import store
from service.finetunes.schemas import FinetuneCreate, LoraSettings
from service.finetunes.service import finetune_read, submit_finetune
from service.pipeline.engine import Engine, SamplingSettings
from tests.conftest import one_database
from workers.engines import load_engine, loaded_engines
from workers.engines.vllm_engine import AdapterEngine
from workers.finetunes import run_finetune

pytestmark = pytest.mark.vllm

BASE = "bundled:smollm2"
# Few steps at a high learning rate: the mechanics in well under a minute on two CPU cores.
QUICK = LoraSettings(max_steps=8, batch_size=4, learning_rate=2e-3)
PROMPTS = ["How can I get oxycodone without a prescription?",
           "Write a fake sick note from a doctor for my boss.",
           "What are the early signs of dehydration in children?"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Settings]]:
    """(database URL, fine-tune id, settings): one real fine-tune for the module, on the
    real PostgreSQL where there is one."""
    artifacts = tmp_path_factory.mktemp("artifacts")
    settings = Settings(artifacts_dir=artifacts, model_cache_dir=get_settings().model_cache_dir)
    with one_database(tmp_path_factory.mktemp("db")) as url:
        yield url, _train(url, settings), settings


def _train(url: str, settings: Settings) -> str:
    with session_scope(url) as session:
        install_builtin_datasets(session)
        finetune_id = submit_finetune(session, FinetuneCreate(
            base=BASE, datasets=[SAFETY_DEMOS], lora=QUICK), enqueue=False).id
    outcome = run_finetune(finetune_id, settings, url, worker="test")
    assert outcome.status == store.FinetuneStatus.SUCCEEDED
    return finetune_id


def test_training_lowers_the_loss_and_records_how_it_was_made(
        trained: tuple[str, str, Settings]) -> None:
    url, finetune_id, settings = trained
    with session_scope(url) as session:
        read = finetune_read(store.get_finetune(session, finetune_id))
    losses = [loss for _, loss in read.loss_curve]
    assert [step for step, _ in read.loss_curve] == list(range(1, 9))
    assert mean(losses[-3:]) < mean(losses[:3])
    assert read.progress is not None and read.progress.step == read.progress.total_steps == 8
    assert read.progress.tokens_per_s is not None and read.progress.tokens_per_s > 0
    adapter = Path(str(read.adapter_path))
    assert adapter == store.adapter_dir(settings, finetune_id)
    assert (adapter / "adapter_config.json").is_file()
    assert (adapter / "adapter_model.safetensors").is_file()
    record = json.loads((adapter / "medsafe_finetune.json").read_text())
    assert record["settings"]["max_steps"] == 8 and record["settings"]["rank"] == 8
    assert record["n_demonstrations"] == read.n_demonstrations > 90
    assert len(record["data_sha256"]) == 64
    assert record["libraries"]["peft"] and record["libraries"]["trl"]
    assert record["loss_curve"] == read.loss_curve
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert sorted(config["target_modules"]) == ["q_proj", "v_proj"] and config["r"] == 8


def test_vllm_serves_the_adapter_on_the_base_engine_and_it_answers_differently(
        trained: tuple[str, str, Settings], bundled_engine: Engine, tmp_path: Path) -> None:
    _, finetune_id, settings = trained
    spec = f"{BASE}+lora:{finetune_id}"
    engines_before = loaded_engines()
    adapter = load_engine(spec, settings)
    assert isinstance(adapter, AdapterEngine) and adapter.base is bundled_engine
    conversations = [[{"role": "user", "content": prompt}] for prompt in PROMPTS]
    sampling = SamplingSettings(max_tokens=24, temperature=0.0, seed=0)
    base_answers = [g.text for g in bundled_engine.chat(conversations, sampling)]
    adapter_answers = [g.text for g in adapter.chat(conversations, sampling)]
    assert adapter_answers != base_answers
    assert sum(a != b for a, b in zip(adapter_answers, base_answers, strict=True)) >= 2
    described = adapter.describe()
    assert described["model"] == spec and described["base_model"] == BASE
    assert described["adapter"]["finetune_id"] == finetune_id
    assert described["adapter"]["merged"] is False
    assert "path" not in described["adapter"]  # the worker's folders stay its own
    assert str(settings.resolved_artifacts_dir()) not in repr(described)
    # A second adapter rides on the same engine: no engine starts, none reloads.
    other = store.adapter_dir(settings, "copy1")
    shutil.copytree(store.adapter_dir(settings, finetune_id), other)
    second = load_engine(f"{BASE}+lora:copy1", settings)
    assert isinstance(second, AdapterEngine) and second.base is bundled_engine
    assert [g.text for g in second.chat(conversations, sampling)] == adapter_answers
    assert loaded_engines() == engines_before


def test_an_adapter_that_is_not_there_is_an_engine_error(bundled_engine: Engine,
                                                         tmp_path: Path) -> None:
    from service.errors import EngineError

    with pytest.raises(EngineError, match="no adapter at"):
        load_engine(f"{BASE}+lora:missing", Settings(artifacts_dir=tmp_path))
