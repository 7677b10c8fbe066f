"""Test-wide settings: the ``ray`` marker follows the ``ray_session`` fixture.

A test is marked ``ray`` exactly when it uses the shared local Ray session (or starts Ray
itself, marked by hand), so ``pytest -m "not ray"`` runs everything that needs no Ray.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "ray_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)
