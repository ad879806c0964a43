from rich.console import Console

from chaos.live import LiveView, Status, panel, plain_line

STATUS = Status(elapsed=12.3, total=60, phase="fault", phase_left=7.7, active_faults=["slow redis"], throughput=120,
                error_rate=0.015, p99_ms=930, hypotheses=[("fast: latency.p99", "over")])


def test_plain_line_says_everything_on_one_line():
    line = plain_line(STATUS)
    for part in ("12.3s of 60s", "phase fault (8s left)", "faults: slow redis", "120 req/s", "errors 1.5%",
                 "p99 930 ms", "fast: latency.p99=over"):
        assert part in line
    assert "\n" not in line


def test_not_a_terminal_means_plain_lines_without_control_characters(tmp_path):
    path = tmp_path / "ci.log"
    with open(path, "w") as handle:
        console = Console(file=handle, force_terminal=False)
        with LiveView(console) as view:
            view.update(STATUS)
            view.update(STATUS)  # throttled: one line per few seconds in CI logs
            view.message("injected slow redis")
    text = path.read_text()
    assert "\x1b" not in text and "\r" not in text
    assert text.count("phase fault") == 1 and "injected slow redis" in text


def test_names_with_rich_markup_are_printed_as_written_in_the_live_panel():
    status = Status(elapsed=1, total=60, phase="fault", phase_left=7, active_faults=["[/x] slow [bold]redis"],
                    throughput=1, error_rate=0, p99_ms=1, hypotheses=[("[/] fast", "ok")])
    console = Console(record=True, width=200, force_terminal=True)
    console.print(panel(status))  # a closing tag with nothing open used to raise MarkupError
    text = console.export_text()
    assert "[/x] slow [bold]redis" in text and "ok [/] fast (so far)" in text
