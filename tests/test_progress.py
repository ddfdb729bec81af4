"""Progress of build and eval: plain throttled lines without a terminal, a rich bar per phase on one."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.progress import Progress

from negaudio.cli.progress import CountColumn, ProgressReporter, progress_interval
from negaudio.core.errors import InputError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plain(interval: float | None = 30.0):
    """A reporter writing to a non-terminal buffer, on a hand-driven clock."""
    buffer, clock = io.StringIO(), Clock()
    reporter = ProgressReporter(Console(file=buffer, force_terminal=False), interval=interval, clock=clock)
    return reporter, buffer, clock


def lines(buffer: io.StringIO) -> list[str]:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.splitlines()


def test_plain_lines_at_most_every_interval_and_one_when_a_phase_completes():
    reporter, buffer, clock = plain()
    assert not reporter.interactive
    with reporter:
        for t, done in [(0, 0), (10, 500), (29.9, 1000)]:
            clock.now = 1000 + t
            reporter.update("rendering", done, 4000)
        assert lines(buffer) == []
        clock.now = 1030
        reporter.update("rendering", 1200, 4000)
        assert lines(buffer) == ["rendering: 1200/4000 (30%)"]
        clock.now = 1059
        reporter.update("rendering", 1500, 4000)
        assert lines(buffer) == []
        clock.now = 1060
        reporter.update("rendering", 3999, 4000)
        assert lines(buffer) == ["rendering: 3999/4000 (99%)"]
        clock.now = 1065
        reporter.update("rendering", 4000, 4000)
        reporter.update("rendering", 4000, 4000)
        assert lines(buffer) == ["rendering: 4000/4000 (100%) done in 1m05s"]
    assert lines(buffer) == []


def test_unknown_totals_show_a_count_and_complete_when_the_next_phase_starts():
    reporter, buffer, clock = plain(interval=0)
    with reporter:
        reporter.update("planning", 5, None)
        clock.now += 125
        reporter.update("planning", 9, None)
        clock.now += 10
        reporter.update("rendering", 1, 2)  # rendering began when planning last reported
        reporter.update("rendering", 2, 2)
    assert lines(buffer) == [
        "planning: 5",
        "planning: 9",
        "planning: 9 done in 2m05s",
        "rendering: 1/2 (50%)",
        "rendering: 2/2 (100%) done in 10.0s",
    ]


def test_a_note_follows_the_completion_line_of_the_phase_before_it(cli, tmp_path, capsys):
    """Re-running a finished build: 'planning: N done' comes before 'note: already built', not after it."""
    reporter, buffer, _ = plain()
    with reporter:
        reporter.update("planning", 7, None)
        reporter.note("already built")
    assert lines(buffer) == ["planning: 7 done in 0.0s"]
    assert "already built" in capsys.readouterr().err
    assert cli("build", "is3plus", "-o", tmp_path / "b", "--limit", "2").exit_code == 0
    output = cli("build", "is3plus", "-o", tmp_path / "b", "--limit", "2").output
    assert output.index("planning: 10 done") < output.index("note: already built")


def test_open_phases_complete_at_a_normal_end_but_not_after_an_error():
    reporter, buffer, clock = plain()
    with reporter:
        reporter.update("scoring", 3, 10)
        clock.now += 4
    assert lines(buffer) == ["scoring: 3/10 (30%) done in 4.0s"]
    reporter, buffer, clock = plain()
    with pytest.raises(KeyboardInterrupt), reporter:
        reporter.update("scoring", 3, 10)
        raise KeyboardInterrupt
    assert lines(buffer) == []


def test_a_phase_run_again_reports_again():
    reporter, buffer, clock = plain()
    with reporter:
        for _ in range(2):  # eval runs the model on the build, then on the calibration build
            reporter.update("running model", 16, 32)
            clock.now += 1
            reporter.update("running model", 32, 32)
    assert lines(buffer) == ["running model: 32/32 (100%) done in 1.0s"] * 2


def test_interval_from_the_environment(monkeypatch):
    monkeypatch.delenv("NEGAUDIO_PROGRESS_INTERVAL", raising=False)
    assert progress_interval() == 30
    monkeypatch.setenv("NEGAUDIO_PROGRESS_INTERVAL", "0")
    assert progress_interval() == 0
    reporter, buffer, _ = plain(interval=None)
    with reporter:
        reporter.update("reading maps", 1, 3)
        reporter.update("reading maps", 2, 3)
    assert lines(buffer)[:2] == ["reading maps: 1/3 (33%)", "reading maps: 2/3 (66%)"]
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv("NEGAUDIO_PROGRESS_INTERVAL", bad)
        with pytest.raises(InputError, match="NEGAUDIO_PROGRESS_INTERVAL"):
            progress_interval()


def test_terminal_gets_a_bar_per_phase_without_a_question_mark():
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with ProgressReporter(console) as reporter:
        assert reporter.interactive
        reporter.update("planning", 3, None)
        reporter.update("rendering", 2, 10)
        tasks = {t.description: t for t in reporter.bar.tasks}
        assert list(tasks) == ["planning", "rendering"]
        assert (tasks["planning"].total, tasks["rendering"].completed, tasks["rendering"].total) == (None, 2, 10)
    counts = Progress()
    unknown, known = counts.add_task("a", total=None, completed=3), counts.add_task("b", total=10, completed=2)
    assert str(CountColumn().render(counts.tasks[unknown])) == "3"
    assert str(CountColumn().render(counts.tasks[known])) == "2/10"


def test_cli_build_without_a_terminal_prints_plain_lines(cli, write_recipe, demo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("NEGAUDIO_PROGRESS_INTERVAL", "0")
    result = cli("build", write_recipe(), "-o", tmp_path / "out", "--source", demo_root, "--limit", "2")
    assert result.exit_code == 0, result.output
    assert "planning: 10 done in" in result.output and "rendering: 10/10 (100%) done in" in result.output
    assert "?" not in result.output
