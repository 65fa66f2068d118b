"""Buttons that did not say what they would do: "Close and drop them" for one shot, and Connect and Start
engine offered while connected (they only reconnected to the same engine)."""

from __future__ import annotations

from ui.engine_bridge import CONNECTED, DISCONNECTED


def test_close_question_buttons_say_it_for_one_and_them_for_several(make_window, tmp_path):
    window = make_window(tmp_path / "none.json")
    assert window.drop_button_text(1) == "Close and &drop it"
    assert window.drop_button_text(3) == "Close and &drop them"


def test_connect_and_start_say_what_they_do_while_connected(make_window, tmp_path):
    window = make_window(tmp_path / "none.json")
    window._on_state(CONNECTED, "127.0.0.1:4242 (pid 7)")
    assert not window.start_button.isEnabled()
    assert "already connected to the engine at 127.0.0.1:4242 (pid 7)" in window.start_button.toolTip()
    assert window.connect_button.isEnabled() and window.connect_button.text() == "Reconnect"
    assert "127.0.0.1:4242 (pid 7)" in window.connect_button.toolTip()
    window._on_state(DISCONNECTED, "connection lost")
    assert window.start_button.isEnabled() and window.connect_button.text() == "Connect"
