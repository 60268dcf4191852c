"""Relative data paths resolve from one base, whatever the working directory (rin.config.paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rin.config import ConfigError, GeneralSettings, load_config
from rin.config.paths import describe_data_paths, spill_dir

MODELS = "model_list: []\n"


def load(folder: Path, text: str = MODELS, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env=env or {})


def test_the_config_files_folder_is_the_base_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # somewhere else than the config
    config = load(tmp_path / "conf")
    base = tmp_path / "conf"
    assert config.general.data_dir == base
    assert config.general.database_url == f"sqlite:///{base}/data/litellm/litellm_cost_tracking.db"
    assert config.catalog.path == base / "data" / "openrouter" / "models.json"
    assert spill_dir(config.general) == base / "data" / "litellm"


def test_the_same_config_gives_the_same_paths_from_any_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = load(tmp_path / "conf", "general_settings: {data_dir: ../store}\n")
    monkeypatch.chdir(tmp_path / "b")
    second = load_config(Path("../conf/config.yaml"), env={})
    assert first.general.data_dir == second.general.data_dir == tmp_path / "store"
    assert first.general.database_url == second.general.database_url
    assert first.catalog.path == second.catalog.path == tmp_path / "store" / "data" / "openrouter" / "models.json"


def test_data_dir_absolute_and_rin_data_dir_wins(tmp_path: Path) -> None:
    text = f"general_settings: {{data_dir: {tmp_path / 'set'}}}\n"
    assert load(tmp_path / "conf", text).general.data_dir == tmp_path / "set"
    config = load(tmp_path / "conf", text, env={"RIN_DATA_DIR": str(tmp_path / "env")})
    assert config.general.data_dir == tmp_path / "env"
    assert config.catalog.path == tmp_path / "env" / "data" / "openrouter" / "models.json"


def test_a_relative_rin_data_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RIN_DATA_DIR='data' is a relative path: set it to an absolute one"):
        load(tmp_path, env={"RIN_DATA_DIR": "data"})


def test_absolute_paths_and_other_databases_stay_as_written(tmp_path: Path) -> None:
    config = load(tmp_path / "conf", f"""\
general_settings: {{database_url: "sqlite:////var/lib/rin/spend.db"}}
catalog: {{path: /var/lib/rin/models.json}}
""")
    assert config.general.database_url == "sqlite:////var/lib/rin/spend.db"
    assert config.catalog.path == Path("/var/lib/rin/models.json")
    assert spill_dir(config.general) == Path("/var/lib/rin")
    postgres = load(tmp_path / "pg", "general_settings: {database_url: 'postgresql://rin:pw@db/rin'}\n")
    assert postgres.general.database_url == "postgresql://rin:pw@db/rin"
    assert spill_dir(postgres.general) == tmp_path / "pg" / "data" / "litellm"
    assert "pw" not in describe_data_paths(postgres.general, postgres.catalog)


def test_relative_paths_in_the_config_resolve_from_the_base(tmp_path: Path) -> None:
    config = load(tmp_path / "conf", """\
general_settings: {data_dir: .., database_url: "sqlite:///ledger/spend.db?timeout=5"}
catalog: {path: cache/models.json}
""")
    assert config.general.database_url == f"sqlite:///{tmp_path}/ledger/spend.db?timeout=5"
    assert config.catalog.path == tmp_path / "cache" / "models.json"
    assert describe_data_paths(config.general, config.catalog) == (
        f"{tmp_path} (ledger {tmp_path}/ledger/spend.db, catalogue {tmp_path}/cache/models.json)")


def test_data_dir_is_a_known_key_and_must_not_be_empty(tmp_path: Path) -> None:
    assert not [w for w in load(tmp_path, "general_settings: {data_dir: .}\n").warnings if "data_dir" in w]
    with pytest.raises(ConfigError, match=r"general_settings\.data_dir: ' ' is empty"):
        load(tmp_path, "general_settings: {data_dir: ' '}\n")


def test_settings_built_without_a_file_keep_their_relative_defaults() -> None:
    general = GeneralSettings()
    assert general.data_dir == Path(".") and spill_dir(general) == Path("data/litellm")
