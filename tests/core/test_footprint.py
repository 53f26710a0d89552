import subprocess
import sys


def test_the_web_app_does_not_load_the_numerical_stack(repo_root):
    """numpy/scipy/scikit-learn (~110 MB) load only where evaluators or clustering run."""
    code = ("import sys; from app.main import create_app; create_app(); "
            "print(sorted(m for m in ('numpy', 'scipy', 'sklearn') if m in sys.modules))")
    env = {"SEXTANT_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
           "SEXTANT_REDIS_URL": "redis://127.0.0.1:1/0", "SEXTANT_SECRET_KEY": "x", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo_root, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
