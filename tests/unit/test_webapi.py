"""The shared HTTP hardening: excerpts JSON can carry, 422s that never amplify the input."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from fastapi.exceptions import RequestValidationError

from workshop.webapi import excerpt, validation_problems


@pytest.mark.parametrize(
    "value,expected",
    [
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (Decimal("1E+400"), "1E+400"),
        (Decimal("12.5"), 12.5),
        ("a\ud800b", "a\\ud800b"),
        ("x" * 10_000, "x" * 79 + "…"),
        (10**100, "1" + "0" * 18 + "…"),
        (None, None),
        (True, True),
        (3, 3),
    ],
)
def test_an_excerpt_is_short_and_json_can_carry_it(value, expected):
    assert excerpt(value) == expected
    json.dumps(excerpt(value), allow_nan=False).encode("utf-8")


def test_a_nested_input_is_summarised():
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    assert excerpt(deep) == "[[[...]]]"
    assert len(excerpt({"k": "v" * 10_000, "items": list(range(1000))})) <= 80


async def test_the_422_quotes_an_excerpt_and_only_json_safe_context():
    exc = RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": ("body", "price"),
                "msg": "bad",
                "input": float("nan"),
                "ctx": {"error": ValueError("no"), "le": Decimal("99999.99"), "gt": float("inf")},
            },
            {
                "type": "extra_forbidden",
                "loc": ("body", "k" * 10_000 + "\udfff"),
                "msg": "Extra inputs are not permitted",
                "input": "v" * 10_000_000,
            },
        ]
    )
    response = await validation_problems(None, exc)
    body = json.loads(response.body)
    assert response.status_code == 422 and len(response.body) < 1000
    first, second = body["detail"]
    assert first["input"] == "nan" and first["ctx"] == {"le": 99999.99, "gt": "inf"}
    assert len(second["loc"][1]) == 40 and len(second["input"]) == 80 and "ctx" not in second
