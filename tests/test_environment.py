"""environment.yml (for conda users) lists the same dependencies as pyproject.toml."""

from __future__ import annotations

import re
import tomllib

import yaml

from cs_playbook.config import PROJ_ROOT


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0].lower()


def _bound(spec: str) -> str:
    return re.sub(r"\[.*?\]", "", spec.strip()).lower().replace(" ", "")


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((PROJ_ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    env = yaml.safe_load((PROJ_ROOT / "environment.yml").read_text())
    listed: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            listed += dep.get("pip", [])
        elif not dep.startswith(("python", "pip")) or dep.startswith("python-"):
            listed.append(dep)
    assert {_name(d) for d in listed} == {_name(d) for d in wanted}
    bounds = {_name(d): _bound(d) for d in listed}
    for dep in wanted:
        assert bounds[_name(dep)] == _bound(dep), f"version bound differs for {dep}"
