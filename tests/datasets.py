"""Where the shared, labelled data sets live (never copied into the project)."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """`SEXTANT_SHARED_DATA`, else `../shared/data` beside the checkout, else /work/shared/data."""
    candidates = [
        os.environ.get("SEXTANT_SHARED_DATA"),
        REPO_ROOT.parent / "shared" / "data",
        "/work/shared/data",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise FileNotFoundError(
        "shared data sets not found: set SEXTANT_SHARED_DATA to the folder holding "
        "tau-bench-airline/ and tofueval/"
    )
