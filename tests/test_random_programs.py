"""Random programs (hypothesis) against JAX: values and gradients w.r.t. every input.

A program is straight-line Python source over 1-3 float32 inputs, 3-7 steps built
from the op templates below, each step reading the previous one: elementwise unary /
binary ops (broadcasting vectors and columns against matrices), reductions, matmul,
reshape / transpose, slicing and concatenation; inputs no step read are joined in at
the end. Operand shapes are tracked by evaluating each step on NumPy arrays of ones,
so every program is well-formed. Domains are guarded (log / sqrt / pow / division
only see `x * x + 1`).

Hypothesis draws the seeds programs and their inputs are generated from (drawing the
structure op by op made its derandomized search repeat near-identical programs). Each
example is a batch of distinct seeds whose programs are compiled together as one irgrad
function returning, per program, (value, gradients of sum(value * w) w.r.t. all inputs),
each compared with JAX. Shrinking is off: a failing program is printed as source, and
shrinking would recompile dozens of them.

The same generator feeds the other transformations, inside the same kind of batch: jvp
along random tangents and vmap over a stacked batch of 2-3 inputs (in_axes 0), 15
programs each, and the Hessian of the scalar sum(program * w) w.r.t. every input, 10.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import irgrad
import irgrad.numpy as inp

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", False)
import jax.numpy as jnp  # noqa: E402

UNARY = [
    "np_.sin({0})", "np_.cos({0})", "np_.tanh({0})", "np_.exp(np_.tanh({0}))", "np_.log({0} * {0} + 1)",
    "np_.sqrt({0} * {0} + 1)", "np_.square({0})", "-{0}", "np_.arctan({0})", "0.5 * {0} - 1.0", "{0} ** 3",
    "1.0 / ({0} * {0} + 1)", "np_.maximum({0}, 0.0)", "np_.abs({0})", "np_.log1p(np_.abs({0}))",
    "np_.sinh(np_.tanh({0}))",
]
BINARY = [
    "{0} + {1}", "{0} - {1}", "{0} * {1}", "{0} / ({1} * {1} + 1)", "np_.maximum({0}, {1})",
    "np_.minimum({0}, {1})", "({0} * {0} + 1) ** np_.tanh({1})", "np_.where({0} > {1}, {0}, {1} * 2.0)",
    "np_.arctan2({0}, {1} * {1} + 1)",
]
REDUCERS = ["sum", "mean", "max", "min"]


def _shape_of(expr, pool_shapes):
    """The shape `expr` evaluates to in NumPy on arrays of ones, or None if it fails."""
    env = {"np_": np, **{f"v{i}": np.ones(s) for i, s in enumerate(pool_shapes)}}
    try:
        with np.errstate(all="ignore"):
            out = eval(expr, env)  # noqa: S307 - our own generated expression
    except (ValueError, IndexError, TypeError):
        return None
    shape = np.shape(out)
    return shape if 0 < int(np.prod(shape, dtype=np.int64)) <= 64 and len(shape) <= 3 else None


def _candidates(pool):
    """Every (kind, expression) that applies to the newest value in the pool (so each
    step feeds the next), the second operand of binary ops being any pool value."""
    a, sa = f"v{len(pool) - 1}", pool[-1]
    names = [f"v{i}" for i in range(len(pool))]
    out = {"unary": [t.format(a) for t in UNARY], "binary": [], "reduce": [], "matmul": [], "shape": [],
           "slice": [], "concat": []}
    for r in REDUCERS:
        out["reduce"].append(f"np_.{r}({a})")
        for ax in range(len(sa)):
            out["reduce"] += [f"np_.{r}({a}, axis={ax})", f"np_.{r}({a}, axis={ax - len(sa)}, keepdims=True)"]
    if len(sa) == 2:
        out["shape"] += [f"{a}.T", f"np_.reshape({a}, ({sa[1]}, {sa[0]}))"]
    if len(sa) >= 1:
        out["shape"] += [f"np_.reshape({a}, (-1,))", f"{a}[None]", f"np_.expand_dims({a}, -1)"]
        out["slice"].append(f"{a}[0]")
    for ax, n in enumerate(sa):
        if n >= 2:
            lead = ":, " * ax
            out["slice"] += [f"{a}[{lead}::-1]", f"{a}[{lead}1:]", f"{a}[{lead}::2]", f"{a}[..., :-1]"]
    for b, sb in zip(names, pool):
        out["binary"] += [f"{a} + {b}", f"{b} + {a}"]  # a broadcasting check; expanded below
        out["matmul"] += [f"np_.matmul({a}, {b})", f"np_.matmul({b}, {a})"]
        if sa == sb and len(sa) >= 1:
            out["concat"] += [f"np_.concatenate([{a}, {b}], axis=0)", f"np_.concatenate([{b}, {a}], axis=-1)"]
    ok = {k: sorted(set(e for e in v if _shape_of(e, pool) is not None)) for k, v in out.items()}
    # Every binary template broadcasts like `+`.
    ok["binary"] = [t.format(*e.split(" + ")) for e in ok["binary"] for t in BINARY]
    return {k: v for k, v in ok.items() if v}


KIND_WEIGHTS = {"unary": 3, "binary": 3, "reduce": 1, "matmul": 1, "shape": 1, "slice": 1, "concat": 0.5}


def build_program(seed: int) -> Program:
    """A random well-formed program over 1-3 inputs, 3-7 steps, from a seed."""
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 5)), int(rng.integers(2, 5))
    shapes = [(m, n), (n,), (m, 1), (m, n), ()]
    in_shapes = [shapes[i] for i in rng.integers(0, len(shapes), int(rng.integers(1, 4)))]
    pool, lines = list(in_shapes), []

    def step(expr):
        lines.append(f"    v{len(pool)} = {expr}")
        pool.append(_shape_of(expr, pool))

    for _ in range(int(rng.integers(3, 8))):
        cands = _candidates(pool)
        kinds = sorted(cands)
        p = np.array([KIND_WEIGHTS[k] for k in kinds], float)
        kind = kinds[rng.choice(len(kinds), p=p / p.sum())]
        step(cands[kind][rng.integers(len(cands[kind]))])
    # Make every input reach the result: join the ones no step read.
    for i in range(len(in_shapes)):
        if not any(re.search(rf"\bv{i}\b", ln.split("=", 1)[1]) for ln in lines):
            op = "+*-"[rng.integers(3)]
            joined = f"v{len(pool) - 1} {op} v{i}"
            step(joined if _shape_of(joined, pool) is not None else f"v{len(pool) - 1} {op} np_.mean(v{i})")
    args = ", ".join(f"v{i}" for i in range(len(in_shapes)))
    source = f"def program(np_, {args}):\n" + "\n".join(lines) + f"\n    return v{len(pool) - 1}\n"
    return Program(source, tuple(in_shapes), pool[-1], seed)


class Program:
    def __init__(self, source, in_shapes, out_shape, seed):
        self.source, self.in_shapes, self.out_shape, self.seed = source, in_shapes, out_shape, seed
        env = {}
        exec(compile(source, "<random program>", "exec"), env)  # noqa: S102 - generated above
        self.fn = env["program"]

    def __repr__(self):
        return f"# inputs {self.in_shapes}, seed {self.seed}\n{self.source}"


def _loss(np_, fn, w):
    return lambda *xs: np_.sum(fn(np_, *xs) * w)


def _close(what, actual, expected, prog):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, \
        f"{what}: {actual.dtype}{actual.shape} != JAX's {expected.dtype}{expected.shape}\n{prog!r}"
    scale = 1.0 + float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=2e-4, atol=2e-4 * scale, err_msg=f"{what}\n{prog!r}")


# Each hypothesis example is a batch of PER_COMPILE programs (distinct seeds), compiled as
# ONE irgrad.jit returning every program's results: one IREE compile per batch instead of
# one per program (the programs are small, so the compile's fixed cost dominated). Every
# program is still compared on its own, and a failure prints its source. The transforms
# (jvp, vmap, hessian) run inside that jit; at top level they are tested in test_transforms.
PER_COMPILE = 5


def batches(programs_per_test):
    """settings + given for `programs_per_test` programs in batches of PER_COMPILE."""
    def decorate(test):
        test = given(st.lists(st.integers(0, 2**32 - 1), min_size=PER_COMPILE, max_size=PER_COMPILE, unique=True)
                     .map(lambda seeds: [build_program(seed) for seed in seeds]))(test)
        return settings(max_examples=programs_per_test // PER_COMPILE, derandomize=True, deadline=None,
                        database=None, phases=(Phase.explicit, Phase.generate),
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])(test)
    return decorate


def together(progs, make, args):
    """[make(prog)(*args[k]) for each prog], all in one irgrad.jit; if that fails, each
    program alone (as a top-level call), so the error names the program."""
    try:
        return irgrad.jit(lambda all_args: [make(p)(*a) for p, a in zip(progs, all_args)])(args)
    except Exception:  # noqa: BLE001 - rerun one by one below
        pass
    outs = []
    for p, a in zip(progs, args):
        try:
            outs.append(make(p)(*a))
        except Exception as e:
            raise AssertionError(f"irgrad failed on\n{p!r}") from e
    return outs


def jax_together(make, progs, args):
    """JAX's [make(prog)(*args[k]) for each prog] in ONE jax.jit: one XLA compile per batch
    instead of one per program (and one per op for eager references)."""
    return jax.jit(lambda all_args: [make(p)(*a) for p, a in zip(progs, all_args)])(args)


def _inputs(prog):
    rng = np.random.default_rng(prog.seed)
    return rng, [rng.uniform(-2.0, 2.0, s).astype(np.float32) for s in prog.in_shapes]


def _argnums(prog):
    return tuple(range(len(prog.in_shapes)))


@batches(30)
def test_random_program_matches_jax(progs):
    cases = []
    for prog in progs:
        rng, xs = _inputs(prog)
        cases.append((xs, rng.standard_normal(prog.out_shape).astype(np.float32)))
    got = together(progs, lambda p: lambda *a: (p.fn(inp, *a), irgrad.grad(
        _loss(inp, p.fn, cases[progs.index(p)][1]), _argnums(p))(*a)), [xs for xs, _ in cases])
    expected = jax_together(lambda p: lambda xs, w: (p.fn(jnp, *xs), jax.grad(_loss(jnp, p.fn, w), _argnums(p))(*xs)),
                            progs, cases)
    for prog, (value, grads), (expected_value, expected_grads) in zip(progs, got, expected):
        _close("value", value, expected_value, prog)
        assert bool(value.weak_type) == bool(expected_value.weak_type), f"weak_type\n{prog!r}"
        for i, (g, e) in enumerate(zip(grads, expected_grads)):
            _close(f"gradient wrt input {i}", g, e, prog)


@batches(15)
def test_random_program_jvp_matches_jax(progs):
    cases = []
    for prog in progs:
        rng, xs = _inputs(prog)
        cases.append((xs, [rng.standard_normal(s).astype(np.float32) for s in prog.in_shapes]))
    got = together(progs, lambda p: lambda xs, ts: irgrad.jvp(lambda *a: p.fn(inp, *a), xs, ts), cases)
    references = jax_together(lambda p: lambda xs, ts: jax.jvp(lambda *a: p.fn(jnp, *a), xs, ts), progs, cases)
    for prog, (value, tangent), expected in zip(progs, got, references):
        _close("jvp value", value, expected[0], prog)
        _close("jvp tangent", tangent, expected[1], prog)


@batches(15)
def test_random_program_vmap_matches_jax(progs):
    cases = []
    for prog in progs:
        rng, _ = _inputs(prog)
        n = int(rng.integers(2, 4))
        cases.append([rng.uniform(-2.0, 2.0, (n, *s)).astype(np.float32) for s in prog.in_shapes])
    got = together(progs, lambda p: irgrad.vmap(lambda *a: p.fn(inp, *a)), cases)
    references = jax_together(lambda p: jax.vmap(lambda *a: p.fn(jnp, *a)), progs, cases)
    for prog, batch, value, expected in zip(progs, cases, got, references):
        _close(f"vmap over a batch of {len(batch[0])}", value, expected, prog)


@batches(10)
def test_random_program_hessian_matches_jax(progs):
    cases = []
    for prog in progs:
        rng, xs = _inputs(prog)
        cases.append((xs, rng.standard_normal(prog.out_shape).astype(np.float32)))
    got = together(progs, lambda p: irgrad.hessian(_loss(inp, p.fn, cases[progs.index(p)][1]), _argnums(p)),
                   [xs for xs, _ in cases])
    references = jax_together(lambda p: lambda xs, w: jax.hessian(_loss(jnp, p.fn, w), _argnums(p))(*xs),
                              progs, cases)
    for prog, hessian, expected in zip(progs, got, references):
        argnums = _argnums(prog)
        for i in argnums:
            for j in argnums:
                _close(f"hessian block d2/dx{i}dx{j}", hessian[i][j], expected[i][j], prog)


def test_generator_covers_every_kind():
    """The generator reaches every op kind (a guard against a silently shrunken search space)."""
    cands = _candidates([(4,), (3, 1), (3, 4)])
    assert set(cands) == {"unary", "binary", "reduce", "matmul", "shape", "slice", "concat"}
    assert "np_.matmul(v2, v0)" in cands["matmul"] and "np_.matmul(v0, v2)" not in cands["matmul"]
    assert "np_.maximum(v2, v1)" in cands["binary"] and "v2 + v0" in cands["binary"]
    assert "np_.sum(v2, axis=-1, keepdims=True)" in cands["reduce"] and "v2[:, ::-1]" in cands["slice"]
