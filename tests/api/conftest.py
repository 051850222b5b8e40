import pytest

from tests.api.spec_world import SpecWorld


@pytest.fixture
def spec_world(api, parties):
    """The outside-client tests' world (tests/api/spec_world.py)."""
    return SpecWorld(api, parties)
