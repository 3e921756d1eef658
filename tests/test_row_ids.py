"""Ids in paths past the 32-bit INTEGER columns are a 422, never a 500 from the driver (PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import make_launch

HUGE = 2**40


@pytest.mark.parametrize(
    ("who", "path", "form"),
    [
        ("ada", f"/admin/users/{HUGE}", {"role": "agent", "active": "on"}),
        ("ada", f"/admin/users/{HUGE}/password", {}),
        ("ada", f"/admin/tokens/{HUGE}/revoke", {}),
        ("kari", f"/enquiries/{HUGE}/undo", {}),
        ("lena", f"/digests/{HUGE}/send", {}),
        ("lena", f"/launches/test-launch/relinks/{HUGE}/undo", {}),
    ],
)
def test_an_id_too_large_for_the_database_is_refused_not_a_500(
    web: Any, people: Any, db: Any, who: str, path: str, form: dict[str, str]
) -> None:
    make_launch(db)
    response = web(who).post(path, data=form)
    assert response.status_code == 422, (path, response.status_code)
