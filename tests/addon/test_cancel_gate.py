"""Only an Esc over a Sequencer area cancels a running render; a stray Esc elsewhere passes on."""

from vtoonify_addon.core.cancel_gate import HOW_TO_CANCEL, esc_cancels, over_sequencer

# the default layout with its timeline turned into a Sequencer: 3D viewport above, Sequencer below
AREAS = [("VIEW_3D", 2, 100, 1574, 954), ("SEQUENCE_EDITOR", 2, 23, 1574, 74),
         ("PROPERTIES", 1579, 23, 339, 839), ("TEXT_EDITOR", 1579, 865, 339, 189)]


def test_esc_over_the_sequencer_cancels():
    assert esc_cancels("ESC", "PRESS", False, 500, 50, AREAS)
    assert esc_cancels("ESC", "PRESS", False, 2, 23, AREAS)  # the area's bottom-left pixel
    assert esc_cancels("ESC", "PRESS", False, 1575, 96, AREAS)  # its top-right pixel


def test_stray_esc_elsewhere_passes():
    assert not esc_cancels("ESC", "PRESS", False, 500, 500, AREAS)  # 3D viewport
    assert not esc_cancels("ESC", "PRESS", False, 1700, 900, AREAS)  # a text editor
    assert not esc_cancels("ESC", "PRESS", False, 1576, 50, AREAS)  # just right of the Sequencer
    assert not esc_cancels("ESC", "PRESS", False, 500, 97, AREAS)  # just above it
    assert not esc_cancels("ESC", "PRESS", False, None, None, AREAS)  # no position known
    assert not esc_cancels("ESC", "PRESS", False, 500, 50, [a for a in AREAS if a[0] != "SEQUENCE_EDITOR"])


def test_playback_release_and_other_keys_never_cancel():
    assert not esc_cancels("ESC", "PRESS", True, 500, 50, AREAS)  # Esc stops playback, as always
    assert not esc_cancels("ESC", "RELEASE", False, 500, 50, AREAS)
    assert not esc_cancels("A", "PRESS", False, 500, 50, AREAS)


def test_any_sequencer_area_counts_and_status_says_how():
    two = [*AREAS, ("SEQUENCE_EDITOR", 1579, 865, 339, 189)]
    assert over_sequencer(1700, 900, two)
    assert "Sequencer" in HOW_TO_CANCEL and "Strip > Cancel VToonify Render" in HOW_TO_CANCEL
