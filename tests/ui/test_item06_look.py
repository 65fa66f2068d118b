"""Item 6: the truth about the look. The panel says which backend will render before queueing and
which did after, shows every warning on the row, in the details and in the status area, disables
what the backend ignores (saying why) and refuses an exemplar image that does not exist."""

from __future__ import annotations

import pytest
from panel_helpers import JOB_TIMEOUT_MS, connect, set_shot, start_queue

from engine.errors import ConfigError
from ui.capabilities import parse_capabilities
from ui.control_tips import why_not
from ui.job_details import details_html
from ui.queue_model import BACKEND_COLUMN, NOTES_COLUMN, STATUS_COLUMN
from ui.style_panel import CLASSIC_IGNORES


def test_ignored_controls_are_disabled_with_the_reason(make_window, tmp_path):
    window = make_window(tmp_path / "none.json")
    style = window.style_panel
    style.set_capabilities(parse_capabilities({"backends": ["auto", "classic"], "devices": ["cpu"], "styles": []}))
    style.backend_combo.setCurrentText("classic")
    for widget in (style.style_id_spin, style.degree_slider, style.color_transfer_check, style.exemplar_edit,
                   style.family_combo):
        assert not widget.isEnabled() and why_not(widget) == CLASSIC_IGNORES
        assert widget.toolTip().endswith(CLASSIC_IGNORES)  # after what the control does
    assert style.plan_label.text().startswith("classic")
    style.backend_combo.setCurrentText("auto")
    assert "falls back to the classic look" in style.plan_label.text()


def test_a_missing_exemplar_is_refused(make_window, tmp_path, media_dir):
    window = make_window(tmp_path / "none.json")
    style = window.style_panel
    style.set_capabilities(parse_capabilities({"backends": ["auto", "classic", "vtoonify"], "styles": [
        {"style": "cartoon", "backbone": "dualstylegan", "checkpoints": ["vtoonify_s_d.pt"],
         "style_ids": ["a.jpg"]}]}))
    style.backend_combo.setCurrentText("vtoonify")
    style.exemplar_edit.setText(str(tmp_path / "nobody.jpg"))
    with pytest.raises(ConfigError, match="does not exist"):
        style.values()
    set_shot(window, media_dir / "908.mp4", tmp_path / "out", backend="vtoonify")
    assert window.add_to_queue() is None and window.queue_model.rowCount() == 0
    assert "nobody.jpg does not exist" in window.status_log.messages()[0]
    style.exemplar_edit.setText(str(media_dir / "077436.jpg"))
    assert style.values()["exstyle_image"] == str(media_dir / "077436.jpg")


@pytest.mark.slow
def test_auto_without_models_says_classic_before_and_after_with_the_warning(make_window, running_engine,
                                                                           media_dir, tmp_path, qtbot):
    window = make_window(running_engine)
    connect(window, qtbot)
    set_shot(window, media_dir / "908.mp4", tmp_path / "out", 1, 2, backend="auto")
    assert window.style_panel.planned[0] == "classic"
    assert "falls back to the classic look" in window.style_panel.plan_label.text()
    key = window.add_to_queue()
    model = window.queue_model
    row = model.row_of_key(key)
    assert model.data(model.index(row, BACKEND_COLUMN)) == "classic (planned)"
    start_queue(window)
    qtbot.waitUntil(lambda: model.record(model.row_of_key(key)).finished, timeout=JOB_TIMEOUT_MS)
    row = model.row_of_key(key)
    record = model.record(row)
    assert record.status == "done" and record.backend == "classic"
    assert model.data(model.index(row, BACKEND_COLUMN)) == "auto → classic"
    assert any("classic (non-neural) backend" in w for w in record.warnings)
    assert model.data(model.index(row, STATUS_COLUMN)).endswith("1 warning")
    assert "classic (non-neural) backend" in model.data(model.index(row, NOTES_COLUMN))
    assert "classic (non-neural) backend" in details_html(record)
    assert any(m.startswith("Warning: 908.mp4: using the classic") for m in window.status_log.messages())
    dialog = window.show_details(row)
    assert "Backend used" in dialog.browser.toPlainText() and "classic" in dialog.browser.toPlainText()
    dialog.close()
