"""The reverse-mode pass on hand-written MLIR, through `irgrad-opt`, checked against JAX.

Each suite is one MLIR module holding several functions. `irgrad-opt --vjp F` runs on
it once per function (each run reads the previous run's output, so the pass also
sees modules that already hold vjp functions), the result is compiled once by IREE,
and each @F_vjp is called on random inputs and cotangents and compared with
`jax.vjp` of the same function written in jax.numpy.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from filecheck_runner import run_opt
from irgrad.runtime.compiler import compile_mlir
from irgrad.runtime.executable import Executable

OPT = os.path.join(os.path.dirname(sys.executable), "irgrad-opt")
MAPS = """
#id = affine_map<(d0, d1) -> (d0, d1)>
#tr = affine_map<(d0, d1) -> (d1, d0)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
#v = affine_map<(d0) -> (d0)>
#s = affine_map<(d0) -> ()>
#s2 = affine_map<(d0, d1) -> ()>
"""


# ---------------------------------------------------------------------- machinery

def opt_text(text, fn, *flags):
    """Run irgrad-opt on `text` (through stdin); the new module text, or raise with its error."""
    status, out, err = run_opt(["-", "--vjp", fn, *flags], stdin_text=text)
    if status != 0:
        raise AssertionError(f"irgrad-opt --vjp {fn} failed: {err.strip()}")
    return out


@dataclass
class Case:
    """One function of a suite: its jax.numpy twin, an input maker, the --wrt list."""
    name: str
    jax_fn: object
    inputs: object  # rng -> list of arrays
    wrt: list | None = None
    scalars: tuple = ()  # positions in (args..., cotangents...) of f32 (not tensor) values


class Suite:
    """A module of functions, each given a vjp by irgrad-opt, compiled once."""

    def __init__(self, source, cases, flags=()):
        self.cases = {c.name: c for c in cases}
        self.errors = {}
        text = MAPS + source
        for c in cases:
            wrt = [] if c.wrt is None else ["--wrt", ",".join(map(str, c.wrt))]
            try:
                text = opt_text(text, c.name, *wrt, *flags)
            except AssertionError as e:
                self.errors[c.name] = str(e)
        self.text = text
        self.vmfb = compile_mlir(only_public(text, [c.name + "_vjp" for c in cases]), name="test_reverse_pass")
        self.executables = {}

    def call(self, entry, args, scalars=()):
        if entry not in self.executables:
            self.executables[entry] = Executable(self.vmfb, entry=entry)
        ex = self.executables[entry]
        if not scalars:
            return [to_numpy(r) for r in ex(*args)]
        # f32 (not tensor) values go through iree.runtime's generic invoker, as Python floats.
        out = ex.fn(*[float(a) if i in scalars else a for i, a in enumerate(args)])
        return [to_numpy(r) for r in (out if isinstance(out, (tuple, list)) else [out])]

    def check(self, name, seed=0, rtol=2e-5, atol=2e-5):
        assert name not in self.errors, self.errors[name]
        case = self.cases[name]
        rng = np.random.default_rng(seed)
        args = [np.asarray(a, np.float32) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
                for a in case.inputs(rng)]
        run = lambda a: self.call(name + "_vjp", a, case.scalars)
        check_against_jax(run, case.jax_fn, args, case.wrt, rng, rtol, atol)


def only_public(text, entries):
    """Make every function but `entries` private, so IREE compiles only the entries
    (compile time grows with the number of functions)."""
    return re.sub(r"func\.func @(\w+)\(",
                  lambda m: m.group(0) if m.group(1) in entries else f"func.func private @{m.group(1)}(", text)


def to_numpy(result):
    return np.asarray(result.to_host()) if hasattr(result, "to_host") else np.asarray(result, np.float32)


def check_against_jax(run, jax_fn, args, wrt, rng, rtol=2e-5, atol=2e-5):
    """Call run(args + cotangents) and compare (results..., grads...) with jax.vjp."""
    wrt = [i for i, a in enumerate(args) if a.dtype.kind == "f"] if wrt is None else wrt
    jargs = [jnp.asarray(a) for a in args]
    out, pullback = jax.vjp(jax_fn, *jargs)
    outs = list(out) if isinstance(out, tuple) else [out]
    cts = [rng.standard_normal(np.shape(o)).astype(np.float32) for o in outs]
    grads = pullback(tuple(cts) if isinstance(out, tuple) else cts[0])
    expected = [np.asarray(o) for o in outs] + [np.asarray(grads[i]) for i in wrt]
    got = run([*args, *cts])
    assert len(got) == len(expected)
    for k, (g, e) in enumerate(zip(got, expected)):
        what = f"result {k}" if k < len(outs) else f"cotangent of argument {wrt[k - len(outs)]}"
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=what)


def normal(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def positive(*shapes):
    return lambda rng: [rng.uniform(0.5, 2.0, s) for s in shapes]


def with_zero(*shapes):
    def make(rng):
        xs = [rng.standard_normal(s) for s in shapes]
        xs[0].reshape(-1)[0] = 0.0
        return xs
    return make


def tied(x_shape, y_shape):
    """x, y where several x values equal the y they meet (ties for max / min)."""
    def make(rng):
        x, y = rng.standard_normal(x_shape), rng.standard_normal(y_shape)
        x[0, :] = np.broadcast_to(y, x_shape)[0, :]
        x[-1, 0] = np.broadcast_to(y, x_shape)[-1, 0]
        return [x, y]
    return make


# ------------------------------------------------------- scalar ops: in bodies and on tensors

def uniform(lo, hi):
    return lambda *shapes: lambda rng: [rng.uniform(lo, hi, s) for s in shapes]


def nonzero(*shapes):
    return lambda rng: [rng.uniform(0.5, 2.0, s) * rng.choice([-1.0, 1.0], s) for s in shapes]


# name -> (MLIR computing %v from %a (and %b) of type {T} ({H}: the f16 type, {I}: the i1 type),
#          jax twin, inputs). The brief's ops run in bodies and on whole tensors; EXTRA ones in bodies.
# (math.log10 is left out: IREE 3.13 fails to link it on CPU, "undefined symbol: log10f".)
UNARY = {
    "exp": ("%v = math.exp %a : {T}", jnp.exp, normal),
    "log": ("%v = math.log %a : {T}", jnp.log, positive),
    "log1p": ("%v = math.log1p %a : {T}", jnp.log1p, uniform(-0.5, 2.0)),
    "expm1": ("%v = math.expm1 %a : {T}", jnp.expm1, normal),
    "sqrt": ("%v = math.sqrt %a : {T}", jnp.sqrt, positive),
    "rsqrt": ("%v = math.rsqrt %a : {T}", jax.lax.rsqrt, positive),
    "tanh": ("%v = math.tanh %a : {T}", jnp.tanh, normal),
    "sin": ("%v = math.sin %a : {T}", jnp.sin, normal),
    "cos": ("%v = math.cos %a : {T}", jnp.cos, normal),
    "absf": ("%v = math.absf %a : {T}", jnp.abs, with_zero),
    "negf": ("%v = arith.negf %a : {T}", jnp.negative, normal),
    "casts": ("%h = arith.truncf %a : {T} to {H}\n%v = arith.extf %h : {H} to {T}",
              lambda x: x.astype(jnp.float16).astype(jnp.float32), normal),
}
BINARY = {
    "addf": ("%v = arith.addf %a, %b : {T}", jnp.add, normal),
    "subf": ("%v = arith.subf %a, %b : {T}", jnp.subtract, normal),
    "mulf": ("%v = arith.mulf %a, %b : {T}", jnp.multiply, normal),
    "divf": ("%v = arith.divf %a, %b : {T}", jnp.divide, positive),
    "maximumf": ("%v = arith.maximumf %a, %b : {T}", jnp.maximum, tied),
    "minimumf": ("%v = arith.minimumf %a, %b : {T}", jnp.minimum, tied),
    "powf": ("%v = math.powf %a, %b : {T}", jnp.power, positive),
    "select": ("%c = arith.cmpf olt, %a, %b : {T}\n%p = arith.mulf %a, %b : {T}\n%v = arith.select %c, %p, %b : {S}",
               lambda x, y: jnp.where(x < y, x * y, y), normal),
}
EXTRA_UNARY = {
    "exp2": ("%v = math.exp2 %a : {T}", jnp.exp2, normal),
    "log2": ("%v = math.log2 %a : {T}", jnp.log2, positive),
    "tan": ("%v = math.tan %a : {T}", jnp.tan, uniform(-1.0, 1.0)),
    "atan": ("%v = math.atan %a : {T}", jnp.arctan, normal),
    "sinh": ("%v = math.sinh %a : {T}", jnp.sinh, normal),
    "cosh": ("%v = math.cosh %a : {T}", jnp.cosh, normal),
    "asin": ("%v = math.asin %a : {T}", jnp.arcsin, uniform(-0.9, 0.9)),
    "acos": ("%v = math.acos %a : {T}", jnp.arccos, uniform(-0.9, 0.9)),
    "asinh": ("%v = math.asinh %a : {T}", jnp.arcsinh, normal),
    "acosh": ("%v = math.acosh %a : {T}", jnp.arccosh, uniform(1.5, 3.0)),
    "atanh": ("%v = math.atanh %a : {T}", jnp.arctanh, uniform(-0.9, 0.9)),
    "erf": ("%v = math.erf %a : {T}", jax.scipy.special.erf, normal),
    "cbrt": ("%v = math.cbrt %a : {T}", jnp.cbrt, nonzero),
}
EXTRA_BINARY = {
    "atan2": ("%v = math.atan2 %a, %b : {T}", jnp.arctan2, normal),
    "remf": ("%v = arith.remf %a, %b : {T}", jnp.fmod, nonzero),
    "copysign": ("%v = math.copysign %a, %b : {T}", jnp.copysign, nonzero),
    "maxnumf": ("%v = arith.maxnumf %a, %b : {T}", jnp.maximum, tied),
    "minnumf": ("%v = arith.minnumf %a, %b : {T}", jnp.minimum, tied),
}


def body_function(name, code, binary):
    """A linalg.generic applying `code` elementwise; y is broadcast along rows: (d0, d1) -> (d1)."""
    code = code.format(T="f32", H="f16", S="f32").replace("\n", "\n    ")
    y_arg, y_in, y_map, y_bb = (", %y: tensor<3xf32>", ", %y", ", #col", ", %b: f32") if binary else ("",) * 4
    y_ty = ", tensor<3xf32>" if binary else ""
    return f"""
func.func @body_{name}(%x: tensor<2x3xf32>{y_arg}) -> tensor<2x3xf32> {{
  %e = tensor.empty() : tensor<2x3xf32>
  %r = linalg.generic {{indexing_maps = [#id{y_map}, #id], iterator_types = ["parallel", "parallel"]}}
      ins(%x{y_in} : tensor<2x3xf32>{y_ty}) outs(%e : tensor<2x3xf32>) {{
  ^bb0(%a: f32{y_bb}, %o: f32):
    {code}
    linalg.yield %v : f32
  }} -> tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}}
"""


def tensor_function(name, code, binary):
    """The same op applied to whole tensors, outside any linalg.generic."""
    code = code.format(T="tensor<2x3xf32>", H="tensor<2x3xf16>", S="tensor<2x3xi1>, tensor<2x3xf32>")
    code = code.replace("%a", "%x").replace("%b", "%y").replace("\n", "\n  ")
    y_arg = ", %y: tensor<2x3xf32>" if binary else ""
    return f"""
func.func @tensor_{name}(%x: tensor<2x3xf32>{y_arg}) -> tensor<2x3xf32> {{
  {code}
  return %v : tensor<2x3xf32>
}}
"""


def scalar_cases(prefix, unary, binary, y_shape):
    cases = [Case(f"{prefix}_{n}", fn, mk((2, 3))) for n, (_, fn, mk) in unary.items()]
    cases += [Case(f"{prefix}_{n}", fn, mk((2, 3), y_shape)) for n, (_, fn, mk) in binary.items()]
    return cases


BODY_UNARY, BODY_BINARY = {**UNARY, **EXTRA_UNARY}, {**BINARY, **EXTRA_BINARY}
BODY_SRC = "".join(body_function(n, spec[0], n in BODY_BINARY) for n, spec in {**BODY_UNARY, **BODY_BINARY}.items())
TENSOR_SRC = "".join(tensor_function(n, spec[0], n in BINARY) for n, spec in {**UNARY, **BINARY}.items())
# A scalar function (f32 arguments, no tensors at all).
TENSOR_SRC += """
func.func @tensor_scalars(%a: f32, %b: f32) -> f32 {
  %p = arith.mulf %a, %b : f32
  %s = math.sin %p : f32
  %q = arith.divf %s, %b : f32
  return %q : f32
}
"""
SCALAR_CASES = {
    "body": scalar_cases("body", BODY_UNARY, BODY_BINARY, (3,)),
    "tensor": scalar_cases("tensor", UNARY, BINARY, (2, 3)) + [
        Case("tensor_scalars", lambda a, b: jnp.sin(a * b) / b, lambda rng: [rng.uniform(0.5, 2, ()) for _ in "ab"],
             scalars=(0, 1, 2))],
}


@pytest.fixture(scope="module")
def body_suite():
    return Suite(BODY_SRC, SCALAR_CASES["body"])


@pytest.fixture(scope="module")
def tensor_suite():
    return Suite(TENSOR_SRC, SCALAR_CASES["tensor"])


@pytest.mark.parametrize("name", [c.name for c in SCALAR_CASES["body"]])
def test_scalar_op_in_body(body_suite, name):
    body_suite.check(name)


@pytest.mark.parametrize("name", [c.name for c in SCALAR_CASES["tensor"]])
def test_scalar_op_on_tensors(tensor_suite, name):
    tensor_suite.check(name)


# ----------------------------------------------------------- linalg: maps, reductions, named ops

LINALG_SRC = """
// x * w^T + r (broadcast along columns), times c (broadcast along rows)
func.func @maps(%x: tensor<2x3xf32>, %w: tensor<3x2xf32>, %r: tensor<2xf32>, %c: tensor<3xf32>) -> tensor<2x3xf32> {
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #tr, #row, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %w, %r, %c : tensor<2x3xf32>, tensor<3x2xf32>, tensor<2xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %rr: f32, %cc: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %q = arith.addf %p, %rr : f32
    %s = arith.mulf %q, %cc : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// one tensor read through two maps: x * x^T
func.func @two_maps(%x: tensor<3x3xf32>) -> tensor<3x3xf32> {
  %e = tensor.empty() : tensor<3x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #tr, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %x : tensor<3x3xf32>, tensor<3x3xf32>) outs(%e : tensor<3x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %s = math.sin %p : f32
    linalg.yield %s : f32
  } -> tensor<3x3xf32>
  return %0 : tensor<3x3xf32>
}

// init + sum(x * x, axis=1); the accumulator's initial value is an argument
func.func @sum_init(%x: tensor<2x3xf32>, %init: tensor<2xf32>) -> tensor<2xf32> {
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<2x3xf32>) outs(%init : tensor<2xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %p = arith.mulf %a, %a : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// sum(exp(x), axis=0): the reduced dimension comes first
func.func @sum_cols(%x: tensor<2x3xf32>) -> tensor<3xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<2x3xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %p = math.exp %a : f32
    %s = arith.addf %p, %acc : f32
    linalg.yield %s : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

func.func @max_ties(%x: tensor<3x4xf32>) -> tensor<3xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.maximumf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// max over x's rows and init: ties between init and x share the cotangent
func.func @max_init(%x: tensor<3x4xf32>, %init: tensor<3xf32>) -> tensor<3xf32> {
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%init : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.maximumf %acc, %a : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

func.func @min_ties(%x: tensor<3x4xf32>) -> tensor<3xf32> {
  %inf = arith.constant 0x7F800000 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%inf : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.minimumf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// product of each row; row 1 holds one zero, row 2 two zeros
func.func @prod_zeros(%x: tensor<3x4xf32>) -> tensor<3xf32> {
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%one : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.mulf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// matmul written as a generic over (i, j, k)
func.func @matmul_generic(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(i, j, k) -> (i, k)>, affine_map<(i, j, k) -> (k, j)>,
                                        affine_map<(i, j, k) -> (i, j)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : tensor<2x3xf32>, tensor<3x4xf32>) outs(%f : tensor<2x4xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// a @ b + c: the accumulator is an argument
func.func @matmul(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>, %c: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %0 = linalg.matmul ins(%a, %b : tensor<2x3xf32>, tensor<3x4xf32>) outs(%c : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

func.func @batch_matmul(%a: tensor<2x2x3xf32>, %b: tensor<2x3x4xf32>) -> tensor<2x2x4xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x2x4xf32>) -> tensor<2x2x4xf32>
  %0 = linalg.batch_matmul ins(%a, %b : tensor<2x2x3xf32>, tensor<2x3x4xf32>) outs(%f : tensor<2x2x4xf32>)
      -> tensor<2x2x4xf32>
  return %0 : tensor<2x2x4xf32>
}

// fill from an f32 argument and from a 0-d tensor argument
func.func @fill(%s: f32, %t: tensor<f32>, %x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%s : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %tv = tensor.extract %t[] : tensor<f32>
  %g = linalg.fill ins(%tv : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %p = arith.mulf %f, %x : tensor<2x3xf32>
  %q = arith.mulf %p, %g : tensor<2x3xf32>
  return %q : tensor<2x3xf32>
}

func.func @transpose(%x: tensor<2x3x4xf32>, %y: tensor<4x2x3xf32>) -> tensor<4x2x3xf32> {
  %e = tensor.empty() : tensor<4x2x3xf32>
  %t = linalg.transpose ins(%x : tensor<2x3x4xf32>) outs(%e : tensor<4x2x3xf32>) permutation = [2, 0, 1]
  %p = arith.mulf %t, %y : tensor<4x2x3xf32>
  %q = math.sin %p : tensor<4x2x3xf32>
  return %q : tensor<4x2x3xf32>
}

func.func @broadcast(%v: tensor<3xf32>, %x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %e = tensor.empty() : tensor<2x3x4xf32>
  %b = linalg.broadcast ins(%v : tensor<3xf32>) outs(%e : tensor<2x3x4xf32>) dimensions = [0, 2]
  %p = arith.mulf %b, %x : tensor<2x3x4xf32>
  %q = arith.mulf %p, %b : tensor<2x3x4xf32>
  return %q : tensor<2x3x4xf32>
}

func.func @reduce_add(%x: tensor<2x3x4xf32>) -> tensor<2x4xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %sq = arith.mulf %x, %x : tensor<2x3x4xf32>
  %r = linalg.reduce ins(%sq : tensor<2x3x4xf32>) outs(%f : tensor<2x4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %s = arith.addf %in, %acc : f32
      linalg.yield %s : f32
    }
  return %r : tensor<2x4xf32>
}

// the body reads %s (an argument) and %k (a constant) from outside the generic
func.func @captured(%x: tensor<2x3xf32>, %s: f32) -> tensor<2x3xf32> {
  %k = arith.constant 1.5 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %p = arith.mulf %a, %s : f32
    %q = arith.mulf %p, %s : f32
    %r = arith.addf %q, %k : f32
    %v = math.sin %r : f32
    linalg.yield %v : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// x[i, j] * (i + 2j) * t[j]: linalg.index, and a gather from %t (not differentiated: --wrt 0)
func.func @index_gather(%x: tensor<2x3xf32>, %t: tensor<3xf32>) -> tensor<2x3xf32> {
  %two = arith.constant 2 : index
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %j2 = arith.muli %j, %two : index
    %k = arith.addi %i, %j2 : index
    %ki = arith.index_cast %k : index to i32
    %kf = arith.sitofp %ki : i32 to f32
    %tj = tensor.extract %t[%j] : tensor<3xf32>
    %p = arith.mulf %a, %kf : f32
    %v = arith.mulf %p, %tj : f32
    linalg.yield %v : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// two outputs: x * y and sin(x) - y
func.func @two_outputs(%x: tensor<2x3xf32>, %y: tensor<3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %e = tensor.empty() : tensor<2x3xf32>
  %0:2 = linalg.generic {indexing_maps = [#id, #col, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %y : tensor<2x3xf32>, tensor<3xf32>) outs(%e, %e : tensor<2x3xf32>, tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32, %o2: f32):
    %p = arith.mulf %a, %b : f32
    %s = math.sin %a : f32
    %d = arith.subf %s, %b : f32
    linalg.yield %p, %d : f32, f32
  } -> (tensor<2x3xf32>, tensor<2x3xf32>)
  return %0#0, %0#1 : tensor<2x3xf32>, tensor<2x3xf32>
}

// one generic, two reductions: sum(x * x) and max(x) along rows (maxnumf)
func.func @sum_and_max(%x: tensor<3x4xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %z = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %g = linalg.fill ins(%ninf : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %0:2 = linalg.generic {indexing_maps = [#id, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%f, %g : tensor<3xf32>, tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32, %m: f32):
    %sq = arith.mulf %a, %a : f32
    %s = arith.addf %sq, %acc : f32
    %mx = arith.maxnumf %m, %a : f32
    linalg.yield %s, %mx : f32, f32
  } -> (tensor<3xf32>, tensor<3xf32>)
  return %0#0, %0#1 : tensor<3xf32>, tensor<3xf32>
}

// elementwise through the accumulator: init * x, with no reduction dimension
func.func @mul_into_init(%x: tensor<2x3xf32>, %init: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<2x3xf32>) outs(%init : tensor<2x3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.mulf %acc, %a : f32
    linalg.yield %m : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// an integer input converted inside the body
func.func @int_input(%x: tensor<2x3xf32>, %n: tensor<3xi32>) -> tensor<2x3xf32> {
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %n : tensor<2x3xf32>, tensor<3xi32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %k: i32, %o: f32):
    %kf = arith.sitofp %k : i32 to f32
    %p = arith.mulf %a, %kf : f32
    %v = math.tanh %p : f32
    linalg.yield %v : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

func.func @reduce_max(%x: tensor<3x4xf32>) -> tensor<4xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<4xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %r = linalg.reduce ins(%x : tensor<3x4xf32>) outs(%f : tensor<4xf32>) dimensions = [0]
    (%in: f32, %acc: f32) {
      %s = arith.maximumf %in, %acc : f32
      linalg.yield %s : f32
    }
  return %r : tensor<4xf32>
}
"""


def rows_with_ties(rng):
    """3x4: row 0 has a two-way tie for the max, row 1 a three-way tie, row 2 none."""
    x = rng.standard_normal((3, 4))
    x[0, 1] = x[0, 3] = np.abs(x[0]).max() + 1.0
    x[1, :3] = np.abs(x[1]).max() + 0.5
    return [x]


def rows_with_low_ties(rng):
    return [-rows_with_ties(rng)[0]]


def max_init_inputs(rng):
    x = rows_with_ties(rng)[0]
    init = np.array([x[0].max(), x[1].max() + 1.0, x[2].max()])  # ties, init wins, tie with one element
    return [x, init]


def rows_with_zeros(rng):
    x = rng.uniform(0.5, 2.0, (3, 4)) * rng.choice([-1, 1], (3, 4))
    x[1, 2] = 0.0
    x[2, 0] = x[2, 3] = 0.0
    return [x]


def cols_with_ties(rng):
    """3x4: column 1 has a two-way tie for the max, column 2 a three-way tie."""
    x = rng.standard_normal((3, 4))
    x[0, 1] = x[2, 1] = np.abs(x[:, 1]).max() + 1.0
    x[:, 2] = np.abs(x[:, 2]).max() + 0.5
    return [x]


LINALG_CASES = [
    Case("maps", lambda x, w, r, c: (x * w.T + r[:, None]) * c[None, :], normal((2, 3), (3, 2), (2,), (3,))),
    Case("two_maps", lambda x: jnp.sin(x * x.T), normal((3, 3))),
    Case("sum_init", lambda x, init: init + jnp.sum(x * x, axis=1), normal((2, 3), (2,))),
    Case("sum_cols", lambda x: jnp.sum(jnp.exp(x), axis=0), normal((2, 3))),
    Case("max_ties", lambda x: jnp.max(x, axis=1), rows_with_ties),
    Case("max_init", lambda x, init: jnp.max(jnp.concatenate([x, init[:, None]], axis=1), axis=1), max_init_inputs),
    Case("min_ties", lambda x: jnp.min(x, axis=1), rows_with_low_ties),
    Case("prod_zeros", lambda x: jnp.prod(x, axis=1), rows_with_zeros),
    Case("matmul_generic", lambda a, b: a @ b, normal((2, 3), (3, 4))),
    Case("matmul", lambda a, b, c: a @ b + c, normal((2, 3), (3, 4), (2, 4))),
    Case("batch_matmul", lambda a, b: a @ b, normal((2, 2, 3), (2, 3, 4))),
    Case("fill", lambda s, t, x: jnp.full((2, 3), s) * x * t, normal((), (), (2, 3)), scalars=(0,)),
    Case("transpose", lambda x, y: jnp.sin(jnp.transpose(x, (2, 0, 1)) * y), normal((2, 3, 4), (4, 2, 3))),
    Case("broadcast", lambda v, x: v[None, :, None] * x * v[None, :, None], normal((3,), (2, 3, 4))),
    Case("reduce_add", lambda x: jnp.sum(x * x, axis=1), normal((2, 3, 4))),
    Case("reduce_max", lambda x: jnp.max(x, axis=0), cols_with_ties),
    Case("mul_into_init", lambda x, init: init * x, normal((2, 3), (2, 3))),
    Case("int_input", lambda x, n: jnp.tanh(x * n.astype(jnp.float32)),
         lambda rng: [rng.standard_normal((2, 3)), rng.integers(-3, 4, (3,)).astype(np.int32)]),
    Case("captured", lambda x, s: jnp.sin(x * s * s + 1.5), normal((2, 3), ()), scalars=(1,)),
    Case("index_gather", lambda x, t: x * (jnp.arange(2)[:, None] + 2 * jnp.arange(3)[None, :]) * t,
         normal((2, 3), (3,)), wrt=[0]),
    Case("two_outputs", lambda x, y: (x * y, jnp.sin(x) - y), normal((2, 3), (3,))),
    Case("sum_and_max", lambda x: (jnp.sum(x * x, axis=1), jnp.max(x, axis=1)), rows_with_ties),
]


@pytest.fixture(scope="module", params=["raw", "cleanup"])
def linalg_suite(request):
    return Suite(LINALG_SRC, LINALG_CASES, flags=["--cleanup"] if request.param == "cleanup" else [])


@pytest.mark.parametrize("name", [c.name for c in LINALG_CASES])
def test_linalg(linalg_suite, name):
    linalg_suite.check(name)


# ------------------------------------------------------------- tensor ops, calls, activity

TENSOR_OPS_SRC = """
func.func @extract_slice(%x: tensor<4x6xf32>) -> tensor<2x3xf32> {
  %s = tensor.extract_slice %x[1, 0] [2, 3] [2, 2] : tensor<4x6xf32> to tensor<2x3xf32>
  %p = arith.mulf %s, %s : tensor<2x3xf32>
  return %p : tensor<2x3xf32>
}

func.func @insert_slice(%x: tensor<2x3xf32>, %y: tensor<4x6xf32>) -> tensor<4x6xf32> {
  %s = math.tanh %x : tensor<2x3xf32>
  %i = tensor.insert_slice %s into %y[0, 1] [2, 3] [2, 1] : tensor<2x3xf32> into tensor<4x6xf32>
  %p = arith.mulf %i, %i : tensor<4x6xf32>
  return %p : tensor<4x6xf32>
}

func.func @expand_shape(%x: tensor<6xf32>, %w: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %r = tensor.expand_shape %x [[0, 1]] output_shape [2, 3] : tensor<6xf32> into tensor<2x3xf32>
  %p = arith.mulf %r, %w : tensor<2x3xf32>
  %q = math.exp %p : tensor<2x3xf32>
  return %q : tensor<2x3xf32>
}

func.func @collapse_shape(%x: tensor<2x3x2xf32>) -> tensor<6x2xf32> {
  %c = tensor.collapse_shape %x [[0, 1], [2]] : tensor<2x3x2xf32> into tensor<6x2xf32>
  %s = math.sin %c : tensor<6x2xf32>
  return %s : tensor<6x2xf32>
}

func.func @concat(%x: tensor<2x3xf32>, %y: tensor<2x2xf32>, %w: tensor<2x5xf32>) -> tensor<2x5xf32> {
  %c = tensor.concat dim(1) %x, %y : (tensor<2x3xf32>, tensor<2x2xf32>) -> tensor<2x5xf32>
  %p = arith.mulf %c, %w : tensor<2x5xf32>
  %q = arith.mulf %p, %c : tensor<2x5xf32>
  return %q : tensor<2x5xf32>
}

func.func @constants(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %c = arith.constant dense<[[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]]> : tensor<2x3xf32>
  %h = arith.constant dense<0.25> : tensor<2x3xf32>
  %p = arith.mulf %x, %c : tensor<2x3xf32>
  %q = arith.addf %p, %h : tensor<2x3xf32>
  %r = math.exp %q : tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}

func.func private @helper(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a, %b : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%u: f32, %w: f32, %o: f32):
    %s = math.sin %w : f32
    %p = arith.mulf %u, %s : f32
    linalg.yield %p : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

func.func @calls(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = func.call @helper(%x, %y) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = func.call @helper(%y, %0) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}

// the result does not depend on %y: its cotangent is zero
func.func @unused_arg(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %p = arith.mulf %x, %x : tensor<2x3xf32>
  return %p : tensor<2x3xf32>
}

// differentiated with --wrt 0,2 only; %n is an integer argument
func.func @wrt_subset(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>, %z: tensor<2x3xf32>, %n: tensor<2x3xi32>)
    -> tensor<2x3xf32> {
  %nf = arith.sitofp %n : tensor<2x3xi32> to tensor<2x3xf32>
  %p = arith.mulf %x, %y : tensor<2x3xf32>
  %q = arith.mulf %z, %nf : tensor<2x3xf32>
  %r = arith.addf %p, %q : tensor<2x3xf32>
  %s = math.sin %r : tensor<2x3xf32>
  return %s : tensor<2x3xf32>
}

// default --wrt: every float argument, the integer one skipped
func.func @int_arg(%x: tensor<2x3xf32>, %n: tensor<2x3xi32>) -> tensor<2x3xf32> {
  %nf = arith.sitofp %n : tensor<2x3xi32> to tensor<2x3xf32>
  %p = arith.mulf %x, %nf : tensor<2x3xf32>
  return %p : tensor<2x3xf32>
}

// a row of x (rank-reducing slice), and one element of x (tensor.extract) scaling it
func.func @row_and_element(%x: tensor<4x6xf32>) -> tensor<6xf32> {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %row = tensor.extract_slice %x[2, 0] [1, 6] [1, 1] : tensor<4x6xf32> to tensor<6xf32>
  %v = tensor.extract %x[%c1, %c2] : tensor<4x6xf32>
  %e = tensor.empty() : tensor<6xf32>
  %f = linalg.fill ins(%v : f32) outs(%e : tensor<6xf32>) -> tensor<6xf32>
  %p = arith.mulf %row, %f : tensor<6xf32>
  %q = arith.mulf %p, %f : tensor<6xf32>
  return %q : tensor<6xf32>
}

// a scalar result
func.func @to_scalar(%x: tensor<2x3xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %a = tensor.extract %x[%c0, %c1] : tensor<2x3xf32>
  %b = tensor.extract %x[%c1, %c0] : tensor<2x3xf32>
  %p = arith.mulf %a, %b : f32
  %s = math.sin %p : f32
  return %s : f32
}

// several results, one of them twice and one an argument
func.func @results(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %s = math.sin %x : tensor<2x3xf32>
  %p = arith.mulf %s, %y : tensor<2x3xf32>
  return %p, %y, %p : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}
"""


def ints(shape):
    return lambda rng: rng.integers(-3, 4, shape).astype(np.int32)


TENSOR_OPS_CASES = [
    Case("extract_slice", lambda x: x[1:4:2, 0:6:2] ** 2, normal((4, 6))),
    Case("insert_slice", lambda x, y: y.at[0:4:2, 1:4].set(jnp.tanh(x)) ** 2, normal((2, 3), (4, 6))),
    Case("expand_shape", lambda x, w: jnp.exp(x.reshape(2, 3) * w), normal((6,), (2, 3))),
    Case("collapse_shape", lambda x: jnp.sin(x.reshape(6, 2)), normal((2, 3, 2))),
    Case("concat", lambda x, y, w: jnp.concatenate([x, y], 1) ** 2 * w, normal((2, 3), (2, 2), (2, 5))),
    Case("constants", lambda x: jnp.exp(x * jnp.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]]) + 0.25), normal((2, 3))),
    Case("calls", lambda x, y: y * jnp.sin(x * jnp.sin(y)), normal((2, 3), (2, 3))),
    Case("unused_arg", lambda x, y: x * x, normal((2, 3), (2, 3))),
    Case("wrt_subset", lambda x, y, z, n: jnp.sin(x * y + z * n.astype(jnp.float32)),
         lambda rng: [*normal((2, 3), (2, 3), (2, 3))(rng), ints((2, 3))(rng)], wrt=[0, 2]),
    Case("int_arg", lambda x, n: x * n.astype(jnp.float32),
         lambda rng: [rng.standard_normal((2, 3)), ints((2, 3))(rng)]),
    Case("results", lambda x, y: (jnp.sin(x) * y, y, jnp.sin(x) * y), normal((2, 3), (2, 3))),
    Case("row_and_element", lambda x: x[2] * x[1, 2] ** 2, normal((4, 6))),
    Case("to_scalar", lambda x: jnp.sin(x[0, 1] * x[1, 0]), normal((2, 3)), scalars=(1,)),
]


@pytest.fixture(scope="module")
def tensor_ops_suite():
    return Suite(TENSOR_OPS_SRC, TENSOR_OPS_CASES)


@pytest.mark.parametrize("name", [c.name for c in TENSOR_OPS_CASES])
def test_tensor_ops(tensor_ops_suite, name):
    tensor_ops_suite.check(name)


def test_unused_argument_gets_zero_cotangent(tensor_ops_suite):
    rng = np.random.default_rng(1)
    x, y, ct = (rng.standard_normal((2, 3)).astype(np.float32) for _ in range(3))
    _, dx, dy = tensor_ops_suite.call("unused_arg_vjp", [x, y, ct])
    np.testing.assert_allclose(dx, 2 * x * ct, rtol=1e-6)
    assert np.array_equal(dy, np.zeros_like(y))


def test_wrt_subset_signature(tensor_ops_suite):
    """Only --wrt arguments get cotangents: @wrt_subset_vjp returns 1 + 2 values."""
    head = next(line for line in tensor_ops_suite.text.splitlines() if "func.func @wrt_subset_vjp" in line)
    assert head.split("->")[1].count("tensor<2x3xf32>") == 3
    head = next(line for line in tensor_ops_suite.text.splitlines() if "func.func @int_arg_vjp" in line)
    assert "xi32" not in head.split("->")[1]


# ----------------------------------------------------------------------- grad of grad

G_SIN_SRC = """
// sum(sin(x * w) * x) as a 0-d tensor
func.func @g_sin(%x: tensor<4xf32>, %w: tensor<4xf32>) -> tensor<f32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %0 = linalg.generic {indexing_maps = [#v, #v, #s], iterator_types = ["reduction"]}
      ins(%x, %w : tensor<4xf32>, tensor<4xf32>) outs(%f : tensor<f32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = math.sin %p : f32
    %q = arith.mulf %s, %a : f32
    %r = arith.addf %q, %acc : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  return %0 : tensor<f32>
}
"""
GRAD2_SRC = G_SIN_SRC + """
// sum(tanh(x @ w))
func.func @g_mlp(%x: tensor<2x3xf32>, %w: tensor<3x2xf32>) -> tensor<f32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %m = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  %e0 = tensor.empty() : tensor<f32>
  %f0 = linalg.fill ins(%z : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %0 = linalg.generic {indexing_maps = [#id, #s2], iterator_types = ["reduction", "reduction"]}
      ins(%m : tensor<2x2xf32>) outs(%f0 : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %t = math.tanh %a : f32
    %r = arith.addf %t, %acc : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  return %0 : tensor<f32>
}

// sum of the row maxima of x * x
func.func @g_max(%x: tensor<3x4xf32>) -> tensor<f32> {
  %ninf = arith.constant 0xFF800000 : f32
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %sq = arith.mulf %a, %a : f32
    %m = arith.maximumf %sq, %acc : f32
    linalg.yield %m : f32
  } -> tensor<3xf32>
  %e0 = tensor.empty() : tensor<f32>
  %f0 = linalg.fill ins(%z : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %1 = linalg.generic {indexing_maps = [#v, #s], iterator_types = ["reduction"]}
      ins(%0 : tensor<3xf32>) outs(%f0 : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  return %1 : tensor<f32>
}

// sum of the row products of x (no zeros)
func.func @g_prod(%x: tensor<2x3xf32>) -> tensor<f32> {
  %one = arith.constant 1.0 : f32
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2xf32>
  %f = linalg.fill ins(%one : f32) outs(%e : tensor<2xf32>) -> tensor<2xf32>
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<2x3xf32>) outs(%f : tensor<2xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.mulf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<2xf32>
  %e0 = tensor.empty() : tensor<f32>
  %f0 = linalg.fill ins(%z : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %1 = linalg.generic {indexing_maps = [#v, #s], iterator_types = ["reduction"]}
      ins(%0 : tensor<2xf32>) outs(%f0 : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  return %1 : tensor<f32>
}
"""

GRAD2_FNS = {
    "g_sin": (lambda x, w: jnp.sum(jnp.sin(x * w) * x), normal((4,), (4,))),
    "g_mlp": (lambda x, w: jnp.sum(jnp.tanh(x @ w)), normal((2, 3), (3, 2))),
    "g_max": (lambda x: jnp.sum(jnp.max(x * x, axis=1)), normal((3, 4))),
    "g_prod": (lambda x: jnp.sum(jnp.prod(x, axis=1)), positive((2, 3))),
}


def jax_vjp_fn(f):
    """The JAX twin of @F_vjp: (args..., ct) -> (F(args), cotangents of all args)."""
    def f_vjp(*args_and_ct):
        *args, ct = args_and_ct
        y, pullback = jax.vjp(f, *args)
        return (y, *pullback(ct))
    return f_vjp


def grad2_suite_source(names, flags=()):
    """GRAD2_SRC with @F_vjp and then @F_vjp_vjp (all float args: the primal inputs and
    the scalar cotangent) added for each function in `names`."""
    text = MAPS + GRAD2_SRC
    for name in names:
        text = opt_text(text, name, *flags)
        text = opt_text(text, name + "_vjp", *flags)
    return text


# Raw: both passes see the IR as the pass emits it. Cleanup: each pass runs on cleaned-up
# IR (constants hoisted out of bodies, shared tensor.empty, folded ops); two functions only.
GRAD2_VARIANTS = {"raw": list(GRAD2_FNS), "cleanup": ["g_mlp", "g_max"]}


@pytest.fixture(scope="module")
def grad2_modules():
    """variant -> compiled module holding each of its functions' @F_vjp_vjp (built on first use)."""
    cache = {}

    def get(variant):
        if variant not in cache:
            names = GRAD2_VARIANTS[variant]
            text = grad2_suite_source(names, ["--cleanup"] if variant == "cleanup" else [])
            cache[variant] = compile_mlir(only_public(text, [n + "_vjp_vjp" for n in names]),
                                          name=f"test_reverse_pass_grad2_{variant}")
        return cache[variant]
    return get


@pytest.mark.parametrize("variant,name", [(v, n) for v, names in GRAD2_VARIANTS.items() for n in names])
def test_grad_of_grad(grad2_modules, variant, name):
    f, inputs = GRAD2_FNS[name]
    rng = np.random.default_rng(2)
    args = [np.asarray(a, np.float32) for a in inputs(rng)] + [np.asarray(rng.standard_normal(), np.float32)]
    ex = Executable(grad2_modules(variant), entry=name + "_vjp_vjp")
    run = lambda a: [to_numpy(r) for r in ex(*a)]
    check_against_jax(run, jax_vjp_fn(f), args, None, rng, rtol=5e-5, atol=5e-5)


def test_console_script_grad_of_grad(tmp_path):
    """The installed irgrad-opt, twice through a pipe, with --cleanup; the output file
    goes to IREE as it is: Hessian-vector products of sum(sin(x * w) * x)."""
    assert os.path.exists(OPT), f"{OPT} missing: pip install -e /work/main"
    src = tmp_path / "g.mlir"
    src.write_text(MAPS + G_SIN_SRC)
    first = subprocess.run([OPT, str(src), "--vjp", "g_sin"], capture_output=True, text=True, check=True)
    out = tmp_path / "g2.mlir"
    second = subprocess.run([OPT, "-", "--vjp", "g_sin_vjp", "--wrt", "0,1", "--cleanup", "-o", str(out)],
                            input=first.stdout, capture_output=True, text=True)
    assert second.returncode == 0 and second.stdout == second.stderr == "", second.stderr
    text = out.read_text()
    assert text.count("func.func @g_sin_vjp_vjp(") == 1
    ex = Executable(compile_mlir(text, name="test_reverse_pass_cli"), entry="g_sin_vjp_vjp")
    rng = np.random.default_rng(3)
    f, inputs = GRAD2_FNS["g_sin"]
    args = [np.asarray(a, np.float32) for a in inputs(rng)] + [np.asarray(rng.standard_normal(), np.float32)]
    run = lambda a: [to_numpy(r) for r in ex(*a)]
    check_against_jax(run, jax_vjp_fn(f), args, [0, 1], rng, rtol=5e-5, atol=5e-5)


def test_cleanup_keeps_public_functions_and_removes_private(tensor_ops_suite):
    status, out, err = run_opt(["-", "--vjp", "calls", "--cleanup"], stdin_text=MAPS + TENSOR_OPS_SRC)
    assert status == 0, err
    assert "func.func @calls(" in out and "func.func @calls_vjp(" in out and "func.func @unused_arg(" in out
    assert "@helper" not in out and "func.call" not in out


# ----------------------------------------------------------------------------- errors

ERFC_SRC = MAPS + """
func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %e = tensor.empty() : tensor<2x3xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = math.erfc %a : f32
    linalg.yield %v : f32
  } -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}
"""
PAD_SRC = """
func.func @f(%x: tensor<2x3xf32>) -> tensor<4x5xf32> {
  %z = arith.constant 0.0 : f32
  %p = tensor.pad %x low[1, 1] high[1, 1] {
  ^bb0(%i: index, %j: index):
    tensor.yield %z : f32
  } : tensor<2x3xf32> to tensor<4x5xf32>
  return %p : tensor<4x5xf32>
}
"""
CONV_SRC = """
func.func @f(%x: tensor<6xf32>, %w: tensor<3xf32>) -> tensor<4xf32> {
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
"""
# A gather (now differentiated: tests/test_opt_compositions.py) over a dynamic domain: refused.
GATHER_SRC = """
func.func @f(%x: tensor<?xf32>, %t: tensor<3xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  %e = tensor.empty(%n) : tensor<?xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%x : tensor<?xf32>) outs(%e : tensor<?xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 0 : index
    %ti = tensor.extract %t[%i] : tensor<3xf32>
    %p = arith.mulf %a, %ti : f32
    linalg.yield %p : f32
  } -> tensor<?xf32>
  return %0 : tensor<?xf32>
}
"""
INT_SRC = "func.func @f(%x: tensor<2xf32>, %n: tensor<2xi32>) -> tensor<2xf32> { return %x : tensor<2xf32> }"
SELF_SRC = """
func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> { return %x : tensor<2xf32> }
func.func @f_vjp(%x: tensor<2xf32>) -> tensor<2xf32> { return %x : tensor<2xf32> }
"""

ERRORS = [
    ("erfc", ERFC_SRC, ["--vjp", "f"], ["no rule for 'math.erfc'", "loc("]),
    ("pad", PAD_SRC, ["--vjp", "f"], ["no rule for 'tensor.pad'"]),
    ("conv_map", CONV_SRC, ["--vjp", "f"], ["no rule for 'linalg.generic'", "(d0 + d1)"]),
    ("gather_active", GATHER_SRC, ["--vjp", "f"], ["no rule for 'linalg.generic'", "reads a differentiable value"]),
    ("unknown_function", PAD_SRC, ["--vjp", "g"], ["no function @g"]),
    ("malformed", "func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {\n  return %y : tensor<2xf32>\n}",
     ["--vjp", "f"], ["cannot parse", "undeclared SSA value"]),
    ("not_mlir", "this is not MLIR", ["--vjp", "f"], ["cannot parse"]),
    ("wrt_range", INT_SRC, ["--vjp", "f", "--wrt", "0,5"], ["--wrt 5", "2 arguments"]),
    ("wrt_int", INT_SRC, ["--vjp", "f", "--wrt", "1"], ["--wrt 1", "not a float"]),
    ("wrt_syntax", INT_SRC, ["--vjp", "f", "--wrt", "a,b"], ["--wrt"]),
    ("verifier", SELF_SRC, ["--vjp", "f"], ["verification failed", "f_vjp", "IR written to"]),
]


@pytest.mark.parametrize("src,args,needles", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_error_is_one_line(src, args, needles):
    status, out, err = run_opt(["-", *args], stdin_text=src)
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("irgrad-opt: error: "), err
    assert "Traceback" not in err and "internal error" not in err
    for needle in needles:
        assert needle in err, (needle, err)


def test_missing_file(tmp_path):
    status, _, err = run_opt([str(tmp_path / "nope.mlir"), "--vjp", "f"])
    assert status == 1 and "cannot read" in err and err.count("\n") == 1


def test_console_script_error_exit_status():
    """A real process: exit status 1, one line on stderr, nothing on stdout."""
    proc = subprocess.run([OPT, "-", "--vjp", "f"], input=ERFC_SRC, capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "math.erfc" in proc.stderr and "Traceback" not in proc.stderr
