"""Random linalg.generic forms through irgrad's compile path, on CPU and Vulkan, against
NumPy in float64.

Each form is a sum (or max) of products over random loops: 2-4 loops of odd sizes,
each parallel or reduction, 1-2 inputs indexing random subsets of the loops in random
orders, an output that lists the parallel loops in a random order. These are the shapes
the AD passes emit (adjoints of contractions read and write in transposed orders) and
the shapes IREE has computed wrongly: on Vulkan, a generic whose output map lists its
loops out of order (x^T @ g written from loops (k, i, j) to (j, i)), and any reduction
longer than 65,535; on CPU, long sums accumulated one element at a time. Forms go six
to a module (one compile per target per module).
"""

from __future__ import annotations

import numpy as np
import pytest
from irgrad.runtime import compiler
from irgrad.runtime.executable import Executable, to_host

SIZES = [1, 3, 5, 7, 16, 33]


class Form:
    """One generic: loops, their kinds, the inputs' loop lists, the output's, the combiner."""

    def __init__(self, rng, long: int | None = None):
        n = int(rng.integers(2, 5))
        self.sizes = [int(rng.choice(SIZES if long is None else SIZES[:3])) for _ in range(n)]
        self.kinds = ["reduction" if rng.random() < 0.4 else "parallel" for _ in range(n)]
        if long is not None:
            self.sizes[0], self.kinds[0] = long, "reduction"
        par = [d for d in range(n) if self.kinds[d] == "parallel"]
        red = [d for d in range(n) if self.kinds[d] == "reduction"]
        self.out = [int(d) for d in rng.permutation(par)]
        self.ins = []
        for _ in range(int(rng.integers(1, 3))):
            dims = [d for d in range(n) if rng.random() < 0.7]
            self.ins.append([int(d) for d in rng.permutation(dims)])
        self.ins[0] = self.ins[0] + [d for d in rng.permutation(red) if d not in self.ins[0]]
        self.combiner = "arith.addf" if long is not None or rng.random() < 0.7 else "arith.maximumf"

    def shape(self, dims):
        return [self.sizes[d] for d in dims]

    def _full(self, xs):
        """The product of the inputs over every loop (inputs broadcast along loops they skip)."""
        full = np.ones(self.sizes)
        for x, dims in zip(xs, self.ins):
            order = sorted(dims)
            y = np.transpose(x.astype(np.float64), [dims.index(d) for d in order]) if dims else x.astype(np.float64)
            full = full * y.reshape([self.sizes[d] if d in dims else 1 for d in range(len(self.sizes))])
        return full

    def expected(self, xs):
        """(float64 result, per-element error bound): the sum's bound scales with the sum of |products|."""
        full = self._full(xs)
        red = tuple(d for d in range(len(self.sizes)) if self.kinds[d] == "reduction")
        kept = [d for d in range(len(self.sizes)) if d not in red]
        order = [kept.index(d) for d in self.out]
        if self.combiner == "arith.addf":
            r, bound = full.sum(axis=red), 1e-6 * np.abs(full).sum(axis=red) + 1e-7
        else:
            r, bound = np.maximum(full.max(axis=red, initial=-np.inf), 0.0), np.full(full.max(axis=red).shape, 1e-6)
        return np.transpose(r, order), np.transpose(bound, order)

    def mlir(self, k, args):
        n = len(self.sizes)
        dims = ", ".join(f"d{i}" for i in range(n))
        amap = lambda ds: f"affine_map<({dims}) -> ({', '.join(f'd{d}' for d in ds)})>"  # noqa: E731
        t = lambda ds: f"tensor<{'x'.join(map(str, self.shape(ds)))}{'x' if ds else ''}f32>"  # noqa: E731
        out_t = t(self.out)
        lines = [f"    %z{k} = arith.constant 0.0 : f32",   # max starts at 0 too
                 f"    %e{k} = tensor.empty() : {out_t}",
                 f"    %i{k} = linalg.fill ins(%z{k} : f32) outs(%e{k} : {out_t}) -> {out_t}"]
        maps = ", ".join(amap(ds) for ds in [*self.ins, self.out])
        iters = ", ".join(f'"{s}"' for s in self.kinds)
        ins = ", ".join(args)
        in_ts = ", ".join(t(ds) for ds in self.ins)
        block = ", ".join(f"%a{j}: f32" for j in range(len(self.ins)))
        prod = "%a0" if len(self.ins) == 1 else f"%p{k}"
        body = [] if len(self.ins) == 1 else [f"      %p{k} = arith.mulf %a0, %a1 : f32"]
        lines += [f"    %r{k} = linalg.generic {{indexing_maps = [{maps}], iterator_types = [{iters}]}} "
                  f"ins({ins} : {in_ts}) outs(%i{k} : {out_t}) {{",
                  f"    ^bb0({block}, %acc: f32):", *body,
                  f"      %s{k} = {self.combiner} {prod}, %acc : f32",
                  f"      linalg.yield %s{k} : f32",
                  f"    }} -> {out_t}"]
        return lines, out_t


def module(forms):
    sig, body, rets, types = [], [], [], []
    for k, f in enumerate(forms):
        names = []
        for j, ds in enumerate(f.ins):
            name = f"%x{k}_{j}"
            names.append(name)
            sig.append(f"{name}: tensor<{'x'.join(map(str, f.shape(ds)))}{'x' if ds else ''}f32>")
        lines, out_t = f.mlir(k, names)
        body += lines
        rets.append(f"%r{k}")
        types.append(out_t)
    return ("func.func @main(" + ", ".join(sig) + ") -> (" + ", ".join(types) + ") {\n" + "\n".join(body)
            + f"\n    return {', '.join(rets)} : {', '.join(types)}\n}}\n")


def run(text, target, platform, inputs, shapes):
    exe = Executable(compiler.compile_mlir(text, target), "main", platform=platform)
    return [to_host(r, np.dtype(np.float32), tuple(s)) for r, s in zip(exe(*inputs), shapes)]


@pytest.fixture(params=["cpu", "vulkan"])
def target(request):
    if request.param == "cpu":
        return "llvm-cpu", "cpu"
    request.getfixturevalue("vulkan")   # skips without a device
    return "vulkan-spirv", "vulkan"


@pytest.mark.parametrize("seed", range(3))
def test_random_generic_forms(target, seed):
    rng = np.random.default_rng(1000 + seed)
    forms = [Form(rng) for _ in range(5)] + [Form(rng, long=int(rng.choice([2000, 70_001])))]
    inputs = [rng.uniform(-1, 1, f.shape(ds)).astype(np.float32) for f in forms for ds in f.ins]
    got = run(module(forms), *target, inputs, [f.shape(f.out) for f in forms])
    k = 0
    for i, (f, g) in enumerate(zip(forms, got)):
        want, bound = f.expected(inputs[k:k + len(f.ins)])
        k += len(f.ins)
        err = np.abs(g.astype(np.float64) - want)
        assert np.all(err <= bound + 1e-6 * np.abs(want)), (
            f"form {i}: loops {f.sizes} {f.kinds}, inputs {f.ins}, output {f.out}, {f.combiner}: "
            f"max error {err.max()}")
