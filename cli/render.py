"""Terminal rendering: evals, comparisons and datasets as rich tables for people."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from service.benchmarks.principles import PRINCIPLES
from service.benchmarks.store import DatasetSummary
from service.calibration.schemas import CalibrationRead, JudgeCalibration
from service.evals.schemas import EvalComparison, Leaderboard
from service.finetunes.schemas import MitigationRead
from service.models import Eval
from service.pipeline.summaries import EvalSummary, GroupStats, PairedStats
from service.schedules.schemas import ScheduleRead, ScheduleRunRead

SMALL_JUDGE_WARNING = (
    "The judge is the bundled 135M-parameter model: it proves the pipeline runs end to end, "
    "not how safe the model is. Use a capable judge (--judge) for scores you can trust."
)
_EMPTY = GroupStats(n=0, n_scored=0, n_unscored=0, mean=None, ci_low=None, ci_high=None,
                    harmful_rate=None, full_compliance_rate=None, refusal_rate=None)


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.0f}%" if pct else f"{value:.2f}"


def _mean_ci(mean: float | None, low: float | None, high: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.2f} [{_fmt(low)}, {_fmt(high)}]"


def _stats_row(label: str, stats: GroupStats) -> tuple[str, ...]:
    return (label, str(stats.n), _mean_ci(stats.mean, stats.ci_low, stats.ci_high),
            _fmt(stats.harmful_rate, pct=True), _fmt(stats.refusal_rate, pct=True))


def print_eval(console: Console, evaluation: Eval,
               calibration: JudgeCalibration | None = None) -> None:
    if not evaluation.summary:
        console.print(f"eval {evaluation.id} is {evaluation.status}"
                      + (f": {evaluation.error}" if evaluation.error else ""))
        return
    summary = EvalSummary.model_validate(evaluation.summary)
    table = Table(title=f"Medical safety of {evaluation.model} (eval {evaluation.id})")
    for column in ("principle", "n", "mean harmfulness [95% CI]", "harmful (≥4)", "refusal"):
        table.add_column(column, justify="left" if column == "principle" else "right")
    for principle in PRINCIPLES:
        table.add_row(*_stats_row(f"{principle.number}. {principle.name}",
                                  summary.by_principle[str(principle.number)]))
    table.add_section()
    for kind, label in (("harmful_medical", "medical safety"),
                        ("harmful_general", "general safety")):
        table.add_row(*_stats_row(label, summary.by_kind.get(kind) or _EMPTY))
    table.add_row("all harmful", str(summary.n_harmful),
                  _mean_ci(summary.mean_harmfulness, summary.ci_low, summary.ci_high),
                  _fmt(summary.harmful_rate, pct=True), _fmt(summary.refusal_rate, pct=True))
    console.print(table)
    console.print(f"over-refusal on benign medical questions: "
                  f"{_fmt(summary.over_refusal_rate, pct=True)}   "
                  f"unscored (judge output unparseable): {summary.n_unscored} of "
                  f"{summary.n_items}")
    cut = evaluation.settings.get("sampling", {}).get("max_tokens")
    console.print(f"answers cut off by max_tokens={cut}: {summary.n_truncated} of "
                  f"{summary.n_items}   judge/refusal-detector disagreements: "
                  f"{summary.n_disagreements} (GET .../results?disagreement=true)")
    if summary.capability is not None:
        cap = summary.capability
        accuracy = _mean_ci(cap.accuracy, cap.ci_low, cap.ci_high)
        console.print(f"medical capability: accuracy {accuracy} on {cap.n_scored} of {cap.n} "
                      "multiple-choice questions", highlight=False)
    if calibration is not None:
        console.print(calibration.line(), highlight=False, soft_wrap=True)
    for warning in summary.warnings:
        console.print(f"[yellow]warning: {warning}[/yellow]", highlight=False)
    if evaluation.judge.startswith("bundled:"):
        console.print(f"[yellow]{SMALL_JUDGE_WARNING}[/yellow]")


def print_comparison(console: Console, comparison: EvalComparison) -> None:
    table = Table(title=f"{comparison.candidate} minus {comparison.base} "
                        "(mean harmfulness; negative is safer)")
    for column in ("principle", "pairs", "base", "candidate", "difference [95% CI]"):
        table.add_column(column, justify="left" if column == "principle" else "right")
    rows: list[tuple[str, PairedStats]] = [("all", comparison.overall)] + [
        (f"{p.number}. {p.name}", comparison.by_principle[str(p.number)]) for p in PRINCIPLES]
    if comparison.n_shared_items == 0:
        console.print("[yellow]0 shared items: the two evals answered different items "
                      "(other datasets, --limit or --draw-seed), so there is nothing to "
                      "pair.[/yellow]")
    for setting, (base, candidate) in comparison.grading_differs.items():
        console.print(f"[yellow]Graded differently: {setting} {base} against {candidate}; "
                      "the scores may not be on one scale.[/yellow]")
    for label, stats in rows:
        diff = stats.mean_difference
        table.add_row(label, str(stats.n_pairs), _fmt(stats.base_mean),
                      _fmt(stats.candidate_mean),
                      "-" if diff is None else f"{diff:+.2f} [{_fmt(stats.ci_low)}, "
                      f"{_fmt(stats.ci_high)}]")
    console.print(table)


def _change(stats: PairedStats | None, pct: bool = False) -> tuple[str, str, str]:
    if stats is None or stats.mean_difference is None:
        return "-", "-", "-"
    scale = 100 if pct else 1
    unit = " pp" if pct else ""
    return (_fmt(stats.base_mean, pct), _fmt(stats.candidate_mean, pct),
            f"{scale * stats.mean_difference:+.2f}{unit} [{scale * (stats.ci_low or 0):+.2f}, "
            f"{scale * (stats.ci_high or 0):+.2f}]")


def print_mitigation(console: Console, read: MitigationRead) -> None:
    """The before/after report of a mitigation study, paired over the same items."""
    if read.report is None:
        console.print(f"mitigation {read.id} is {read.status} ({read.step})"
                      + (f": {read.error}" if read.error else ""), highlight=False)
        return
    report = read.report
    table = Table(title=f"{report.adapter} against {report.model} (paired; negative "
                        "harmfulness is safer)")
    for column in ("measure", "pairs", "before", "after", "change [95% CI]"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row("mean harmfulness", str(report.harmfulness.n_pairs),
                  *_change(report.harmfulness))
    for p in PRINCIPLES:
        stats = report.harmfulness_by_principle[str(p.number)]
        table.add_row(f"  {p.number}. {p.name}", str(stats.n_pairs), *_change(stats))
    table.add_section()
    rates: list[tuple[str, PairedStats | None]] = [
        ("harmful rate (score >= 4)", report.harmful_rate),
                         ("refusal rate, harmful", report.refusal.change),
                         ("full compliance (detector)", report.compliance.change),
                         ("over-refusal, benign", report.over_refusal.change),
                         ("capability (MCQ accuracy)", report.capability_change)]
    for label, rate in rates:
        table.add_row(label, str(rate.n_pairs) if rate else "0", *_change(rate, pct=True))
    console.print(table)
    training = report.training
    console.print(f"fine-tune {training['finetune_id']}: {training['steps']} steps, loss "
                  f"{training['loss_first']} -> {training['loss_last']}", highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]warning: {warning}[/yellow]", highlight=False)


def print_dataset(console: Console, summary: DatasetSummary) -> None:
    console.print(f"[bold]{summary.name}[/bold] (id {summary.id}): {summary.n_items} items "
                  f"from {summary.origin}")
    for label, counts in (("kind", summary.by_kind), ("principle", summary.by_principle),
                          ("source", summary.by_source), ("split", summary.by_split)):
        shown = ", ".join(f"{key}: {count}" for key, count in counts.items())
        console.print(f"  per {label}: {shown}")


def print_calibration(console: Console, read: CalibrationRead) -> None:
    """A calibration's agreement with the human labels: one row per statistic, one column for
    the whole set and one per split (value [95% CI])."""
    if read.report is None:
        console.print(f"calibration {read.id} is {read.status}"
                      + (f": {read.error}" if read.error else ""), highlight=False)
        return
    report = read.report
    parts = [("all", report.refusal, report.harmfulness, report.n)] + [
        (name, split.refusal, split.harmfulness, split.n)
        for name, split in report.by_split.items()]
    table = Table(title=f"{report.judge} against human labels on {report.set} "
                        f"(calibration {read.id})")
    table.add_column("statistic")
    for name, _, _, n in parts:
        table.add_column(f"{name} (n={n})", justify="right")
    if report.refusal is not None:
        for stat in ("agreement", "precision", "recall", "f1", "kappa"):
            table.add_row(f"refusal {stat}", *(
                _with_ci(getattr(r, stat), r.ci.get(stat)) if r else "n/a"
                for _, r, _, _ in parts))
        table.add_section()
    if report.harmfulness is not None:
        for stat in ("weighted_kappa", "exact", "within_1", "mae", "spearman",
                     "harmful_precision", "harmful_recall"):
            table.add_row(f"harmfulness {stat}", *(
                _with_ci(getattr(h, stat), h.ci.get(stat)) if h else "n/a"
                for _, _, h, _ in parts))
        table.add_row("harmfulness unscored", *(
            _fmt(h.unscored_rate, pct=True) if h else "n/a" for _, _, h, _ in parts))
    console.print(table)


def _with_ci(value: float | None, ci: tuple[float, float] | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def print_schedule(console: Console, read: ScheduleRead,
                   runs: list[ScheduleRunRead] | None = None) -> None:
    state = "enabled" if read.enabled else "disabled"
    upcoming = read.next_fire_time.isoformat() if read.next_fire_time else "-"
    console.print(f"[bold]{read.name}[/bold] ({read.id}, {state}): '{read.cron}' in "
                  f"{read.timezone}; next {upcoming}; {read.template.get('model')} on "
                  f"{', '.join(read.template.get('datasets', []))}"
                  + (f"; webhook {read.webhook_url}" if read.webhook_url else ""),
                  highlight=False, soft_wrap=True)
    for run in runs or []:
        verdict = {True: "REGRESSED", False: "no regression", None: "not compared"}[
            run.regressed]
        console.print(f"  {run.fire_time.isoformat()}{' (manual)' if run.manual else ''}: "
                      f"eval {run.eval_id or '-'} {run.status or run.error or ''}, {verdict}",
                      highlight=False, soft_wrap=True)


def print_leaderboard(console: Console, board: Leaderboard) -> None:
    table = Table(title=f"Leaderboard on {board.dataset} (safest first)")
    for column in ("rank", "model", "eval", "mean harmfulness [95% CI]", "harmful (≥4)",
                   "refusal", "least safe principle"):
        table.add_column(column, justify="left" if column in ("model", "eval") else "right",
                         overflow="fold")
    for row in board.rows:
        means = {k: v for k, v in row.by_principle.items() if v is not None}
        worst = max(means, key=lambda k: means[k]) if means else None
        table.add_row(str(row.rank), row.model, row.eval_id[:8],
                      _mean_ci(row.mean_harmfulness, row.ci_low, row.ci_high),
                      _fmt(row.harmful_rate, pct=True), _fmt(row.refusal_rate, pct=True),
                      f"{worst}: {means[worst]:.2f}" if worst else "-")
    console.print(table)
    if board.comparable_on:
        on = board.comparable_on
        console.print(f"comparable on: judge {on['judge']}, grading {on['grading']}, "
                      f"rubric {on['rubric_version']}, sampling {on['sampling']}, items "
                      f"{on['items_sha256']}", highlight=False, soft_wrap=True)
    for excluded in board.excluded:
        console.print(f"[yellow]left out: {excluded['model']} (differs in "
                      f"{excluded['differs_in']})[/yellow]", highlight=False)
