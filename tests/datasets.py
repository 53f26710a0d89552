"""Where the shared, labelled data sets live (never copied into the project)."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def main_checkout(root: Path = REPO_ROOT) -> Path:
    """The checkout itself, or for a `git worktree` the main checkout it belongs to."""
    dot_git = root / ".git"
    if not dot_git.is_file():  # a plain checkout (or none): .git is a folder
        return root
    git_dir = Path(dot_git.read_text().removeprefix("gitdir:").strip())
    common = git_dir / "commondir"
    common_dir = (git_dir / common.read_text().strip()).resolve() if common.is_file() else git_dir
    return common_dir.parent


def shared_data_dir(root: Path = REPO_ROOT) -> Path:
    """`SEXTANT_SHARED_DATA`, else `shared/data` beside the checkout (beside the main checkout
    for a worktree): the place CI and every developer's machine lay it."""
    candidates = [os.environ.get("SEXTANT_SHARED_DATA"), root.parent / "shared" / "data",
                  main_checkout(root).parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise FileNotFoundError(
        "shared data sets not found beside the checkout: set SEXTANT_SHARED_DATA to the folder "
        "holding tau-bench-airline/ and tofueval/"
    )
