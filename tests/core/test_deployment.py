"""The documented production deployment: docker-compose.yml and the Dockerfile."""

import shutil
import subprocess

import pytest


def compose_command() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_file_is_valid_and_runs_every_process(repo_root):
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed (.ci/run installs one)")
    result = subprocess.run([*command, "-f", str(repo_root / "docker-compose.yml"), "config", "--services"],
                            capture_output=True, text=True, env={"SEXTANT_SECRET_KEY": "x", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {"postgres", "redis", "web", "worker", "beat"}


def test_dockerfile_installs_the_package_and_serves(repo_root):
    dockerfile = (repo_root / "Dockerfile").read_text()
    for needed in ("pip install", "COPY migrations", "COPY templates", "COPY static", 'CMD ["sextant", "serve"]'):
        assert needed in dockerfile
