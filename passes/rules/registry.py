"""The three rule tables, filled by the op-family modules, and the refusals.

A family module registers each op's reverse, forward and batching rule side by side:

    rule("tensor.cast", reverse=cast_reverse, forward=same_op(first), batch=cast_batch)

Rule signatures (the drivers' contracts):
  reverse(ctx, op, cotangents of op's results, None for none) -> one cotangent per operand (None for none)
  forward(ctx, op, tangents of op's operands, None for none)  -> one tangent per result (None for none)
  batch(b, op)                                                -> op's batched results (batch at dim 0)
An op whose results carry no derivative (floor, integer arithmetic, a comparison)
registers NO_DERIVATIVE for both modes. An op with no rule in some mode is listed in
REFUSED with the reason; each driver raises an IRError naming it (see `refusal`).
"""

from __future__ import annotations

from ..ad import unsupported

REVERSE: dict = {}
FORWARD: dict = {}
BATCH: dict = {}
# op name -> {mode: reason} for the modes the op has no rule in.
REFUSED: dict = {}


def rule(*names: str, reverse=None, forward=None, batch=None) -> None:
    """Register the rules of the ops `names` (one per mode; None leaves a mode out).

    >>> rule("tensor.cast", reverse=cast_reverse, forward=cast_forward, batch=cast_batch)  # doctest: +SKIP
    """
    for name in names:
        for table, fn in ((REVERSE, reverse), (FORWARD, forward), (BATCH, batch)):
            if fn is not None:
                assert name not in table, f"two rules for {name}"
                table[name] = fn


def refuse(*names: str, reason: str, modes=("reverse", "forward")) -> None:
    """List the ops `names` as refused in `modes`, with the reason the error gives."""
    for name in names:
        REFUSED.setdefault(name, {}).update({m: reason for m in modes})


def no_derivative_reverse(ctx, op, dres) -> list:
    """The op's results carry no derivative: no cotangent for any operand."""
    return [None] * len(op.operands)


def no_derivative_forward(ctx, op, ts) -> list:
    return [None] * len(op.results)


NO_DERIVATIVE = {"reverse": no_derivative_reverse, "forward": no_derivative_forward}


def refusal(op, mode: str):
    """The IRError for an op listed in REFUSED for `mode` (naming the op and giving the
    reason), or None if it is not listed."""
    reason = REFUSED.get(op.operation.name, {}).get(mode)
    return None if reason is None else unsupported(op, f"refused: {reason}", mode)


_TABLES = {"reverse": REVERSE, "forward": FORWARD, "batch": BATCH}


def rule_for(op, mode: str):
    """The `mode` rule for `op`; an IRError naming the op if it is refused or unknown."""
    found = _TABLES[mode].get(op.operation.name)
    if found is None:
        raise refusal(op, mode) or unsupported(op, mode=mode)
    return found
