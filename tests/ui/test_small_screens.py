"""A 1920x1080 laptop at 200 % offers 960x540 (logical) pixels: the panel starts inside that, keeps
every main control on screen, and a long engine error does not widen the window past it."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSettings, QSize

from ui.engine_bridge import FAILED
from ui.main_window import DEFAULT_SIZE, fitted_size
from ui.window_fit import frame_on_screen

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
    first.main_splitter.moveSplitter(first.main_splitter.sizes()[0] - 30, 1)  # the queue dragged taller
    main = first.main_splitter.sizes()
    first.close()
    second = make_window(tmp_path / "none.json", store=QSettings(ini_settings.fileName(), QSettings.Format.IniFormat))
    second.show()
    qtbot.wait(50)
    # (the offscreen screen is 800x600: the restored width is cut to it, the height is not)
    assert second.height() == SMALL.height() and second.main_splitter.sizes() == main


def test_a_framed_window_is_moved_and_shrunk_onto_the_screen():
    """The window manager's title bar (13 px here) comes on top of the first-start size: the frame is
    brought back inside the free area, the inside shrunk by what stuck out."""
    screen = QRect(0, 0, 960, 540)
    frame, inside = QRect(0, 0, 962, 553), QRect(1, 12, 960, 540)
    fitted = frame_on_screen(frame, inside, screen)
    assert fitted == QRect(1, 12, 958, 527)
    assert screen.contains(fitted.adjusted(-1, -12, 1, 1))  # with its frame
    assert frame_on_screen(QRect(300, 200, 400, 300), QRect(301, 212, 398, 287), screen) is None
    # a window placed past the right and bottom edges is moved in, its size kept where it fits
    assert frame_on_screen(QRect(700, 400, 402, 313), QRect(701, 412, 400, 300), screen) == QRect(559, 239, 400, 300)


def test_minimum_height_leaves_room_for_a_title_bar_at_960x540(make_window, tmp_path, qtbot):
    """Below 540 - 40 px: a title bar (and a task bar's few pixels) fit above a shrunk window."""
    window = make_window(tmp_path / "none.json")
    window.show()
    qtbot.wait(20)
    assert window.minimumSizeHint().height() <= SMALL.height() - 40, window.minimumSizeHint()


def test_an_800x600_window_keeps_every_control_in_reach(make_window, tmp_path, qtbot):
    """The window could not be narrower than 831 px (the form's full width beside the preview's): on an
    800-pixel screen its right edge (1:1, Delete) was off the screen. Now the form scrolls sideways."""
    window = make_window(tmp_path / "none.json")
    window.show()
    assert window.minimumSizeHint().width() <= 800, window.minimumSizeHint()
    window.resize(QSize(800, 600))
    qtbot.wait(50)
    assert window.size() == QSize(800, 600)
    preview, queue, source = window.preview_panel, window.queue_panel, window.source_panel
    for widget in (window.connect_button, window.delete_preset_button, window.add_button, preview.preview_button,
                   preview.zoom_button, preview.ab_button, queue.start_button, queue.apply_button, window.status_log):
        inside = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
        assert widget.isVisible() and window.rect().contains(inside), (widget, inside)
    assert preview.scrub.width() >= 64  # a slider, not a lone handle
    viewport = window.form_scroll.viewport()
    for widget in (source.browse_button, source.browse_output_button, window.style_panel.exemplar_edit):
        window.form_scroll.ensureWidgetVisible(widget)   # what focusing it by Tab does
        qtbot.wait(20)
        assert viewport.rect().contains(QRect(widget.mapTo(viewport, QPoint(0, 0)), widget.size())), widget
    for size in (QSize(1280, 720), SMALL):  # where the whole form fits beside the preview: no side scrolling
        window.resize(size)
        qtbot.wait(50)
        assert not window.form_scroll.horizontalScrollBar().isVisible(), size


def test_long_notices_and_preview_failures_do_not_widen_the_window(make_window, tmp_path, qtbot):
    """A refused drop naming a long path made the window 3685 px wide, a failed preview 5357: both lines
    are now cut in the middle to the room there is, whole in text() and the tooltip."""
    window = make_window(tmp_path / "none.json")
    window.show()
    window.resize(SMALL)
    qtbot.wait(50)
    path = "/very/long/" + "folder_name_ü_" * 40 + "notes.txt"
    window.show_refused([f"{path}: not a video, image sequence or image"], True)
    window.preview_panel.show_failure(f"cannot read {path}: " + "a long reason " * 30)
    qtbot.wait(50)
    assert window.minimumSizeHint().width() <= SMALL.width() and window.size() == SMALL, window.minimumSizeHint()
    for label in (window.notice_label, window.preview_panel.info_label):
        shown = label.shown_text()
        assert path in label.text() and path in label.toolTip()
        assert "…" in shown and label.fontMetrics().horizontalAdvance(shown) <= label.width()
    assert window.notice_label.shown_text().endswith("image sequence or image")  # the reason stays in view


def test_a_small_screen_gives_the_room_to_the_form_and_preview(make_window, tmp_path, qtbot):
    """First start on a small screen (960x540: 1080p at 200 %): the queue and the messages start
    at their least (four rows, two lines), so the preview is not left a strip of its 64-pixel least."""
    window = make_window(tmp_path / "none.json")
    window.show()
    window.resize(SMALL)
    qtbot.wait(50)
    window.share_small_height()  # what a first start on a screen under 720 pixels high does
    qtbot.wait(50)
    log, table = window.status_log, window.queue_panel.table
    assert log.height() <= log.minimumHeight() + 4, log.height()
    assert table.viewport().height() >= 4 * table.verticalHeader().defaultSectionSize()
    assert window.preview_panel.view.height() >= 100, window.preview_panel.view.height()


def test_the_wheel_scrolls_the_form_without_changing_the_field_under_the_pointer(make_window, tmp_path, qtbot):
    """Scrolling the form with the wheel: a combo box or spin box passing under the pointer took
    the wheel and changed its value ("If it exists" went New version -> Resume -> Overwrite, the
    scale 1.00 -> 0.90) instead of the form scrolling. A field takes the wheel once it has the focus."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    window = make_window(tmp_path / "none.json")
    window.show()
    window.resize(SMALL)
    qtbot.wait(50)
    bar = window.form_scroll.verticalScrollBar()
    assert bar.maximum() > 0, "the form scrolls at 960x540"

    def wheel(widget, notches: int = -1) -> None:
        centre = QPointF(widget.width() / 2, widget.height() / 2)
        QApplication.sendEvent(widget, QWheelEvent(
            centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 120 * notches),
            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False))

    source = window.source_panel
    policy, scale = source.policy_combo, source.scale_spin
    before = (policy.currentIndex(), scale.value(), bar.value())
    window.source_panel.source_edit.setFocus()
    for widget in (policy, scale, window.style_panel.backend_combo):
        wheel(widget)
    assert (policy.currentIndex(), scale.value()) == before[:2]
    assert bar.value() > before[2], "the form scrolled"
    assert policy.focusPolicy() == Qt.FocusPolicy.StrongFocus  # the wheel does not take the focus either
    policy.setFocus()  # clicked or tabbed into: the wheel is the field's
    wheel(policy)
    assert policy.currentIndex() == before[0] + 1
