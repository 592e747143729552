"""Renders evals, comparisons and datasets for people (rich tables) and programs (JSON)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from service import evals, metrics
from service.benchmarks.principles import PRINCIPLES
from service.benchmarks.store import DatasetSummary
from service.models import Eval

SMALL_JUDGE_WARNING = (
    "The judge is the bundled 135M-parameter model: it proves the pipeline runs end to end, "
    "not how safe the model is. Use a capable judge (--judge) for scores you can trust."
)


def eval_json(evaluation: Eval) -> dict[str, Any]:
    """The eval as one JSON-able object: identity, status, settings and the summary."""
    return {
        "eval_id": evaluation.id,
        "status": evaluation.status,
        "model": evaluation.model,
        "judge": evaluation.judge,
        "error": evaluation.error,
        **(evaluation.summary or {"n_items": evaluation.n_items}),
        "settings": evaluation.settings,
        "target_engine": evaluation.target_engine,
        "judge_engine": evaluation.judge_engine,
    }


def compare_evals(session: Session, base_id: str, candidate_id: str) -> dict[str, Any]:
    base = evals.get_eval(session, base_id)
    candidate = evals.get_eval(session, candidate_id)
    comparison = metrics.compare(evals.graded_items(session, base.id),
                                 evals.graded_items(session, candidate.id),
                                 seed=evals.evaluation_seed(base))
    return {"base": base.id, "candidate": candidate.id,
            "grading_differs": grading_differences(base, candidate), **comparison}


def grading_differences(base: Eval, candidate: Eval) -> dict[str, list[Any]]:
    """The grading settings in which two evals differ, as {setting: [base, candidate]}.
    Scores are on one scale only when the same judge graded with the same rubric the same way."""
    pairs = {
        "judge": (base.judge, candidate.judge),
        "rubric_version": (base.settings.get("rubric_version"),
                           candidate.settings.get("rubric_version")),
        "grading": (evals.evaluation_grading(base), evals.evaluation_grading(candidate)),
    }
    return {key: list(pair) for key, pair in pairs.items() if pair[0] != pair[1]}


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.0f}%" if pct else f"{value:.2f}"


def _mean_ci(stats: dict[str, Any]) -> str:
    if stats.get("mean") is None:
        return "-"
    return f"{stats['mean']:.2f} [{_fmt(stats.get('ci_low'))}, {_fmt(stats.get('ci_high'))}]"


def print_eval(console: Console, evaluation: Eval) -> None:
    summary = evaluation.summary
    if not summary:
        console.print(f"eval {evaluation.id} is {evaluation.status}"
                      + (f": {evaluation.error}" if evaluation.error else ""))
        return
    table = Table(title=f"Medical safety of {evaluation.model} (eval {evaluation.id})")
    for column in ("principle", "n", "mean harmfulness [95% CI]", "harmful (≥4)", "refusal"):
        table.add_column(column, justify="left" if column == "principle" else "right")
    for principle in PRINCIPLES:
        stats = summary["by_principle"][str(principle.number)]
        table.add_row(f"{principle.number}. {principle.name}", str(stats["n"]),
                      _mean_ci(stats), _fmt(stats["harmful_rate"], pct=True),
                      _fmt(stats["refusal_rate"], pct=True))
    table.add_section()
    for kind, label in (("harmful_medical", "medical safety"), ("harmful_general",
                                                               "general safety")):
        stats = summary["by_kind"].get(kind) or {"n": 0, "mean": None, "harmful_rate": None,
                                                 "refusal_rate": None}
        table.add_row(label, str(stats["n"]), _mean_ci(stats),
                      _fmt(stats["harmful_rate"], pct=True), _fmt(stats["refusal_rate"], pct=True))
    table.add_row("all harmful", str(summary["n_harmful"]), _mean_ci(
        {"mean": summary["mean_harmfulness"], "ci_low": summary["ci_low"],
         "ci_high": summary["ci_high"]}), _fmt(summary["harmful_rate"], pct=True),
        _fmt(summary["refusal_rate"], pct=True))
    console.print(table)
    console.print(f"over-refusal on benign medical questions: "
                  f"{_fmt(summary['over_refusal_rate'], pct=True)}   "
                  f"unscored (judge output unparseable): {summary['n_unscored']} of "
                  f"{summary['n_items']}")
    if evaluation.judge.startswith("bundled:"):
        console.print(f"[yellow]{SMALL_JUDGE_WARNING}[/yellow]")


def print_comparison(console: Console, comparison: dict[str, Any]) -> None:
    table = Table(title=f"{comparison['candidate']} minus {comparison['base']} "
                        "(mean harmfulness; negative is safer)")
    for column in ("principle", "pairs", "base", "candidate", "difference [95% CI]"):
        table.add_column(column, justify="left" if column == "principle" else "right")
    rows = [("all", comparison["overall"])] + [
        (f"{p.number}. {p.name}", comparison["by_principle"][str(p.number)]) for p in PRINCIPLES]
    for setting, (base, candidate) in comparison.get("grading_differs", {}).items():
        console.print(f"[yellow]Graded differently: {setting} {base} against {candidate}; "
                      "the scores may not be on one scale.[/yellow]")
    for label, stats in rows:
        diff = stats.get("mean_difference")
        table.add_row(label, str(stats["n_pairs"]), _fmt(stats.get("base_mean")),
                      _fmt(stats.get("candidate_mean")),
                      "-" if diff is None else f"{diff:+.2f} [{_fmt(stats.get('ci_low'))}, "
                      f"{_fmt(stats.get('ci_high'))}]")
    console.print(table)


def dataset_dict(summary: DatasetSummary) -> dict[str, Any]:
    return asdict(summary)


def print_dataset(console: Console, summary: DatasetSummary) -> None:
    console.print(f"[bold]{summary.name}[/bold] (id {summary.id}): {summary.n_items} items "
                  f"from {summary.origin}")
    for label, counts in (("kind", summary.by_kind), ("principle", summary.by_principle),
                          ("source", summary.by_source), ("split", summary.by_split)):
        shown = ", ".join(f"{key}: {count}" for key, count in counts.items())
        console.print(f"  per {label}: {shown}")
