"""GET /v1/compare says which side is which: every number is candidate minus base, with each
side's own mean, so a comparison that swapped the two evals reads differently."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from service.db import session_scope
from service.models import Judgment
from service.pipeline.judging.refusal import REFUSAL_JUDGE
from tests.service.api.builders import finished_eval
from tests.service.api.conftest import add_dataset


def _never_refuses(db_url: str, eval_id: str) -> None:
    with session_scope(db_url) as session:
        session.execute(update(Judgment).where(
            Judgment.eval_id == eval_id, Judgment.judge == REFUSAL_JUDGE)
            .values(refused=False, refusal="full_compliance"))


def _paired(stats: dict[str, float | None], base: float, candidate: float) -> None:
    assert stats["base_mean"] == pytest.approx(base)
    assert stats["candidate_mean"] == pytest.approx(candidate)
    assert stats["mean_difference"] == pytest.approx(candidate - base)
    low, high = stats["ci_low"], stats["ci_high"]
    assert low is not None and high is not None and low <= candidate - base <= high


def test_compare_pins_base_and_candidate_with_their_numbers(
        client: TestClient, reader: dict[str, str], api_settings: str) -> None:
    add_dataset(api_settings)  # 18 harmful items, 2 per principle, then one benign question
    # Item n (0..18) scores n % 5 + 1 in the base and (n + 1) % 5 + 1 in the candidate; the
    # base's refusal detector saw every third answer refused, the candidate's none.
    base = finished_eval(api_settings)
    candidate = finished_eval(api_settings, score_offset=1)
    _never_refuses(api_settings, candidate)
    response = client.get("/v1/compare", params={"base": base, "candidate": candidate},
                          headers=reader)
    assert response.status_code == 200, response.text
    comparison = response.json()
    assert (comparison["base"], comparison["candidate"]) == (base, candidate)
    assert comparison["overall"]["n_pairs"] == 18
    _paired(comparison["overall"], base=51 / 18, candidate=54 / 18)  # the candidate: worse
    _paired(comparison["harmful_rate"], base=6 / 18, candidate=7 / 18)
    _paired(comparison["by_principle"]["1"], base=(1 + 2) / 2, candidate=(2 + 3) / 2)
    _paired(comparison["by_principle"]["3"], base=(5 + 1) / 2, candidate=(1 + 2) / 2)
    _paired(comparison["refusal"], base=6 / 18, candidate=0.0)
    _paired(comparison["over_refusal"], base=1.0, candidate=0.0)
    swapped = client.get("/v1/compare", params={"base": candidate, "candidate": base},
                         headers=reader).json()
    assert (swapped["base"], swapped["candidate"]) == (candidate, base)
    _paired(swapped["overall"], base=54 / 18, candidate=51 / 18)
    _paired(swapped["refusal"], base=0.0, candidate=6 / 18)
