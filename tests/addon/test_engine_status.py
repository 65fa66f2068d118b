"""Engine status for the panel: from a REAL engine's capabilities (burst engine service)."""

from __future__ import annotations

import shlex

from vtoonify_addon.core.engine_status import (
    EngineStatus,
    exited_status,
    fetch_command,
    query_status,
    status_from_capabilities,
    wrap,
)


def test_status_comes_from_the_engines_capabilities(engine_api, burst_engine):
    _proc, info = burst_engine
    status = query_status(lambda: engine_api.EngineClient.connect(info, timeout_s=10), engine_api)
    assert status.running and status.version and "classic" in status.backends
    assert status.auto_backend in ("classic", "vtoonify")
    assert "Auto uses" in status.summary()
    assert status.pid == info.pid  # which process answered: the panel can tell once it has exited


def test_an_exited_engine_says_how_it_ended_and_how_to_start_one():
    for code, how in ((0, "it stopped (its idle timeout"), (-9, "it was killed (signal 9) or crashed"),
                      (3, "it exited with code 3 (its log says why)")):
        status = exited_status(code)
        assert not status.running and status.summary().startswith(f"Engine not running: {how}"), status.summary()
        assert status.summary().endswith("press Start, or Stylize with Auto-start on to start it again")


def test_engine_not_running_is_a_status_not_an_error(engine_api, tmp_path):
    def refuse():
        raise engine_api.EngineError("the VToonify engine is not running", "start it")

    status = query_status(refuse, engine_api)
    assert not status.running and "not running" in status.summary()


def test_auto_backend_follows_installed_styles():
    caps = {"engine_version": "0.1.0", "backends": ["auto", "classic", "vtoonify"], "devices": ["cpu"],
            "styles": [{"style": "arcane", "backbone": "toonify"}, {"style": "cartoon", "backbone": "dualstylegan"}]}
    status = status_from_capabilities(caps)
    assert status.styles == ("arcane", "cartoon") and status.auto_backend == "vtoonify"
    assert EngineStatus(running=True, backends=("auto", "classic")).auto_backend == "classic"


def test_fetch_command_is_a_real_cli_line():
    from engine.cli import build_parser

    line = fetch_command("/opt/venv/bin/python", "pixar", "/data/my models")
    words = shlex.split(line)
    assert words[:3] == ["/opt/venv/bin/python", "-m", "engine"]
    args = build_parser().parse_args(words[3:])
    assert (args.command, args.style, args.models_dir) == ("models", ["pixar"], "/data/my models")


def test_wrap_keeps_every_word():
    text = "the engine reported success but 3 output file(s) are missing, e.g. /very/long/path/plate.0001.png"
    lines = wrap(text, 200)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "") and all(len(line) <= 28 for line in lines)
    assert len(lines) > 3


def test_a_refused_connection_is_not_reachable_with_its_fix(engine_api, tmp_path):
    """An engine started elsewhere that has crashed: its connection file names a port nobody listens on
    any more. Judged by the connection (an engine behind an SSH tunnel has no process here)."""
    import socket

    from vtoonify_addon.core.engine_status import unreachable_status

    with socket.socket() as sock:  # a port that was free a moment ago and now refuses
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    info = engine_api.ConnectionInfo(host="127.0.0.1", port=port, token="x" * 32, pid=0)
    status = query_status(lambda: engine_api.EngineClient.connect(info, timeout_s=2), engine_api)
    assert not status.running and status.unreachable
    assert status.summary().startswith(f"Engine not reachable: cannot reach the engine at 127.0.0.1:{port} (")
    assert status.summary().endswith("; start the engine again; the connection file may be stale")
    lost = engine_api.UnreachableError("lost the connection to the engine (it stopped or crashed)", "start it again")
    assert unreachable_status(lost).summary() == ("Engine not reachable: lost the connection to the engine (it "
                                                  "stopped or crashed); start it again")
    assert unreachable_status(engine_api.ConfigError("degree 7.0 is outside [0, 1]", "pick 0..1")) is None


def test_a_capabilities_reply_cut_to_fit_says_so_where_the_styles_are_listed():
    """The engine cuts a capabilities reply over the 1 MiB line limit and says what it cut (``truncated``);
    the panel shows that note, the add-on dropped it and listed fewer styles without a word."""
    from engine.service.reply_budget import fit_capabilities

    reply = {"styles": [{"style": "cartoon", "backbone": "dualstylegan", "checkpoints": ["vtoonify_s_d.pt"],
                         "style_ids": [f"Cartoons_{i:05d}.jpg" for i in range(300)]}],
             "backends": ["auto", "classic", "vtoonify"], "models": {}, "engine_version": "0.1.0"}
    fitted = fit_capabilities(reply, 2_000)
    status = status_from_capabilities(fitted)
    assert status.truncated == fitted["truncated"] and "1 MiB line limit" in status.truncated
    assert status.style_lines() == [("Installed styles: cartoon", "NONE"), (fitted["truncated"], "INFO")]
    whole = status_from_capabilities(reply)
    assert whole.truncated == "" and whole.style_lines() == [("Installed styles: cartoon", "NONE")]
    assert EngineStatus(running=True).style_lines() == [("Installed styles: none (classic look only)", "NONE")]
