"""The demo's terminal output: a live line per fleet while it waits, then the summary table."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from devstack.observe import FleetReport


def fleet_line(report: FleetReport) -> str:
    return (
        f"  {report.scenario.fleet_ref:<16} stage {report.stage:<15} run {report.run_state:<8}"
        f" rows {report.rows:<5} operational events handled {report.operations}"
    )


class LiveBoard:
    """Redraws one line per fleet in place on a terminal; elsewhere prints a line when a fleet changes."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self._drawn = 0
        self._last: dict[str, str] = {}

    def update(self, reports: Sequence[FleetReport], status: str = "") -> None:
        lines = [fleet_line(report) for report in reports]
        if status:
            lines.append(f"  {status}")
        if self.interactive:
            if self._drawn:
                self.stream.write(f"\x1b[{self._drawn}F")
            self.stream.write("".join(f"\x1b[2K{line}\n" for line in lines))
            self._drawn = len(lines)
        else:
            for report, line in zip(reports, lines, strict=False):
                if self._last.get(report.scenario.fleet_ref) != line:
                    self._last[report.scenario.fleet_ref] = line
                    self.stream.write(line + "\n")
        self.stream.flush()


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([render(headers), render(["-" * width for width in widths]), *(render(row) for row in rows)])


def _time(at: datetime | None) -> str:
    return at.strftime("%H:%M:%S.%f")[:-3] if at else "-"


def summary(reports: Sequence[FleetReport]) -> str:
    """The outcome table, then each fleet's stages with the time the inbox recorded them."""
    rows = [
        (
            report.scenario.fleet_ref,
            report.scenario.kind,
            report.stage,
            report.run_state,
            report.woken_by,
            str(report.rows),
            ", ".join(f"{name} x{n}" for name, n in sorted(report.handled.items())) or "-",
            "ok" if not report.problems else "UNEXPECTED: " + "; ".join(report.problems),
        )
        for report in reports
    ]
    parts = [
        _table(
            ("fleet", "scenario", "stage", "run", "sensor saw it via", "rows", "operations handled", "outcome"), rows
        ),
        "",
        "Stages:",
    ]
    for report in reports:
        stages = report.onboarding.stage_times if report.onboarding else {}
        timeline = ", ".join(f"{stage.value} {_time(at)}" for stage, at in sorted(stages.items(), key=lambda i: i[1]))
        reason = report.onboarding.decline_reason if report.onboarding else None
        parts.append(
            f"  {report.scenario.fleet_ref:<16} {timeline or '-'}" + (f"  (reason: {reason})" if reason else "")
        )
    return "\n".join(parts)
