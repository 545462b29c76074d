import stat

import pytest

from keyplane.config import load_settings
from keyplane.errors import Invalid
from keyplane.secret_key import load_secret_key


def test_environment_wins_over_the_toml_file(tmp_path):
    config = tmp_path / "keyplane.toml"
    config.write_text('database_url = "sqlite:///from-toml.db"\nport = 9000\n')
    settings = load_settings({"KEYPLANE_DATABASE_URL": "sqlite:///from-env.db"}, config_file=config)
    assert settings.database_url == "sqlite:///from-env.db"
    assert settings.port == 9000


def test_the_toml_file_is_found_through_keyplane_config(tmp_path):
    config = tmp_path / "elsewhere.toml"
    config.write_text('issuer = "https://auth.example.com/"\n')
    settings = load_settings({"KEYPLANE_CONFIG": str(config)})
    assert settings.resolved_issuer == "https://auth.example.com"


def test_with_nothing_configured_the_store_is_sqlite_in_the_data_directory(tmp_path):
    settings = load_settings({"KEYPLANE_DATA_DIR": str(tmp_path)}, config_file=tmp_path / "none.toml")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'keyplane.db'}"
    assert settings.resolved_issuer == "http://127.0.0.1:8080"


@pytest.mark.parametrize("env, setting", [
    ({"KEYPLANE_ROOT_KEY": "too-short"}, "KEYPLANE_ROOT_KEY"),
    ({"KEYPLANE_PORT": "eighty"}, "KEYPLANE_PORT"),
    ({"KEYPLANE_SECRET_KEY": "x" * 31}, "KEYPLANE_SECRET_KEY"),
])
def test_a_bad_setting_is_refused_by_its_environment_name(env, setting, tmp_path):
    with pytest.raises(Invalid) as caught:
        load_settings(env, config_file=tmp_path / "none.toml")
    assert caught.value.errors[0].field == setting


def test_an_unknown_setting_in_the_toml_file_is_refused(tmp_path):
    config = tmp_path / "keyplane.toml"
    config.write_text('databse_url = "sqlite:///typo.db"\n')
    with pytest.raises(Invalid) as caught:
        load_settings({}, config_file=config)
    assert "DATABSE_URL" in caught.value.errors[0].field


def test_a_toml_file_that_does_not_parse_is_refused(tmp_path):
    config = tmp_path / "keyplane.toml"
    config.write_text("port = = 1\n")
    with pytest.raises(Invalid):
        load_settings({}, config_file=config)


def test_a_missing_secret_key_is_generated_once_readable_only_by_its_owner(tmp_path):
    settings = load_settings({"KEYPLANE_DATA_DIR": str(tmp_path)}, config_file=tmp_path / "none.toml")
    first = load_secret_key(settings)
    assert load_secret_key(settings) == first
    assert len(first) >= 32
    mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert mode == 0o600


def test_a_configured_secret_key_is_used_as_given(tmp_path):
    settings = load_settings({"KEYPLANE_DATA_DIR": str(tmp_path), "KEYPLANE_SECRET_KEY": "k" * 40},
                             config_file=tmp_path / "none.toml")
    assert load_secret_key(settings) == b"k" * 40
    assert not (tmp_path / "secret.key").exists()
