"""The shared data sets are found beside the checkout, also from a git worktree, and nowhere else."""

import pytest

from tests import datasets


def test_a_worktree_finds_the_data_beside_its_main_checkout(tmp_path, monkeypatch):
    main, tree = tmp_path / "main", tmp_path / "trees" / "mine"
    (main / ".git" / "worktrees" / "mine").mkdir(parents=True)
    (main / ".git" / "worktrees" / "mine" / "commondir").write_text("../..\n")
    tree.mkdir(parents=True)
    (tree / ".git").write_text(f"gitdir: {main / '.git' / 'worktrees' / 'mine'}\n")
    assert datasets.main_checkout(tree) == main
    assert datasets.main_checkout(main) == main

    (tmp_path / "shared" / "data").mkdir(parents=True)
    monkeypatch.delenv("SEXTANT_SHARED_DATA", raising=False)
    assert datasets.shared_data_dir(tree) == tmp_path / "shared" / "data"


def test_without_the_data_the_error_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv("SEXTANT_SHARED_DATA", raising=False)
    (tmp_path / "checkout").mkdir()
    with pytest.raises(FileNotFoundError, match="SEXTANT_SHARED_DATA"):
        datasets.shared_data_dir(tmp_path / "checkout")
