"""The `medsafe` command's own error handling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    env = {**os.environ, "MEDSAFE_GRADING": "bogus", "MEDSAFE_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "cli.app", "eval"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: MEDSAFE_GRADING='bogus': Input should be 'reasoned' or 'score'")
    assert "Traceback" not in done.stderr and done.stdout == ""
