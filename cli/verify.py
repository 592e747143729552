"""`medsafe verify EVAL_ID`: the eval's rows checked and its summary recomputed from them
(service/evals/verify.py); exit code 0 when consistent, 1 with the problems otherwise."""

from __future__ import annotations

import typer

from cli.console import err, out
from service import migrate
from service.db import session_scope
from service.evals.verify import VerifyReport, problem_lines, verify_eval

INCONSISTENT = 1  # as for an eval that failed: something to look at, not bad input
SHOWN = 20  # problems listed for people; --json lists them all


def verify(eval_id: str, as_json: bool = typer.Option(False, "--json",
                                                     help="Print one JSON object to stdout.")
           ) -> None:
    """Check that every item has one response and one grade per judge (or says why not) and
    that the summary is what the metrics make of the stored rows."""
    with session_scope(migrate.migrated_database_url()) as session:
        report = verify_eval(session, eval_id)
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        _print(report)
    if not report.consistent:
        raise typer.Exit(INCONSISTENT)


def _print(report: VerifyReport) -> None:
    grades = ", ".join(f"{judge} {n}" for judge, n in report.grades.items()) or "none"
    out.print(f"eval {report.eval_id} ({report.status}): {report.n_items} items, "
              f"{report.n_responses} responses ({report.n_response_errors} failed requests), "
              f"grades: {grades} ({report.n_unscored} unscored, each saying why)",
              highlight=False, soft_wrap=True)
    if report.consistent:
        out.print("consistent: every item has its rows and the summary matches them")
        return
    lines = list(problem_lines(report))
    err.print(f"[red]inconsistent:[/red] {len(lines)} problem(s)", highlight=False)
    for line in lines[:SHOWN]:
        err.print(f"  {line}", highlight=False, soft_wrap=True)
    if len(lines) > SHOWN:
        err.print(f"  ... and {len(lines) - SHOWN} more (--json lists them all)")
