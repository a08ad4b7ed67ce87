"""Every op with a rule in one mode has one in all three (reverse, forward, batching),
or is listed in REFUSED with the reason; a refused op is a clear IRError naming it.
No IREE compile: the passes run on hand-written MLIR only."""

from __future__ import annotations

import pytest
from irgrad.passes import batching, forward, reverse
from irgrad.passes.ir import IRError, arith, building, ir, math
from irgrad.passes.rules import BATCH, FORWARD, REFUSED, REVERSE
from test_reverse_pass import run_opt

TABLES = {"reverse": REVERSE, "forward": FORWARD, "batch": BATCH}


def test_every_op_has_all_three_rules_or_a_refusal():
    missing = [(name, mode) for name in set().union(*TABLES.values()) for mode, table in TABLES.items()
               if name not in table and not REFUSED.get(name, {}).get(mode)]
    assert not missing, f"ops with a rule in one mode, none in another and no refusal: {sorted(missing)}"


def test_refusals_are_for_modes_without_a_rule():
    both = [(name, mode) for name, modes in REFUSED.items() for mode in modes if name in TABLES[mode]]
    assert not both, f"refused and ruled at once: {both}"
    assert all(reason.strip() for modes in REFUSED.values() for reason in modes.values())


def test_every_arith_and_math_op_is_covered():
    """The bindings' arith and math ops are all elementwise: each one has a batching rule."""
    names = {c.OPERATION_NAME for d in (arith, math) for c in vars(d).values()
             if isinstance(getattr(c, "OPERATION_NAME", None), str)}
    assert not names - set(BATCH), sorted(names - set(BATCH))


ERFC = ("func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {"
        " %y = math.erfc %x : tensor<3xf32>  return %y : tensor<3xf32> }")


@pytest.mark.parametrize("mode", ["--vjp", "--jvp"])
def test_refused_op_is_a_clear_error(mode):
    assert "math.erfc" in REFUSED
    status, out, err = run_opt(["-", mode, "f"], stdin_text=ERFC)
    assert status == 1 and out == ""
    assert err.startswith("irgrad-opt: error: ") and "no rule for 'math.erfc'" in err and "refused" in err
    assert REFUSED["math.erfc"]["reverse" if mode == "--vjp" else "forward"] in err


def test_refused_op_raises_irerror_and_leaves_the_module_as_it_was():
    with building():
        module = ir.Module.parse(ERFC)
        before = str(module)
        for run in (lambda: reverse.vjp(module, "f"), lambda: forward.jvp(module, "f")):
            with pytest.raises(IRError, match=r"no rule for 'math\.erfc'.*refused"):
                run()
            assert str(module) == before
        batching.vmap(module, "f", [0], axis_size=2)      # batching has a rule
