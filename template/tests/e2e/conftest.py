"""Fixtures of the end-to-end tests."""

import pytest

from tests.e2e.serving import Caller, provision_caller


@pytest.fixture(scope="session")
def caller(tmp_path_factory: pytest.TempPathFactory) -> Caller:
    """The run's caller, made once and known to every server the tests start."""
    return provision_caller(tmp_path_factory.mktemp("caller"))
