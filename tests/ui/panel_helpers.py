"""Steps the panel tests share: connect, fill the form, start the queue, wait, read frames back."""

from __future__ import annotations

from pathlib import Path

JOB_TIMEOUT_MS = 240_000


def connect(window, qtbot) -> None:
    window.connect_button.click()
    qtbot.waitUntil(lambda: window.indicator.state == "connected", timeout=30_000)


def set_shot(window, source: Path | str, output: Path | str, first: int | None = None, last: int | None = None,
             backend: str = "classic", fmt: str = "png") -> None:
    """The form for one shot: exact source, whole clip or first-last, PNG, classic backend."""
    panel = window.source_panel
    panel.set_source(str(source))
    panel.wait_for_info()
    if last is not None:
        panel.set_frame_range(first, last)
    panel.output_edit.setText(str(output))
    panel.format_combo.setCurrentText(fmt)
    panel.output_space_combo.setCurrentText("plate")
    style = window.style_panel
    assert style.backend_combo.findText(backend) >= 0, f"the engine's capabilities offer {backend}"
    style.backend_combo.setCurrentText(backend)


def start_queue(window) -> None:
    window.queue_panel.set_running(True)


def wait_finished(window, qtbot, rows=None, timeout=JOB_TIMEOUT_MS) -> None:
    model = window.queue_model
    qtbot.waitUntil(lambda: all(model.record(r).finished for r in (rows or range(model.rowCount()))),
                    timeout=timeout)


def pngs(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*.png") if ".matte" not in p.name)
