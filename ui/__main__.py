"""``python -m ui`` / ``vtoonify-panel``: open the panel and join (or start) an engine."""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vtoonify-panel", description="VToonify Studio batch panel")
    parser.add_argument("--connection-file", default=None,
                        help="engine connection file (default: the engine's standard location)")
    parser.add_argument("--start-engine", action="store_true",
                        help="start a local engine instead of joining a running one")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ui.qt_platform import startup_problem

    problem = startup_problem()  # before Qt, which would abort without naming the missing library
    if problem:
        print(f"vtoonify-panel: {problem[0]}\nFix: {problem[1]}", file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from ui.engine_bridge import EngineBridge
    from ui.main_window import MainWindow
    from ui.panel_settings import APPLICATION, ORGANISATION, default_settings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    bridge = EngineBridge(connection_file=args.connection_file)
    window = MainWindow(bridge, default_settings())
    # closing the window starts the bridge's background teardown; the app (event loop) ends when it has
    # finished, so an engine the panel started is stopped before the process exits
    app.setQuitOnLastWindowClosed(False)
    bridge.stopped.connect(app.quit)
    window.show()
    if args.start_engine:
        bridge.start_engine()
    else:
        bridge.connect_to_engine()
    code = app.exec()
    bridge.shutdown()  # no-op after a window close; covers a quit that came another way
    bridge.wait_stopped(30.0)
    return code


if __name__ == "__main__":
    sys.exit(main())
