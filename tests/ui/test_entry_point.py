"""``python -m ui`` is the console entry point (vtoonify-panel); its options parse in a real process."""

import subprocess
import sys


def test_module_entry_point_prints_its_options(repo_root):
    result = subprocess.run([sys.executable, "-m", "ui", "--help"], cwd=repo_root, check=False,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--connection-file" in result.stdout and "--start-engine" in result.stdout
