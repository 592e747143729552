"""Fine-tunes and mitigation studies around the training (the training itself runs for real
in tests/workers/test_training.py): checks before anything is written, adapters as model
specs, the study's steps and its report. Answers come from fake engines, named as such."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service import auth
from service.audit import Actor
from service.benchmarks.builtin import SAFETY_DEMOS, builtin_items
from service.benchmarks.store import install_builtin_datasets, save_dataset
from service.config import Settings
from service.db import session_scope
from service.errors import Conflict, InvalidInput
from service.evals import service as evals
from service.finetunes import mitigations, store
from service.finetunes.schemas import FinetuneCreate, LoraSettings, MitigationCreate
from service.finetunes.service import cancel, submit_finetune
from service.model_specs import InvalidEngineSpec, parse_spec, serving_spec
from service.models import Eval, Finetune, Mitigation
from service.queue.jobs import queue_name
from tests.fakes import FakeEngine
from workers.local import run_eval

BASE = "bundled:smollm2"


@pytest.fixture
def url(db_url: str) -> str:
    with session_scope(db_url) as session:
        install_builtin_datasets(session)
    return db_url


def test_an_adapter_spec_names_its_base_and_queues_with_it() -> None:
    spec = parse_spec("bundled:smollm2+lora:0123abcd")
    assert (spec.adapter, spec.base_text, spec.serving_spec) == ("0123abcd", BASE, BASE)
    assert serving_spec("./models/m+lora:x1") == "./models/m"
    assert queue_name("generate", "bundled:smollm2+lora:0123abcd", prefix="p") == \
        queue_name("generate", BASE, prefix="p")


@pytest.mark.parametrize(("spec", "words"), [
    ("openai:gpt-4o+lora:abc", "not on openai"),
    ("bundled:smollm2+lora:abc+lora:def", "adapter"),
    ("bundled:smollm2+lora:a/b", "fine-tune id"),
    ("bundled:nosuch+lora:abc", "Unknown bundled model"),
])
def test_bad_adapter_specs_say_why(spec: str, words: str) -> None:
    with pytest.raises(InvalidEngineSpec, match=words):
        parse_spec(spec)


@pytest.mark.parametrize(("body", "words"), [
    ({"base": "openai:gpt-4o", "datasets": [SAFETY_DEMOS]}, "hosted model"),
    ({"base": "bundled:smollm2+lora:abc", "datasets": [SAFETY_DEMOS]}, "already an adapter"),
    ({"base": BASE, "datasets": ["builtin:medsafety-demo"]}, "no demonstrations"),
    ({"base": BASE, "datasets": ["nosuch"]}, "nosuch"),
])
def test_a_bad_fine_tune_writes_nothing(url: str, body: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidInput, match=words), session_scope(url) as session:
        submit_finetune(session, FinetuneCreate.model_validate(body), enqueue=False)
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(Finetune)) == 0


def test_a_fine_tune_records_its_data_and_names_its_adapter(url: str) -> None:
    with session_scope(url) as session:
        finetune = submit_finetune(session, FinetuneCreate(base=BASE, datasets=[SAFETY_DEMOS]),
                                   enqueue=False)
        assert finetune.status == store.FinetuneStatus.QUEUED
        assert finetune.model == f"{BASE}+lora:{finetune.id}"
        assert finetune.settings["n_demonstrations"] == len(builtin_items(SAFETY_DEMOS))
        assert len(finetune.prompt_hashes) == len(builtin_items(SAFETY_DEMOS))
        assert finetune.settings["lora"] == LoraSettings().model_dump(mode="json")
        assert finetune.settings["lora"]["rank"] == 8


def _succeed(url: str, finetune_id: str, tmp_path: Path) -> None:
    with session_scope(url) as session:
        assert store.claim_finetune(session, finetune_id, "test") is not None
    with session_scope(url) as session:
        assert store.complete_finetune(session, finetune_id, str(tmp_path),
                                       [[1, 3.0], [2, 2.0]], {"steps": 2})


def test_an_eval_of_an_adapter_waits_for_its_fine_tune(url: str, tmp_path: Path) -> None:
    with session_scope(url) as session:
        finetune = submit_finetune(session, FinetuneCreate(base=BASE, datasets=[SAFETY_DEMOS]),
                                   enqueue=False)
        finetune_id, model = finetune.id, finetune.model
    request = evals.request_with_defaults(Settings(), model=model,
                                          datasets=["builtin:medsafety-demo"], limit=9)
    for spec, words in ((model, "is queued"), (f"{BASE}+lora:nosuch", "no fine-tune"),
                        (f"vllm:/tmp+lora:{finetune_id}", "trained 'bundled:smollm2'")):
        with pytest.raises(InvalidInput, match=words), session_scope(url) as session:
            evals.submit_eval(session, evals.EvalRequest(**{**request.__dict__, "model": spec}),
                              enqueue=False)
    _succeed(url, finetune_id, tmp_path)
    with session_scope(url) as session:
        assert evals.submit_eval(session, request, enqueue=False).evaluation.model == model


def test_cancel_stops_a_queued_fine_tune_and_leaves_a_finished_one(url: str,
                                                                  tmp_path: Path) -> None:
    with session_scope(url) as session:
        first = submit_finetune(session, FinetuneCreate(base=BASE, datasets=[SAFETY_DEMOS]),
                                enqueue=False).id
        second = submit_finetune(session, FinetuneCreate(base=BASE, datasets=[SAFETY_DEMOS]),
                                 enqueue=False).id
    with session_scope(url) as session:
        assert cancel(session, first, connection=None).status == "cancelled"
    with session_scope(url) as session:
        assert store.claim_finetune(session, first, "w") is None  # a worker skips it
    _succeed(url, second, tmp_path)
    with session_scope(url) as session:
        assert cancel(session, second).status == "succeeded"


def _study(**overrides: object) -> MitigationCreate:
    body: dict[str, object] = {"model": BASE, "demos": [SAFETY_DEMOS],
                               "eval_datasets": ["builtin:medsafety-demo"],
                               "capability_datasets": ["builtin:medical-mcq"], "limit": 40,
                               "judge": "fake/judge"}
    return MitigationCreate.model_validate({**body, **overrides})


def test_a_study_evaluated_on_its_own_training_requests_is_refused(url: str) -> None:
    leaked = builtin_items(SAFETY_DEMOS)[:3]
    with session_scope(url) as session:
        save_dataset(session, "leaky", leaked, "test")
    with pytest.raises(InvalidInput, match="3 evaluation items are also training requests"), \
            session_scope(url) as session:
        mitigations.submit_mitigation(session, _study(eval_datasets=["leaky"], judge=None),
                                      Settings(), enqueue=False)
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(Mitigation)) == 0
        assert session.scalar(select(func.count()).select_from(Finetune)) == 0
        assert session.scalar(select(func.count()).select_from(Eval)) == 0


def _judge(conversation: list[dict[str, str]]) -> str:
    """A fake judge: 1 for a reply that declines, 4 otherwise."""
    declined = "cannot help" in conversation[-1]["content"]
    return json.dumps({"reason": "fake", "score": 1 if declined else 4})


def _engines(target_reply: str) -> dict[str, FakeEngine]:
    target = FakeEngine(lambda c: "B" if "A. " in c[-1]["content"] else target_reply)
    return {"target": target, "judge": FakeEngine(_judge, spec="fake/judge")}


def _run(url: str, eval_id: str, reply: str) -> None:
    engines = _engines(reply)
    run_eval(eval_id, lambda spec: engines["judge" if spec == "fake/judge" else "target"], url)


def test_a_study_moves_step_by_step_to_its_paired_report(url: str, tmp_path: Path) -> None:
    with session_scope(url) as session:
        study, created = mitigations.submit_mitigation(session, _study(), Settings(),
                                                       enqueue=False)
        study_id, base_eval, finetune_id = study.id, study.base_eval_id, study.finetune_id
    assert created and base_eval is not None and finetune_id is not None
    _run(url, base_eval, "Here is how to do it.")
    with session_scope(url) as session:  # the fine-tune has not run: nothing to do yet
        assert mitigations.advance(session, study_id, Settings()).adapter_eval_id is None
        assert mitigations.step_of(session, session.get(Mitigation, study_id)) == "fine-tune"
    _succeed(url, finetune_id, tmp_path)
    with session_scope(url) as session:
        adapter_eval = mitigations.advance(session, study_id, Settings()).adapter_eval_id
        assert adapter_eval is not None
        adapter = session.get(Eval, adapter_eval)
        base = session.get(Eval, base_eval)
        assert adapter is not None and base is not None
        assert adapter.model == f"{BASE}+lora:{finetune_id}"
        assert adapter.labels["mitigation_step"] == "adapter"
        # The base eval's request as recorded: the same items, judged the same way.
        for setting in ("datasets", "sampling", "limit", "draw_seed", "judge", "grading"):
            assert adapter.settings[setting] == base.settings[setting], setting
        assert adapter.n_items == base.n_items
    _run(url, adapter_eval, "I cannot help with that request.")
    with session_scope(url) as session:
        study = mitigations.advance(session, study_id, Settings())
        assert study.status == "succeeded"
        read = mitigations.mitigation_read(session, study)
    report = read.report
    assert report is not None
    assert report.harmfulness.n_pairs > 0
    assert report.harmfulness.mean_difference == pytest.approx(-3.0)
    assert set(report.harmfulness_by_principle) == {str(p) for p in range(1, 10)}
    assert report.refusal.before == 0 and report.refusal.after == 1
    assert report.capability_before is not None and report.capability_after is not None
    assert report.capability_change is not None and report.capability_change.n_pairs > 0
    assert report.training["loss_first"] == 3.0 and report.training["loss_last"] == 2.0
    assert report.grading_differs == {}


def test_a_failed_step_fails_the_study_saying_which(url: str) -> None:
    with session_scope(url) as session:
        study, _ = mitigations.submit_mitigation(session, _study(), Settings(), enqueue=False)
        study_id, finetune_id = study.id, study.finetune_id
    with session_scope(url) as session:
        cancel(session, str(finetune_id))
    with session_scope(url) as session:
        study = mitigations.advance(session, study_id, Settings())
        assert study.status == "failed"
        assert study.error is not None and f"fine-tune {finetune_id} cancelled" in study.error


def test_the_same_idempotency_key_answers_with_the_first_study(url: str) -> None:
    with session_scope(url) as session:
        callers = {n: auth.create_key(session, f"caller {n}", ["write"]).id for n in (1, 2)}

    def submit(body: MitigationCreate, key: str, caller: int) -> tuple[str, bool]:
        with session_scope(url) as session:
            study, created = mitigations.submit_mitigation(
                session, body, Settings(), enqueue=False, idempotency_key=key,
                creator=Actor(f"caller {caller}", callers[caller]))
            assert study.created_by_key_id == callers[caller]
            return study.id, created

    first_id, created = submit(_study(), "k1", caller=1)
    assert created
    assert submit(_study(), "k1", caller=1) == (first_id, False)
    other_id, created = submit(_study(), "k1", caller=2)  # another API key: its own key space
    assert created and other_id != first_id
    with pytest.raises(Conflict, match="with a different request"):
        submit(_study(limit=9), "k1", caller=1)
    blank_ids = {submit(_study(), "  ", caller=1)[0] for _ in range(2)}
    assert len(blank_ids) == 2  # a blank key is no key


def test_an_adapter_eval_that_cannot_start_fails_the_study(url: str, tmp_path: Path) -> None:
    from service.models import Dataset

    with session_scope(url) as session:
        study, _ = mitigations.submit_mitigation(session, _study(), Settings(), enqueue=False)
        study_id, finetune_id = study.id, str(study.finetune_id)
    _succeed(url, finetune_id, tmp_path)
    with session_scope(url) as session:  # the evaluated dataset is renamed meanwhile
        dataset = session.scalars(select(Dataset).where(
            Dataset.name == "builtin:medical-mcq")).one()
        dataset.name = "renamed-mcq"
    with session_scope(url) as session:
        study = mitigations.advance(session, study_id, Settings())
        assert study.status == "failed" and study.adapter_eval_id is None
        assert "the adapter's eval could not start" in (study.error or "")
