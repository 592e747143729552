"""The summary and comparison endpoints publish real schemas, not untyped objects."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def _response_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    ref = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"]["$ref"]
    schema: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def test_summary_and_compare_have_typed_schemas(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    summary = _response_schema(spec, "/v1/evals/{eval_id}/summary")
    assert {"eval_id", "status", "mean_harmfulness", "ci_low", "n_unscored", "by_principle",
            "over_refusal_rate", "settings"} <= set(summary["properties"])
    assert summary["properties"]["by_principle"]["additionalProperties"]["$ref"].endswith(
        "/GroupStats")
    comparison = _response_schema(spec, "/v1/compare")
    assert {"base", "candidate", "grading_differs", "overall", "by_principle"} <= set(
        comparison["properties"])
    assert comparison["properties"]["overall"]["$ref"].endswith("/PairedStats")
    read = spec["components"]["schemas"]["EvalRead"]["properties"]["summary"]
    assert {"$ref": "#/components/schemas/EvalSummary"} in read["anyOf"]
