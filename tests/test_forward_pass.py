"""The forward-mode pass on hand-written MLIR, checked against `jax.jvp`.

Each suite is one MLIR module holding several functions; `forward.jvp` adds @F_jvp
for each, the module is compiled once by IREE, and each @F_jvp is called on random
inputs and tangents and compared with `jax.jvp` of the same function written in
jax.numpy. The functions are test_reverse_pass's corpus (so both modes see the same
IR) plus the cases only forward mode has. Composition: jvp of vjp (Hessian-vector
products), vjp of jvp and jvp of jvp, all in one module.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import test_reverse_pass as R
from irgrad.passes import ad, forward, reverse
from irgrad.passes.ir import IRError, building, ir
from irgrad.runtime.compiler import compile_mlir
from irgrad.runtime.executable import Executable
from test_reverse_pass import Case, normal, only_public, run_opt, to_numpy

# ---------------------------------------------------------------------- machinery


def scalar_signature(module, fn_name):
    """Positions of @fn_name's f32 (not tensor) arguments, and whether some result is an
    f32: such functions are called through iree.runtime's generic invoker."""
    fn = ad.lookup(module, fn_name)
    ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
    scalar = lambda t: not isinstance(t, ir.RankedTensorType)
    return tuple(k for k, t in enumerate(ftype.inputs) if scalar(t)), any(scalar(t) for t in ftype.results)


def as_inputs(arrays):
    return [np.asarray(a, np.float32) if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in arrays]


class Suite:
    """A module of functions, each given a jvp by forward.jvp, compiled once."""

    def __init__(self, source, cases, name):
        self.cases = {c.name: c for c in cases}
        self.errors, self.scalars = {}, {}
        with building():
            module = ir.Module.parse(R.MAPS + source)
            for c in cases:
                try:
                    new = ad.lookup(module, forward.jvp(module, c.name, wrt=c.wrt))
                    if "sym_visibility" in new.attributes:   # @F is private: export @F_jvp anyway
                        del new.attributes["sym_visibility"]
                    self.scalars[c.name] = scalar_signature(module, c.name + "_jvp")
                except IRError as e:
                    self.errors[c.name] = str(e)
            self.text = str(module)
        entries = [c.name + "_jvp" for c in cases if c.name not in self.errors]
        self.vmfb = compile_mlir(only_public(self.text, entries), name=name)
        self.executables = {}

    def call(self, entry, args, scalars=((), False)):
        if entry not in self.executables:
            self.executables[entry] = Executable(self.vmfb, entry=entry)
        return call(self.executables[entry], args, *scalars)

    def check(self, name, seed=0, rtol=2e-5, atol=2e-5):
        assert name not in self.errors, self.errors[name]
        case = self.cases[name]
        rng = np.random.default_rng(seed)
        args = as_inputs(case.inputs(rng))
        check_jvp(lambda a: self.call(name + "_jvp", a, self.scalars[name]), case.jax_fn, args, case.wrt, rng,
                  rtol, atol)


def call(ex, args, scalars=(), scalar_results=False):
    if not scalars and not scalar_results:
        return [to_numpy(r) for r in ex(*args)]
    # f32 (not tensor) values go through iree.runtime's generic invoker, as Python floats.
    out = ex.fn(*[float(a) if i in scalars else a for i, a in enumerate(args)])
    return [to_numpy(r) for r in (out if isinstance(out, (tuple, list)) else [out])]


def jvp_expected(jax_fn, args, wrt, tangents):
    """(results..., tangents of the float results...) from jax.jvp along `wrt` only."""
    def along(*xs):
        full = list(args)
        for i, x in zip(wrt, xs):
            full[i] = x
        return jax_fn(*full)
    out, tout = jax.jvp(along, tuple(jnp.asarray(args[i]) for i in wrt), tuple(jnp.asarray(t) for t in tangents))
    outs, touts = (list(out), list(tout)) if isinstance(out, tuple) else ([out], [tout])
    floats = [k for k, o in enumerate(outs) if np.asarray(o).dtype.kind == "f"]
    return [np.asarray(o) for o in outs] + [np.asarray(touts[k]) for k in floats], len(outs)


def check_jvp(run, jax_fn, args, wrt, rng, rtol=2e-5, atol=2e-5):
    """Call run(args + tangents) and compare (results..., tangents...) with jax.jvp."""
    wrt = [i for i, a in enumerate(args) if a.dtype.kind == "f"] if wrt is None else wrt
    tangents = [rng.standard_normal(np.shape(args[i])).astype(np.float32) for i in wrt]
    expected, n_out = jvp_expected(jax_fn, [jnp.asarray(a) for a in args], wrt, tangents)
    got = run([*args, *tangents])
    assert len(got) == len(expected), (len(got), len(expected))
    for k, (g, e) in enumerate(zip(got, expected)):
        what = f"result {k}" if k < n_out else f"tangent {k - n_out}"
        assert np.shape(g) == np.shape(e), (what, np.shape(g), np.shape(e))
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=what)


# ------------------------------------------------------- scalar ops: in bodies and on tensors

@pytest.fixture(scope="module")
def body_suite():
    return Suite(R.BODY_SRC, R.SCALAR_CASES["body"], "test_forward_body")


@pytest.fixture(scope="module")
def tensor_suite():
    return Suite(R.TENSOR_SRC, R.SCALAR_CASES["tensor"], "test_forward_tensor")


@pytest.mark.parametrize("name", [c.name for c in R.SCALAR_CASES["body"]])
def test_scalar_op_in_body(body_suite, name):
    body_suite.check(name)


@pytest.mark.parametrize("name", [c.name for c in R.SCALAR_CASES["tensor"]])
def test_scalar_op_on_tensors(tensor_suite, name):
    tensor_suite.check(name)


def test_every_scalar_rule_is_exercised():
    """Each op of the scalar table that IREE can compile appears in some test body."""
    source = R.BODY_SRC + R.TENSOR_SRC + R.LINALG_SRC + FORWARD_LINALG_SRC
    untested = {"math.log10"}  # IREE 3.13 fails to link log10f on CPU
    missing = [op for op in forward.S.PARTIALS if op not in untested and f"{op} " not in source]
    assert not missing, missing


# ----------------------------------------------------------- linalg: maps, reductions, named ops

FORWARD_LINALG_SRC = """
// x[i, j] * t[2 - j], t gathered by tensor.extract inside the body (differentiated too)
func.func @gather(%x: tensor<2x3xf32>, %t: tensor<3xf32>) -> tensor<2x3xf32> {
  %two = arith.constant 2 : index
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %j = linalg.index 1 : index
    %k = arith.subi %two, %j : index
    %tk = tensor.extract %t[%k] : tensor<3xf32>
    %p = arith.mulf %a, %tk : f32
    %s = math.sin %p : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// out[i] = sum_k x[i + k] * w[k]: an input map that is not a projected permutation
func.func @conv(%x: tensor<6xf32>, %w: tensor<3xf32>) -> tensor<4xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(i, k) -> (i + k)>, affine_map<(i, k) -> (k)>,
                                        affine_map<(i, k) -> (i)>], iterator_types = ["parallel", "reduction"]}
      ins(%x, %w : tensor<6xf32>, tensor<3xf32>) outs(%f : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// x[::-1] * x through the map (d0) -> (3 - d0)
func.func @reversed(%x: tensor<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(d0) -> (3 - d0)>, #v, #v], iterator_types = ["parallel"]}
      ins(%x, %x : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// a parallel generic that reads its `outs`: maximum(x, init) * init (ties in row 0)
func.func @reads_outs(%x: tensor<2x3xf32>, %init: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<2x3xf32>) outs(%init : tensor<2x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %o : f32
    %p = arith.mulf %m, %o : f32
    linalg.yield %p : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// init * prod(x, axis=1), zeros in x and in init
func.func @prod_init(%x: tensor<3x4xf32>, %init: tensor<3xf32>) -> tensor<3xf32> {
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%init : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.mulf %acc, %a : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// min over x's rows and init, differentiated along init only (ties with x)
func.func @min_init_only(%x: tensor<3x4xf32>, %init: tensor<3xf32>) -> tensor<3xf32> {
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%init : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.minimumf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// init * prod(x * x), differentiated along init only
func.func @prod_init_only(%x: tensor<3x4xf32>, %init: tensor<3xf32>) -> tensor<3xf32> {
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%init : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %sq = arith.mulf %a, %a : f32
    %m = arith.mulf %acc, %sq : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// init + sum(x * x, axis=1), differentiated along init only (no tangent generic)
func.func @sum_init_only(%x: tensor<2x3xf32>, %init: tensor<2xf32>) -> tensor<2xf32> {
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<2x3xf32>) outs(%init : tensor<2xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %p = arith.mulf %a, %a : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// fma(x, y, z) with y broadcast along rows
func.func @fma(%x: tensor<2x3xf32>, %y: tensor<3xf32>, %z: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #col, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %y, %z : tensor<2x3xf32>, tensor<3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %o: f32):
    %v = math.fma %a, %b, %c : f32
    linalg.yield %v : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// sum(x * x, 1) and an integer output that counts negatives (no tangent, not a plain reduction)
func.func @sum_and_count(%x: tensor<2x3xf32>) -> (tensor<2xf32>, tensor<2xi32>) {
  %z = arith.constant 0.0 : f32
  %zi = arith.constant 0 : i32
  %one = arith.constant 1 : i32
  %e = tensor.empty() : tensor<2xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2xf32>) -> tensor<2xf32>
  %ei = tensor.empty() : tensor<2xi32>
  %fi = linalg.fill ins(%zi : i32) outs(%ei : tensor<2xi32>) -> tensor<2xi32>
  %0:2 = linalg.generic {indexing_maps = [#id, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<2x3xf32>) outs(%f, %fi : tensor<2xf32>, tensor<2xi32>) {
  ^bb0(%a: f32, %acc: f32, %n: i32):
    %p = arith.mulf %a, %a : f32
    %s = arith.addf %acc, %p : f32
    %neg = arith.cmpf olt, %a, %z : f32
    %n1 = arith.addi %n, %one : i32
    %c = arith.select %neg, %n1, %n : i32
    linalg.yield %s, %c : f32, i32
  } -> (tensor<2xf32>, tensor<2xi32>)
  return %0#0, %0#1 : tensor<2xf32>, tensor<2xi32>
}

// softmax along rows: max, exp, sum and a divide, as the frontend lowers it
func.func @softmax(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %z = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<2xf32>
  %fm = linalg.fill ins(%ninf : f32) outs(%e1 : tensor<2xf32>) -> tensor<2xf32>
  %m = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<2x4xf32>) outs(%fm : tensor<2xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<2xf32>
  %e2 = tensor.empty() : tensor<2x4xf32>
  %ex = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %m : tensor<2x4xf32>, tensor<2xf32>) outs(%e2 : tensor<2x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %a, %b : f32
    %r = math.exp %d : f32
    linalg.yield %r : f32
  } -> tensor<2x4xf32>
  %fs = linalg.fill ins(%z : f32) outs(%e1 : tensor<2xf32>) -> tensor<2xf32>
  %s = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%ex : tensor<2x4xf32>) outs(%fs : tensor<2xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<2xf32>
  %y = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%ex, %s : tensor<2x4xf32>, tensor<2xf32>) outs(%e2 : tensor<2x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.divf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
"""


def gather_fn(x, t):
    return jnp.sin(x * t[::-1][None, :])


def reads_outs_inputs(rng):
    x, init = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    init[0] = x[0]
    return [x, init]


def prod_init_inputs(rng):
    x = R.rows_with_zeros(rng)[0]
    return [x, np.array([0.0, 1.5, -0.5])]   # row 0: init is the only zero; row 1: x and init; row 2: two in x


def min_init_inputs(rng):
    x = R.rows_with_low_ties(rng)[0]
    return [x, np.array([x[0].min(), x[1].min() - 1.0, x[2].min()])]


FORWARD_LINALG_CASES = [
    Case("gather", gather_fn, normal((2, 3), (3,))),
    Case("conv", lambda x, w: jnp.correlate(x, w, "valid"), normal((6,), (3,))),
    Case("reversed", lambda x: x[::-1] * x, normal((4,))),
    Case("reads_outs", lambda x, init: jnp.maximum(x, init) * init, reads_outs_inputs),
    Case("prod_init", lambda x, init: init * jnp.prod(x, axis=1), prod_init_inputs),
    Case("min_init_only", lambda x, init: jnp.min(jnp.concatenate([x, init[:, None]], 1), 1), min_init_inputs, wrt=[1]),
    Case("prod_init_only", lambda x, init: init * jnp.prod(x * x, axis=1), normal((3, 4), (3,)), wrt=[1]),
    Case("sum_init_only", lambda x, init: init + jnp.sum(x * x, axis=1), normal((2, 3), (2,)), wrt=[1]),
    Case("fma", lambda x, y, z: x * y + z, normal((2, 3), (3,), (2, 3))),
    Case("sum_and_count", lambda x: (jnp.sum(x * x, 1), jnp.sum(x < 0, 1).astype(jnp.int32)), normal((2, 3))),
    Case("softmax", lambda x: jax.nn.softmax(x, axis=1), normal((2, 4))),
]
LINALG_CASES = R.LINALG_CASES + FORWARD_LINALG_CASES


@pytest.fixture(scope="module")
def linalg_suite():
    return Suite(R.LINALG_SRC + FORWARD_LINALG_SRC, LINALG_CASES, "test_forward_linalg")


@pytest.mark.parametrize("name", [c.name for c in LINALG_CASES])
def test_linalg(linalg_suite, name):
    linalg_suite.check(name)


def test_primal_generics_stay_and_tangents_get_their_own(linalg_suite):
    """A parallel generic keeps its primal op (independent of the tangents, so a batched
    jvp leaves it unbatched) and gains one tangent generic; a sum keeps its primal
    generic and gains an add-reduction tangent generic."""
    text = linalg_suite.text
    maps_jvp = text[text.index("func.func @maps_jvp("):]
    maps_jvp = maps_jvp[:maps_jvp.index("\n  }\n")]
    assert maps_jvp.count("linalg.generic") == 2 and "} -> (tensor" not in maps_jvp
    sum_jvp = text[text.index("func.func @sum_init_jvp("):]
    sum_jvp = sum_jvp[:sum_jvp.index("\n  }\n")]
    assert sum_jvp.count("linalg.generic") == 2 and sum_jvp.count('"reduction"]') == 2


# ------------------------------------------------------------- tensor ops, calls, activity

# (A 1-d tensor.insert: IREE 3.13 fails on tensor.insert at a non-zero offset of a 2-d tensor.)
FORWARD_TENSOR_OPS_SRC = """
func.func @insert_extract(%x: tensor<4xf32>, %y: tensor<2x3xf32>) -> tensor<4xf32> {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %s = tensor.extract %y[%c1, %c2] : tensor<2x3xf32>
  %s2 = arith.mulf %s, %s : f32
  %i = tensor.insert %s2 into %x[%c2] : tensor<4xf32>
  %p = math.sin %i : tensor<4xf32>
  return %p : tensor<4xf32>
}

// an integer result (no tangent) and a float result independent of %x (a zero tangent)
func.func @mixed_results(%x: tensor<2x3xf32>, %n: tensor<2x3xi32>)
    -> (tensor<2x3xi32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %f = arith.fptosi %x : tensor<2x3xf32> to tensor<2x3xi32>
  %m = arith.addi %f, %n : tensor<2x3xi32>
  %s = math.sin %x : tensor<2x3xf32>
  %nf = arith.sitofp %n : tensor<2x3xi32> to tensor<2x3xf32>
  return %m, %s, %nf : tensor<2x3xi32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// floor has a zero derivative; the cast pair maps the tangent through f16
func.func @floor_cast(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %f = math.floor %x : tensor<2x3xf32>
  %h = arith.truncf %x : tensor<2x3xf32> to tensor<2x3xf16>
  %e = math.exp %h : tensor<2x3xf16>
  %b = arith.extf %e : tensor<2x3xf16> to tensor<2x3xf32>
  %p = arith.mulf %f, %b : tensor<2x3xf32>
  return %p : tensor<2x3xf32>
}
"""

FORWARD_TENSOR_OPS_CASES = [
    Case("insert_extract", lambda x, y: jnp.sin(x.at[2].set(y[1, 2] ** 2)), normal((4,), (2, 3))),
    Case("mixed_results", lambda x, n: (x.astype(jnp.int32) + n, jnp.sin(x), n.astype(jnp.float32)),
         lambda rng: [rng.standard_normal((2, 3)) * 3, R.ints((2, 3))(rng)]),
    Case("floor_cast", lambda x: jnp.floor(x) * jnp.exp(x.astype(jnp.float16)).astype(jnp.float32),
         lambda rng: [rng.uniform(-2, 2, (2, 3))]),
]
# @helper is private and called by @calls: its own jvp comes first (inlining @calls drops it).
TENSOR_OPS_CASES = ([Case("helper", lambda a, b: a * jnp.sin(b), normal((2, 3), (2, 3)))] + R.TENSOR_OPS_CASES
                    + FORWARD_TENSOR_OPS_CASES)


@pytest.fixture(scope="module")
def tensor_ops_suite():
    return Suite(R.TENSOR_OPS_SRC + FORWARD_TENSOR_OPS_SRC, TENSOR_OPS_CASES, "test_forward_tensor_ops")


@pytest.mark.parametrize("name", [c.name for c in TENSOR_OPS_CASES])
def test_tensor_ops(tensor_ops_suite, name):
    rtol = 2e-3 if name == "floor_cast" else 2e-5   # exp in f16
    tensor_ops_suite.check(name, rtol=rtol)


def signature(text, fn):
    head = next(line for line in text.splitlines() if f"func.func @{fn}(" in line)
    return head.split("(", 1)[1].split(")")[0], head.split("->")[1]


def test_signatures(tensor_ops_suite):
    """One tangent argument per wrt arg; one tangent result per float result, none for ints."""
    text = tensor_ops_suite.text
    args, results = signature(text, "wrt_subset_jvp")
    assert args.count("tensor<2x3xf32>") == 3 + 2 and results.count("tensor<2x3xf32>") == 2
    args, results = signature(text, "mixed_results_jvp")
    assert args.count("xf32") == 2 and results.count("xi32") == 1 and results.count("xf32") == 4


def test_inactive_result_gets_zero_tangent(tensor_ops_suite):
    rng = np.random.default_rng(1)
    x, tx = (rng.standard_normal((2, 3)).astype(np.float32) for _ in range(2))
    n = rng.integers(-3, 4, (2, 3)).astype(np.int32)
    m, s, nf, ts, tnf = tensor_ops_suite.call("mixed_results_jvp", [x, n, tx])
    np.testing.assert_allclose(ts, np.cos(x) * tx, rtol=1e-5, atol=1e-6)
    assert np.array_equal(tnf, np.zeros_like(nf)) and np.array_equal(m, x.astype(np.int32) + n)


# ----------------------------------------------------------------------- composition

def jax_jvp_fn(f):
    """The JAX twin of @F_jvp (all args differentiated): (args..., tangents...) -> (F(args), tangent)."""
    def f_jvp(*args_and_tangents):
        n = len(args_and_tangents) // 2
        return jax.jvp(f, args_and_tangents[:n], args_and_tangents[n:])
    return f_jvp


def jax_vjp_fn(f):
    return R.jax_vjp_fn(f)


# name -> (jax function, inputs)
COMPOSED = {
    **{n: R.GRAD2_FNS[n] for n in R.GRAD2_FNS},
    "g_softmax_ce": (lambda x: -jnp.sum(jax.nn.log_softmax(x, axis=1)[:, 0]), normal((2, 4))),
}
COMPOSED_SRC = R.GRAD2_SRC + """
// -sum(log_softmax(x)[:, 0]) = sum(log(sum(exp(x), 1)) - x[:, 0])
func.func @g_softmax_ce(%x: tensor<2x4xf32>) -> tensor<f32> {
  %z = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<2xf32>
  %fs = linalg.fill ins(%z : f32) outs(%e1 : tensor<2xf32>) -> tensor<2xf32>
  %s = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<2x4xf32>) outs(%fs : tensor<2xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %ex = math.exp %a : f32
    %r = arith.addf %ex, %acc : f32
    linalg.yield %r : f32
  } -> tensor<2xf32>
  %x0 = tensor.extract_slice %x[0, 0] [2, 1] [1, 1] : tensor<2x4xf32> to tensor<2xf32>
  %l = math.log %s : tensor<2xf32>
  %d = arith.subf %l, %x0 : tensor<2xf32>
  %e0 = tensor.empty() : tensor<f32>
  %f0 = linalg.fill ins(%z : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %t = linalg.generic {indexing_maps = [#v, #s], iterator_types = ["reduction"]}
      ins(%d : tensor<2xf32>) outs(%f0 : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  return %t : tensor<f32>
}
"""
# entry -> how to build its JAX twin from f, and whether it is a vjp (checked with jax.vjp)
ORDERS = {
    "vjp_jvp": (lambda f: jax_vjp_fn(f), False),     # forward over reverse: Hessian-vector products
    "jvp_vjp": (lambda f: jax_jvp_fn(f), True),      # reverse over forward
    "jvp_jvp": (lambda f: jax_jvp_fn(f), False),     # forward over forward
}


@pytest.fixture(scope="module")
def composed_module():
    with building():
        module = ir.Module.parse(R.MAPS + COMPOSED_SRC)
        for name in COMPOSED:
            reverse.vjp(module, name)
            forward.jvp(module, name + "_vjp")
            forward.jvp(module, name)
            reverse.vjp(module, name + "_jvp")
            forward.jvp(module, name + "_jvp")
        text = str(module)
    entries = [f"{n}_{o}" for n in COMPOSED for o in ORDERS]
    return text, compile_mlir(only_public(text, entries), name="test_forward_composed")


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("name", list(COMPOSED))
def test_composition(composed_module, name, order):
    _, vmfb = composed_module
    f, inputs = COMPOSED[name]
    twin, is_vjp = ORDERS[order]
    rng = np.random.default_rng(4)
    args = as_inputs(inputs(rng))
    if order == "vjp_jvp":
        args.append(np.asarray(rng.standard_normal(), np.float32))      # the output cotangent
    else:
        args += [rng.standard_normal(a.shape).astype(np.float32) for a in args]   # the tangents
    ex = Executable(vmfb, entry=f"{name}_{order}")
    run = lambda a: [to_numpy(r) for r in ex(*a)]
    if is_vjp:
        R.check_against_jax(run, twin(f), args, None, rng, rtol=5e-5, atol=5e-5)
    else:
        check_jvp(run, twin(f), args, None, rng, rtol=5e-5, atol=5e-5)


# ----------------------------------------------------------------------------- irgrad-opt

def test_opt_jvp_with_wrt_and_cleanup():
    """irgrad-opt --jvp F --wrt 1 --cleanup: one @F_jvp taking one tangent, run against JAX."""
    status, out, err = run_opt(["-", "--jvp", "g_mlp", "--wrt", "1", "--cleanup"], stdin_text=R.MAPS + R.GRAD2_SRC)
    assert status == 0 and err == "", err
    assert out.count("func.func @g_mlp_jvp(") == 1 and "_vjp" not in out
    ex = Executable(compile_mlir(out, name="test_forward_opt"), entry="g_mlp_jvp")
    f, inputs = R.GRAD2_FNS["g_mlp"]
    rng = np.random.default_rng(6)
    check_jvp(lambda a: [to_numpy(r) for r in ex(*a)], f, as_inputs(inputs(rng)), [1], rng)


# ----------------------------------------------------------------------------- errors

ERRORS = [
    ("erfc", R.ERFC_SRC, ["--jvp", "f"], ["forward mode: no rule for 'math.erfc'", "loc("]),
    ("pad", R.PAD_SRC, ["--jvp", "f"], ["no rule for 'tensor.pad'"]),
    ("wrt_int", R.INT_SRC, ["--jvp", "f", "--wrt", "1"], ["--wrt 1", "not a float"]),
]


@pytest.mark.parametrize("src,args,needles", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_error_is_one_line(src, args, needles):
    status, out, err = run_opt(["-", *args], stdin_text=src)
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("irgrad-opt: error: "), err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.mark.parametrize("transform", [forward.jvp, reverse.vjp], ids=["jvp", "vjp"])
def test_failed_pass_leaves_module_valid(transform):
    """A rule failure removes the half-built function, so the module can be used again."""
    with building():
        module = ir.Module.parse(R.ERFC_SRC + R.INT_SRC.replace("@f(", "@g("))
        with pytest.raises(IRError, match="math.erfc"):
            transform(module, "f")
        module.operation.verify()
        transform(module, "g")
        names = [ir.StringAttr(op.attributes["sym_name"]).value for op in module.body.operations]
        assert names == ["f", "g", f"g_{transform.__name__}"]
