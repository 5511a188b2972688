"""Fixtures: the Railway stand-in, for the upgrade's converge (tests/plandiff/test_upgrade.py)."""

from tests.railway.conftest import client, schema, sleeps, standin  # noqa: F401
