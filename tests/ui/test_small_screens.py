"""A 1920x1080 laptop at 200 % offers 960x540 (logical) pixels: the panel starts inside that, keeps
every main control on screen, and a long engine error does not widen the window past it."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSettings, QSize

from ui.engine_bridge import FAILED
from ui.main_window import DEFAULT_SIZE, fitted_size

SMALL = QSize(960, 540)


def test_first_start_size_fits_the_screen():
    assert fitted_size(QSize(2560, 1400)) == DEFAULT_SIZE
    assert fitted_size(SMALL) == (960, 540)


def test_panel_fits_960x540_even_with_a_long_engine_error(make_window, tmp_path, qtbot):
    window = make_window(tmp_path / "none.json")
    window.show()
    window.indicator.set_state(FAILED, "cannot start the engine: " + "a very long reason " * 30)
    qtbot.wait(20)
    hint = window.minimumSizeHint()
    assert hint.width() <= SMALL.width() and hint.height() <= SMALL.height(), hint
    assert window.indicator.text().endswith("reason ")  # the whole text is kept (tooltip, tests)
    window.resize(SMALL)
    qtbot.wait(50)
    preview, queue = window.preview_panel, window.queue_panel
    for widget in (window.connect_button, window.delete_preset_button, preview.preview_button, preview.zoom_button,
                   preview.ab_button, queue.start_button, queue.apply_button, window.status_log):
        inside = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
        assert widget.isVisible() and window.rect().contains(inside), (widget, inside)


def test_queue_keeps_four_rows_in_small_windows(make_window, tmp_path, qtbot):
    """At 900x600 the queue showed one and a half rows; the splitter now cannot squeeze it below four."""
    window = make_window(tmp_path / "none.json")
    window.show()
    table = window.queue_panel.table
    for size in (QSize(900, 600), SMALL):
        window.resize(size)
        qtbot.wait(50)
        assert window.size() == size
        assert table.viewport().height() >= 4 * table.verticalHeader().defaultSectionSize(), size


def test_dragged_splitters_come_back_next_start(make_window, ini_settings, tmp_path, qtbot):
    """A small window's room is the artist's to share out (form, queue, messages): where the
    splitters were dragged is kept, as the window's size is."""
    first = make_window(tmp_path / "none.json", store=ini_settings)
    first.show()
    first.resize(SMALL)
    qtbot.wait(50)
    total = sum(first.main_splitter.sizes())
    first.main_splitter.setSizes([total - 260 - 34, 260, 34])  # the queue dragged taller
    main = first.main_splitter.sizes()
    first.close()
    second = make_window(tmp_path / "none.json", store=QSettings(ini_settings.fileName(), QSettings.Format.IniFormat))
    second.show()
    qtbot.wait(50)
    # (the offscreen screen is 800x600: the restored width is cut to it, the height is not)
    assert second.height() == SMALL.height() and second.main_splitter.sizes() == main
