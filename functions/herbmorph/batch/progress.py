"""The live progress bar (rich): images done, images per second, ETA, outcome counts."""
from __future__ import annotations

import contextlib

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn, \
    TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

console = Console(stderr=True)


class RateColumn(ProgressColumn):
    """Images per second over rich's recent window (so a slow start does not skew the ETA)."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.2f} img/s" if speed else "  ?   img/s", style="progress.data.speed")


class _Bar:
    def __init__(self, progress: Progress | None, task, counts: dict):
        self.progress, self.task, self.counts = progress, task, counts

    def _describe(self) -> str:
        c = self.counts
        parts = [f"[green]{c.get('measured', 0)} measured", f"{c.get('current', 0)} current"]
        failed = c.get("failed", 0) + c.get("kept-failed", 0)
        if failed:
            parts.append(f"[red]{failed} failed")
        return " · ".join(parts)

    def advance(self, action: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, description=self._describe())

    def note(self, text: str) -> None:
        (self.progress.console if self.progress is not None else console).print(f"[yellow]{text}")


class BatchProgress:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled

    @contextlib.contextmanager
    def listing(self, what: str):
        if not self.enabled:
            yield
            return
        with console.status(f"listing {what} …"):
            yield

    @contextlib.contextmanager
    def running(self, total: int, counts: dict):
        if not self.enabled:
            yield _Bar(None, None, counts)
            return
        progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=console, speed_estimate_period=60)
        with progress:
            bar = _Bar(progress, None, counts)
            bar.task = progress.add_task(bar._describe(), total=total)
            yield bar
