"""AppSettings (hybrid/app/settings.py) and env_number (hybrid/env.py): every setting read once, one way."""

from __future__ import annotations

import pytest

from hybrid.app.settings import AppSettings
from hybrid.env import env_number
from hybrid.errors import ConfigError


def test_settings_come_from_the_environment_given():
    s = AppSettings.from_env({
        "HYBRID_MODEL": " owner/name ", "HYBRID_EXAMPLES": "acme/clips", "HYBRID_MAX_DURATION_S": "30",
        "HYBRID_MAX_FILE_MB": "2.5", "HYBRID_MAX_READ_S": "9", "HYBRID_LIVE_WINDOW_S": "2", "HYBRID_LIVE_POLICY":
        "window", "HYBRID_LIVE_TIME_LIMIT_S": "60", "HYBRID_TIMELINE_MAX_S": "120",
    })  # fmt: skip
    assert s.model == "owner/name" and s.examples_repo == "acme/clips"
    assert (s.max_duration_s, s.max_file_mb, s.max_read_s) == (30.0, 2.5, 9.0)
    assert (s.live_window_s, s.live_policy, s.live_time_limit_s, s.timeline_max_s) == (2.0, "window", 60, 120.0)
    assert s.limits.max_bytes == 2_500_000 and s.limits.max_duration_s == 30 and s.limits.max_read_s == 9
    assert s.timeline_limits.max_duration_s == 120 and s.timeline_limits.max_read_s == 90


def test_unset_or_empty_means_the_default():
    assert AppSettings.from_env({}) == AppSettings.from_env({"HYBRID_MAX_FILE_MB": " ", "HYBRID_LIVE_POLICY": ""})
    d = AppSettings.from_env({})
    assert (d.max_duration_s, d.max_file_mb, d.live_policy, d.live_time_limit_s) == (60.0, 100.0, "auto", 300)


@pytest.mark.parametrize(
    "name,value,words",
    [
        ("HYBRID_MAX_FILE_MB", "abc", "HYBRID_MAX_FILE_MB='abc' is not a positive number"),
        ("HYBRID_MAX_DURATION_S", "-5", "is not a positive number"),
        ("HYBRID_MAX_READ_S", "nan", "is not a positive number"),
        ("HYBRID_LIVE_TIME_LIMIT_S", "2.5", "is not a positive whole number"),
        ("HYBRID_LIVE_POLICY", "sometimes", "HYBRID_LIVE_POLICY must be one of"),
    ],
)
def test_a_value_that_cannot_be_used_is_refused_by_name(name, value, words):
    with pytest.raises(ConfigError, match=words):
        AppSettings.from_env({name: value})


def test_env_number_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("HYBRID_TEST_NUMBER", "7")
    assert env_number("HYBRID_TEST_NUMBER", 1.0) == 7.0 and env_number("HYBRID_TEST_NUMBER", 1, integer=True) == 7
    monkeypatch.delenv("HYBRID_TEST_NUMBER")
    assert env_number("HYBRID_TEST_NUMBER", 3.5) == 3.5
