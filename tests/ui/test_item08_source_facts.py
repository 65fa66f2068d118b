"""Item 8: source facts (frames, fps, size, duration) read the way the engine reads them; the range
defaults to the whole clip and is clamped to it; the preview follows the source (a stale one is
cleared), scrubs frames, zooms to 1:1 and flips A/B."""

from __future__ import annotations

from PySide6.QtGui import QColor, QImage

from ui.split_view import SHOW_A, SHOW_B, SPLIT


def _solid(colour: str, width: int, height: int) -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(colour))
    return image


def _rgb(image: QImage, x: int, y: int) -> tuple[int, int, int]:
    c = image.pixelColor(x, y)
    return c.red(), c.green(), c.blue()


def test_facts_range_and_clamping(make_window, media_dir, tmp_path):
    window = make_window(tmp_path / "none.json")
    panel = window.source_panel
    panel.set_source(str(media_dir / "908.mp4"))
    panel.wait_for_info()
    window.activateWindow()
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()
    assert panel.info_label.text() == "39 frames (1-39) · 392x360 · 15 fps · 2.6 s"
    assert panel.whole_source.isChecked() and (panel.first_frame.value(), panel.last_frame.value()) == (1, 39)
    assert panel.values()["frames"] is None
    panel.set_frame_range(5, 100)
    assert (panel.first_frame.value(), panel.last_frame.value()) == (5, 39)
    assert panel.values()["frames"] == "5-39"
    assert (window.preview_panel.scrub.minimum(), window.preview_panel.scrub.maximum()) == (1, 39)

    panel.set_source(str(media_dir / "529_2.mp4"))   # a new clip: whole range again, its own length
    panel.wait_for_info()
    QApplication.processEvents()
    assert panel.info.count == 29 and (panel.first_frame.value(), panel.last_frame.value()) == (1, 29)
    assert panel.whole_source.isChecked()
    panel.set_source(str(tmp_path / "missing.mp4"))
    panel.wait_for_info()
    QApplication.processEvents()
    assert "no such file" in panel.info_label.text()


def test_a_new_source_clears_the_stale_preview(make_window, media_dir, tmp_path):
    window = make_window(tmp_path / "none.json")
    window.source_panel.set_source(str(media_dir / "908.mp4"))
    view = window.preview_panel.view
    view.set_images(_solid("#ff0000", 40, 30), _solid("#0000ff", 40, 30))
    window.source_panel.set_source(str(media_dir / "651.mp4"))
    assert view.after_pixmap().isNull() and view.before_pixmap().isNull()
    assert window._latest_preview_key == -1  # a preview of 908 still rendering will not be shown


def test_scrub_a_b_and_one_to_one(make_window, tmp_path, qtbot):
    window = make_window(tmp_path / "none.json")
    preview = window.preview_panel
    preview.set_frame_range(1, 39)
    requested = []
    preview.preview_requested.connect(requested.append)
    preview.preview_button.setEnabled(True)
    preview.scrub.setValue(17)
    assert preview.frame_spin.value() == 17
    qtbot.waitUntil(lambda: requested == [17], timeout=3000)   # once, when the scrub rests

    preview.toggle_ab()
    assert preview.view.mode == SHOW_A and preview.mode_buttons.checkedButton().text() == "A"
    preview.toggle_ab()
    assert preview.view.mode == SHOW_B and preview.mode_buttons.checkedButton().text() == "B"
    preview.mode_buttons.buttons()[0].click()
    assert preview.view.mode == SPLIT
    preview.zoom_button.setChecked(True)
    assert preview.view.one_to_one
    preview.zoom_button.setChecked(False)


def test_split_a_b_and_one_to_one_painting(qtbot):
    from ui.split_view import SplitCompareView

    view = SplitCompareView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.set_images(_solid("#ff0000", 200, 150), _solid("#0000ff", 200, 150))
    rect = view.image_rect()
    left = (int(rect.left() + rect.width() * 0.1), int(rect.center().y()))
    right = (int(rect.left() + rect.width() * 0.9), int(rect.center().y()))
    assert _rgb(view.grab().toImage(), *left) == (255, 0, 0) and _rgb(view.grab().toImage(), *right) == (0, 0, 255)
    view.set_mode(SHOW_A)
    assert _rgb(view.grab().toImage(), *right) == (255, 0, 0)
    view.set_mode(SHOW_B)
    assert _rgb(view.grab().toImage(), *left) == (0, 0, 255)
    view.set_mode(SPLIT)
    fitted = view.image_rect()
    view.set_one_to_one(True)                     # 1:1: the 200x150 frame is not scaled to the view
    rect = view.image_rect()
    assert (rect.width(), rect.height()) == (200, 150) != (fitted.width(), fitted.height())
    assert _rgb(view.grab().toImage(), 10, 10) == (32, 32, 36)   # background around the 1:1 frame
    view.set_one_to_one(False)
    assert view.image_rect() == fitted


def _drag(view, start, end, button, modifiers=None) -> None:
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    modifiers = modifiers or Qt.KeyboardModifier.NoModifier
    for kind, pos, buttons in ((QMouseEvent.Type.MouseButtonPress, start, button),
                               (QMouseEvent.Type.MouseMove, end, button),
                               (QMouseEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)):
        point = QPointF(*pos)
        QApplication.sendEvent(view, QMouseEvent(kind, point, view.mapToGlobal(point), button, buttons, modifiers))


def test_one_to_one_pans_to_a_face_off_the_middle(qtbot):
    """A 400x300 frame at 1:1 in a 200x150 view showed only its middle, with no way to look at a face
    near an edge: the middle button (or Shift+drag, or a plain drag with only A or B shown) pans it,
    never past its edges; the split stays where it was."""
    from PySide6.QtCore import Qt

    from ui.split_view import SplitCompareView

    def quadrants(top_left: str) -> QImage:
        image = _solid("#0000ff", 400, 300)
        for x in range(200):
            for y in range(150):
                image.setPixelColor(x, y, QColor(top_left))
        return image

    view = SplitCompareView()
    qtbot.addWidget(view)
    view.resize(200, 150)
    view.set_images(quadrants("#ff0000"), quadrants("#00ff00"))
    view.set_one_to_one(True)
    assert (view.image_rect().left(), view.image_rect().top()) == (-100, -75)
    _drag(view, (100, 75), (400, 400), Qt.MouseButton.MiddleButton)          # far past the top-left corner
    assert (view.image_rect().left(), view.image_rect().top()) == (0, 0) and view.split == 0.5
    assert _rgb(view.grab().toImage(), 5, 5) == (255, 0, 0)                  # the frame's own top left
    assert view.cursor().shape() == Qt.CursorShape.SplitHCursor               # a plain drag moves the split
    view.set_mode(SHOW_B)
    assert view.cursor().shape() == Qt.CursorShape.OpenHandCursor             # ... here it pans
    _drag(view, (150, 100), (-400, -400), Qt.MouseButton.LeftButton)        # only B shows: a plain drag pans
    assert (view.image_rect().left(), view.image_rect().top()) == (-200, -150)
    assert _rgb(view.grab().toImage(), 195, 145) == (0, 0, 255)
    view.set_mode(SPLIT)
    _drag(view, (50, 50), (150, 150), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier)
    assert (view.image_rect().left(), view.image_rect().top()) == (-100, -50) and view.split == 0.5
    _drag(view, (20, 50), (20, 50), Qt.MouseButton.LeftButton)                # a plain click in split: the split
    assert view.split == (20 + 100) / 400
    view.set_one_to_one(False)
    view.set_one_to_one(True)
    assert (view.image_rect().left(), view.image_rect().top()) == (-100, -75)  # a new 1:1 look starts centred
