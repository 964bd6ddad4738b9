"""Params layering: the project's params/<name>.yaml overlaid by the data source's own params/<name>.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from cs_playbook.config import DATA_ENV_VAR, DEMO_DIR, PARAMS_DIR
from cs_playbook.errors import ParamsError
from cs_playbook.params import DataParams, StrictModel, load_params, source_params_dir, source_path


class Band(StrictModel):
    name: str
    upper: float


class Touch(StrictModel):
    currency: str = "JPY"
    bands: list[Band]
    capacity: dict[str, int]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "params" / "data.yaml", "source: demo\n")
    write(
        tmp_path / "params" / "touch.yaml",
        "currency: JPY\nbands:\n  - {name: low, upper: 1000000}\n  - {name: high, upper: 1.0e12}\n"
        "capacity: {tech: 400, high: 40}\n",
    )
    return tmp_path / "params"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    write(tmp_path / "crm" / "accounts.csv", "account_id\n")
    return tmp_path / "crm"


def test_overlay_merges_mappings_and_replaces_lists(project: Path, source: Path) -> None:
    write(
        source / "params" / "touch.yaml", "currency: USD\nbands:\n  - {name: all, upper: 1.0e9}\ncapacity: {high: 25}\n"
    )
    t = load_params("touch", Touch, directory=project, source=source)
    assert t.currency == "USD"
    assert [b.name for b in t.bands] == ["all"]  # a list is replaced, not appended to
    assert t.capacity == {"tech": 400, "high": 25}  # a mapping is merged key by key
    assert (
        load_params("touch", Touch, directory=project, source=source, overrides={"capacity": {"tech": 1}}).capacity[
            "tech"
        ]
        == 1
    )  # run overrides come last


def test_without_an_overlay_the_project_file_is_used(project: Path, source: Path) -> None:
    assert load_params("touch", Touch, directory=project, source=source).currency == "JPY"


def test_a_bad_key_in_the_overlay_is_refused_naming_the_overlay_file(project: Path, source: Path) -> None:
    write(source / "params" / "touch.yaml", "capacity: {high: 25}\ncolour: red\n")
    with pytest.raises(ParamsError) as err:
        load_params("touch", Touch, directory=project, source=source)
    text = str(err.value)
    assert text.startswith("crm/params/touch.yaml: invalid parameters") and "- colour: Extra inputs" in text
    assert str(source.parent) not in text  # no machine path
    write(source / "params" / "touch.yaml", "capacity: {high: many}\n")
    with pytest.raises(ParamsError, match=r"^crm/params/touch.yaml: invalid parameters\n- capacity.high: "):
        load_params("touch", Touch, directory=project, source=source)


def test_errors_in_both_files_name_each(project: Path, source: Path) -> None:
    write(project / "touch.yaml", "bands: []\ncapacity: {tech: x}\n")
    write(source / "params" / "touch.yaml", "currency: [USD]\n")
    with pytest.raises(ParamsError) as err:
        load_params("touch", Touch, directory=project, source=source)
    text = str(err.value)
    assert text.startswith("crm/params/touch.yaml and ") and "0/params/touch.yaml: invalid parameters" in text
    assert "- currency: " in text and "(in crm/params/touch.yaml)" in text
    assert "- capacity.tech: " in text and "0/params/touch.yaml)" in text


def test_a_params_file_only_in_the_source_is_enough(project: Path, source: Path) -> None:
    write(source / "params" / "only.yaml", "bands: []\ncapacity: {a: 1}\n")
    assert load_params("only", Touch, directory=project, source=source).capacity == {"a": 1}
    with pytest.raises(ParamsError, match="Parameter file not found: .*only.yaml"):
        load_params("only", Touch, directory=project, source=source.parent / "elsewhere")


def test_data_yaml_is_overlaid_except_its_source(project: Path, source: Path) -> None:
    write(source / "params" / "data.yaml", "end_date_convention: exclusive\nreporting_currency: usd\n")
    dp = load_params("data", DataParams, directory=project, source=source)
    assert (dp.end_date_convention, dp.reporting_currency, dp.source) == ("exclusive", "USD", "demo")
    write(source / "params" / "data.yaml", "source: somewhere\n")
    with pytest.raises(ParamsError, match=r"crm/params/data.yaml: source: a data source's own params cannot"):
        load_params("data", DataParams, directory=project, source=source)
    write(source / "params" / "data.yaml", "end_date_convention: half-open\n")
    with pytest.raises(ParamsError, match=r"crm/params/data.yaml: invalid parameters\n- end_date_convention: "):
        load_params("data", DataParams, directory=project, source=source)


def test_the_source_comes_from_the_argument_the_environment_or_data_yaml(
    project: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(source / "params" / "touch.yaml", "currency: USD\n")
    monkeypatch.setenv(DATA_ENV_VAR, str(source))
    assert load_params("touch", Touch, directory=project).currency == "USD"  # $CS_PLAYBOOK_DATA
    assert source_params_dir(directory=project) == source / "params"
    monkeypatch.delenv(DATA_ENV_VAR)
    assert source_path(directory=project) == DEMO_DIR  # params/data.yaml source: demo
    write(project / "data.yaml", f"source: {source}\n")
    assert load_params("touch", Touch, directory=project).currency == "USD"
    assert source_params_dir(tmp := source.parent / "crm.duckdb") is None and not tmp.exists()  # no overlay for a db


def test_the_project_defaults_are_neutral() -> None:
    dp = load_params("data", DataParams, directory=PARAMS_DIR, source=Path(__file__).parent)
    assert dp.reporting_currency == "" and dp.end_date_convention == "inclusive" and dp.as_of is None
