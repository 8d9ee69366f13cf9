"""The suite's own rule: only a test marked `data` may read ../shared/data (conftest.shared_data checks), so
`pytest -m "not data"` runs without it and a test that forgets the marker fails instead of being missed."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import shared_data

HERE = Path(__file__).resolve().parent


def test_a_test_without_the_data_marker_may_not_read_shared_data():
    with pytest.raises(pytest.fail.Exception, match=r"test_markers\.py::.* mark it @pytest\.mark\.data"):
        shared_data("ut-interaction")


@pytest.mark.data
def test_a_test_with_the_marker_may():
    assert shared_data().is_dir()


def test_tests_reach_the_real_data_only_through_shared_data():
    """The folder itself (conftest.SHARED_DATA, $HYBRID_SHARED_DATA) used directly would skip the check."""
    others = [p for p in sorted(HERE.glob("*.py")) if p.name not in ("conftest.py", Path(__file__).name)]
    direct = [p.name for p in others if "SHARED_DATA" in p.read_text()]
    assert direct == [], f"{direct}: use conftest.shared_data(sub) in a test marked @pytest.mark.data"
