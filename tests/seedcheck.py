"""Run a seed-notebook cell with the irgrad imports and compare what it prints with
the tutorial's printed output: text equal up to white space, numbers within
float32 tolerance."""

from __future__ import annotations

import contextlib
import io
import re

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def run_cell(source: str, namespace: dict) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<seed cell>", "exec"), namespace)
    return out.getvalue()


def split(text: str):
    text = "".join(text.split())
    numbers = NUMBER.findall(text)
    return NUMBER.sub("#", text), numbers


def last_digit(number: str) -> float:
    """One unit in the last printed place of `number` ('1.760' -> 0.001)."""
    mantissa = number.lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(number.lower().split("e")[1]) if "e" in number.lower() else 0
    return 10.0 ** (exponent - decimals)


def assert_same_output(got: str, expected: str, rtol=2e-6, atol=1e-6):
    """Text equal up to white space; each number within float32 tolerance, where a
    value printed with few digits may differ by one unit in its last printed place
    (a float32 rounding difference can flip a digit printed by '.3f')."""
    gt, gn = split(got)
    et, en = split(expected)
    assert gt == et, f"printed text differs:\n--- got\n{got}\n--- expected\n{expected}"
    assert len(gn) == len(en)
    for g, e in zip(gn, en):
        tol = max(atol + rtol * abs(float(e)), 1.01 * last_digit(e) if last_digit(e) >= 1e-4 else 0.0)
        assert abs(float(g) - float(e)) <= tol, f"{g} != {e}\n--- got\n{got}\n--- expected\n{expected}"
