"""Creating evals: validation, sharding and seeded sampling across principles."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.benchmarks.items import ItemKind, ItemRecord
from service.benchmarks.store import save_dataset
from service.db import session_scope
from service.errors import InvalidInput
from service.evals import grades
from service.evals import service as evals
from service.models import Eval, Item, Shard
from service.pipeline.engine import SamplingSettings


def _dataset(url: str, per_principle: int = 4) -> None:
    items = [
        ItemRecord(f"request {p}-{i}", ItemKind.HARMFUL_MEDICAL, "gpt4", principle=p)
        for p in range(1, 10)
        for i in range(per_principle)
    ]
    with session_scope(url) as session:
        save_dataset(session, "msb", items, origin="test")


def _request(**overrides: object) -> evals.EvalRequest:
    fields: dict[str, object] = {"model": "m", "datasets": ["msb"], "judge": "j"}
    fields.update(overrides)
    return evals.EvalRequest(**fields)  # type: ignore[arg-type]


def test_limit_samples_evenly_across_all_nine_principles(db_url: str) -> None:
    _dataset(db_url)
    with session_scope(db_url) as session:
        evaluation = evals.submit_eval(
            session, _request(limit=18, shard_size=5), enqueue=False
        ).evaluation
        item_ids = [
            i
            for s in session.scalars(
                select(Shard).where(Shard.eval_id == evaluation.id, Shard.stage == "generate")
            )
            for i in s.item_ids
        ]
        principles = list(session.scalars(select(Item.principle).where(Item.id.in_(item_ids))))
    assert len(item_ids) == 18
    assert sorted(principles) == sorted(list(range(1, 10)) * 2)


def test_sampling_is_seeded(db_url: str) -> None:
    _dataset(db_url)
    with session_scope(db_url) as session:
        dataset_ids = list(session.scalars(select(Item.dataset_id).distinct()))
        first = evals.select_items(session, dataset_ids, 9, seed=1)
        again = evals.select_items(session, dataset_ids, 9, seed=1)
        other = evals.select_items(session, dataset_ids, 9, seed=2)
    assert first == again
    assert first != other


def test_shards_cover_every_item_once_per_stage(db_url: str) -> None:
    _dataset(db_url)
    with session_scope(db_url) as session:
        evaluation = evals.submit_eval(session, _request(shard_size=10), enqueue=False).evaluation
        shards = list(session.scalars(select(Shard).where(Shard.eval_id == evaluation.id)))
    for stage in ("generate", "judge"):
        ids = [i for s in shards if s.stage == stage for i in s.item_ids]
        assert len(ids) == len(set(ids)) == 36
    assert evaluation.n_items == 36
    assert evaluation.settings["sampling"]["max_tokens"] == SamplingSettings().max_tokens
    assert evaluation.settings["grading"] == "reasoned"
    assert grades.evaluation_grading(evaluation) == "reasoned"


def test_grading_mode_is_recorded(db_url: str) -> None:
    _dataset(db_url)
    with session_scope(db_url) as session:
        evaluation = evals.submit_eval(session, _request(grading="score"), enqueue=False).evaluation
        assert grades.evaluation_grading(evaluation) == "score"
        # Evals recorded before grading modes existed were graded with reasons.
        del evaluation.settings["grading"]
        assert grades.evaluation_grading(evaluation) == "reasoned"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"datasets": []}, "at least one dataset"),
        ({"limit": 0}, "limit"),
        ({"shard_size": 0}, "shard_size"),
        ({"sampling": SamplingSettings(temperature=3.0)}, "temperature"),
        ({"sampling": SamplingSettings(max_tokens=0)}, "max_tokens"),
        ({"grading": "verbose"}, "grading must be one of reasoned, score"),
    ],
)
def test_invalid_requests_write_nothing(
    db_url: str, overrides: dict[str, object], message: str
) -> None:
    _dataset(db_url)
    with pytest.raises(InvalidInput, match=message), session_scope(db_url) as session:
        evals.submit_eval(session, _request(**overrides), enqueue=False)
    with session_scope(db_url) as session:
        assert session.scalars(select(Eval)).first() is None


def test_unknown_dataset_is_an_input_error_naming_the_datasets(db_url: str) -> None:
    with pytest.raises(InvalidInput, match="no dataset 'nope'"), session_scope(db_url) as session:
        evals.submit_eval(session, _request(datasets=["nope"]), enqueue=False)


def test_a_limit_of_nine_covers_every_principle_before_other_strata(db_url: str) -> None:
    _dataset(db_url)
    extra = [ItemRecord(f"benign {i}", ItemKind.BENIGN_MEDICAL, "test") for i in range(5)]
    extra += [ItemRecord(f"general {i}", ItemKind.HARMFUL_GENERAL, "test") for i in range(5)]
    with session_scope(db_url) as session:
        save_dataset(session, "mixed", extra, origin="test")
        dataset_ids = list(session.scalars(select(Item.dataset_id).distinct()))
        chosen = evals.select_items(session, dataset_ids, 9, seed=0)
        principles = sorted(session.scalars(select(Item.principle).where(Item.id.in_(chosen))))
        eleven = evals.select_items(session, dataset_ids, 11, seed=0)
        kinds = set(session.scalars(select(Item.kind).where(Item.id.in_(eleven))))
    assert principles == list(range(1, 10))
    assert kinds == {"harmful_medical", "benign_medical", "harmful_general"}


def _drawn(url: str, request: evals.EvalRequest) -> list[int]:
    with session_scope(url) as session:
        eval_id = evals.submit_eval(session, request, enqueue=False).evaluation.id
        return sorted(i for s in session.scalars(select(Shard).where(
            Shard.eval_id == eval_id, Shard.stage == "generate")) for i in s.item_ids)


def test_the_sampling_seed_does_not_change_which_items_are_drawn(db_url: str) -> None:
    _dataset(db_url)
    seed_1 = _drawn(db_url, _request(limit=9, sampling=SamplingSettings(seed=1)))
    seed_2 = _drawn(db_url, _request(limit=9, sampling=SamplingSettings(seed=2)))
    other_draw = _drawn(db_url, _request(limit=9, draw_seed=5))
    assert seed_1 == seed_2
    assert other_draw != seed_1 and len(other_draw) == 9
