"""vmap-then-vjp, vjp-then-vmap and jvp-then-vjp through `irgrad-opt` on hand-written
modules with a gather (tensor.extract of an outside tensor in a generic's body, and the
one batching makes of an extract at a batched index) and a tensor.insert, compiled
once by IREE and checked against JAX."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from irgrad.runtime.compiler import compile_mlir
from irgrad.runtime.executable import Executable
from test_reverse_pass import only_public, run_opt

B = 3
SRC = """
#v = affine_map<(d0) -> (d0)>
#s = affine_map<(d0) -> ()>

// sum_k w[k] * x[idx[k]]^2: a gather inside a reduction
func.func @gsum(%x: tensor<5xf32>, %idx: tensor<4xi32>, %w: tensor<4xf32>) -> tensor<f32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%z : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %r = linalg.generic {indexing_maps = [#v, #v, #s], iterator_types = ["reduction"]}
      ins(%idx, %w : tensor<4xi32>, tensor<4xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%i: i32, %wk: f32, %a: f32):
    %ii = arith.index_cast %i : i32 to index
    %xv = tensor.extract %x[%ii] : tensor<5xf32>
    %sq = arith.mulf %xv, %xv : f32
    %t = arith.mulf %sq, %wk : f32
    %s = arith.addf %a, %t : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}

// x[i] * t[i]: t read with tensor.extract at linalg.index (a gather of the identity)
func.func @scale(%x: tensor<3xf32>, %t: tensor<3xf32>) -> tensor<3xf32> {
  %e = tensor.empty() : tensor<3xf32>
  %0 = linalg.generic {indexing_maps = [#v, #v], iterator_types = ["parallel"]}
      ins(%x : tensor<3xf32>) outs(%e : tensor<3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 0 : index
    %ti = tensor.extract %t[%i] : tensor<3xf32>
    %p = arith.mulf %a, %ti : f32
    linalg.yield %p : f32
  } -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// sin(x[n]) * 2 (a gather of x at a batched n once batched), written with tensor.insert
func.func @pick(%x: tensor<4xf32>, %n: tensor<i32>) -> tensor<f32> {
  %ni = tensor.extract %n[] : tensor<i32>
  %i = arith.index_cast %ni : i32 to index
  %v = tensor.extract %x[%i] : tensor<4xf32>
  %sv = math.sin %v : f32
  %w = arith.addf %sv, %sv : f32
  %e = tensor.empty() : tensor<f32>
  %r = tensor.insert %w into %e[] : tensor<f32>
  return %r : tensor<f32>
}

// y = x with y[n] = s; y * x
func.func @put(%x: tensor<4xf32>, %s: tensor<f32>, %n: tensor<i32>) -> tensor<4xf32> {
  %sv = tensor.extract %s[] : tensor<f32>
  %ni = tensor.extract %n[] : tensor<i32>
  %i = arith.index_cast %ni : i32 to index
  %y = tensor.insert %sv into %x[%i] : tensor<4xf32>
  %z = arith.mulf %y, %x : tensor<4xf32>
  return %z : tensor<4xf32>
}
"""


def gsum(x, idx, w):
    return jnp.sum(w * x[idx] ** 2)


def scale(x, t):
    return x * t


def pick(x, n):
    return 2 * jnp.sin(x[n])


def put(x, s, n):
    return x.at[n].set(s) * x


def vjp_of(f, floats, n_out=1):
    """(args..., one cotangent per result) -> (f(args)..., cotangents of the float args):
    the twin of @F_vjp."""
    def f_vjp(*args):
        args, cts = args[:-n_out], args[-n_out:]
        wrt = lambda *fl: f(*[fl[floats.index(i)] if i in floats else a for i, a in enumerate(args)])
        out, pull = jax.vjp(wrt, *[args[i] for i in floats])
        outs = tuple(out) if n_out > 1 else (out,)
        return (*outs, *pull(tuple(cts) if n_out > 1 else cts[0]))
    return f_vjp


def jvp_of(f, floats):
    """(args..., tangents of the float args) -> (f(args), its tangent): the twin of @F_jvp."""
    def f_jvp(*args):
        primals, tangents = args[:-len(floats)], args[-len(floats):]
        wrt = lambda *fl: f(*[fl[floats.index(i)] if i in floats else a for i, a in enumerate(primals)])
        return jax.jvp(wrt, tuple(primals[i] for i in floats), tuple(tangents))
    return f_jvp


def ints(high, shape):
    return lambda rng: rng.integers(0, high, shape).astype(np.int32)


def floats(shape):
    return lambda rng: rng.standard_normal(shape).astype(np.float32)


# entry: (irgrad-opt runs, in order; the JAX twin; argument makers)
CASES = {
    "gsum_vjp": ([["--vjp", "gsum"]], vjp_of(gsum, [0, 2]), [floats(5), ints(5, 4), floats(4), floats(())]),
    "gsum_batched_vjp": ([["--vmap", "gsum", "--in-axes", "none,0,0", "--axis-size", str(B)],
                          ["--vjp", "gsum_batched"]],
                         vjp_of(jax.vmap(gsum, (None, 0, 0)), [0, 2]),
                         [floats(5), ints(5, (B, 4)), floats((B, 4)), floats(B)]),
    "gsum_vjp_batched": ([["--vjp", "gsum"], ["--vmap", "gsum_vjp", "--in-axes", "0,0,none,0", "--axis-size", str(B)]],
                         jax.vmap(vjp_of(gsum, [0, 2]), (0, 0, None, 0)),
                         [floats((B, 5)), ints(5, (B, 4)), floats(4), floats(B)]),
    "gsum_jvp_vjp": ([["--jvp", "gsum"], ["--vjp", "gsum_jvp"]], vjp_of(jvp_of(gsum, [0, 2]), [0, 2, 3, 4], 2),
                     [floats(5), ints(5, 4), floats(4), floats(5), floats(4), floats(()), floats(())]),
    "scale_vjp": ([["--vjp", "scale"]], vjp_of(scale, [0, 1]), [floats(3), floats(3), floats(3)]),
    "pick_vjp": ([["--vjp", "pick"]], vjp_of(pick, [0]), [floats(4), ints(4, ()), floats(())]),
    "pick_batched_vjp": ([["--vmap", "pick", "--in-axes", "none,0", "--axis-size", str(B)], ["--vjp", "pick_batched"]],
                         vjp_of(jax.vmap(pick, (None, 0)), [0]), [floats(4), ints(4, B), floats(B)]),
    "pick_vjp_batched": ([["--vjp", "pick"], ["--vmap", "pick_vjp", "--in-axes", "none,0,0", "--axis-size", str(B)]],
                         jax.vmap(vjp_of(pick, [0]), (None, 0, 0)), [floats(4), ints(4, B), floats(B)]),
    "pick_batched_jvp_vjp": ([["--vmap", "pick", "--in-axes", "none,0", "--axis-size", str(B)],
                              ["--jvp", "pick_batched"], ["--vjp", "pick_batched_jvp"]],
                             vjp_of(jvp_of(jax.vmap(pick, (None, 0)), [0]), [0, 2], 2),
                             [floats(4), ints(4, B), floats(4), floats(B), floats(B)]),
    "put_vjp": ([["--vjp", "put"]], vjp_of(put, [0, 1]), [floats(4), floats(()), ints(4, ()), floats(4)]),
    "put_batched_vjp": ([["--vmap", "put", "--in-axes", "0,none,none", "--axis-size", str(B)],
                         ["--vjp", "put_batched"]],
                        vjp_of(jax.vmap(put, (0, None, None)), [0, 1]),
                        [floats((B, 4)), floats(()), ints(4, ()), floats((B, 4))]),
}


def opt(text, flags):
    status, out, err = run_opt(["-", *flags], stdin_text=text)
    assert status == 0, f"irgrad-opt {' '.join(flags)}: {err.strip()}"
    return out


@pytest.fixture(scope="module")
def built():
    """Each case's irgrad-opt runs (each on the previous output), then one compile."""
    text = SRC
    for runs, _, _ in CASES.values():
        for flags in runs:
            name = flags[1] + {"--vjp": "_vjp", "--jvp": "_jvp", "--vmap": "_batched"}[flags[0]]
            if f"func.func @{name}(" not in text:
                text = opt(text, flags)
    return compile_mlir(only_public(text, list(CASES)), name="test_opt_compositions")


@pytest.mark.parametrize("entry", list(CASES))
def test_composition(built, entry):
    rng = np.random.default_rng(7)
    check(built, entry, [m(rng) for m in CASES[entry][2]])


def check(built, entry, args):
    out = jax.jit(CASES[entry][1])(*args)
    expected = [np.asarray(o) for o in (out if isinstance(out, (tuple, list)) else [out])]
    got = [np.asarray(r.to_host()) for r in Executable(built, entry)(*args)]
    assert len(got) == len(expected)
    for k, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape, (k, g.shape, e.shape)
        np.testing.assert_allclose(g, e, rtol=2e-5, atol=2e-5, err_msg=f"{entry} result {k}")


def test_gather_with_repeated_indices_adds_up(built):
    """One index gathered four times, another never: the source's cotangent is the sum of
    the four gathered cotangents there and 0 elsewhere (a scatter-add), as JAX's."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(5).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    check(built, "gsum_vjp", [x, np.full(4, 2, np.int32), w, np.float32(1.5)])
    check(built, "gsum_batched_vjp", [x, np.array([[1, 1, 1, 1], [0, 4, 0, 4], [3, 3, 2, 3]], np.int32),
                                      rng.standard_normal((B, 4)).astype(np.float32),
                                      rng.standard_normal(B).astype(np.float32)])
