"""runtime/: what `prepare` decides before iree-compile (work estimate, data tiling,
the fill rewrite that dodges an IREE miscompile) and how `Executable` picks a CPU
driver. Values are checked against NumPy."""

import numpy as np
import pytest
from iree.compiler import ir
from irgrad.runtime import compiler, executable
from irgrad.runtime.compiler import compile_mlir
from irgrad.runtime.executable import Executable

MATMUL = """
func.func @main(%a: tensor<{m}x{k}xf32>, %b: tensor<{k}x{n}xf32>) -> tensor<{m}x{n}xf32> {{
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<{m}x{n}xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<{m}x{n}xf32>) -> tensor<{m}x{n}xf32>
  %r = linalg.matmul ins(%a, %b : tensor<{m}x{k}xf32>, tensor<{k}x{n}xf32>) outs(%f : tensor<{m}x{n}xf32>)
    -> tensor<{m}x{n}xf32>
  return %r : tensor<{m}x{n}xf32>
}}"""

# The adjoint of a matmul as reverse.py writes it: a contraction generic that still
# carries the primal's other input (%a, unused in the body).
ADJOINT = """
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @main(%a: tensor<{m}x{k}xf32>, %b: tensor<{k}x{n}xf32>, %g: tensor<{m}x{n}xf32>) -> tensor<{m}x{k}xf32> {{
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<{m}x{k}xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<{m}x{k}xf32>) -> tensor<{m}x{k}xf32>
  %r = linalg.generic {{indexing_maps = [#a, #b, #c, #a], iterator_types = ["parallel", "reduction", "parallel"]}}
      ins(%a, %b, %g : tensor<{m}x{k}xf32>, tensor<{k}x{n}xf32>, tensor<{m}x{n}xf32>) outs(%f : tensor<{m}x{k}xf32>) {{
  ^bb0(%x: f32, %y: f32, %w: f32, %acc: f32):
    %p = arith.mulf %w, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }} -> tensor<{m}x{k}xf32>
  return %r : tensor<{m}x{k}xf32>
}}"""

# jnp.prod's gradient after elementwise fusion: a 2-result reduction whose inits come
# from one input-less generic yielding constants (IREE 3.13 started both reductions
# from the same value).
PROD_INITS = """
#s = affine_map<() -> ()>
#x = affine_map<(d0) -> (d0)>
#r = affine_map<(d0) -> ()>
func.func @main(%arg0: tensor<6xf32>) -> (tensor<f32>, tensor<f32>) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<f32>
  %i:2 = linalg.generic {indexing_maps = [#s, #s], iterator_types = []} outs(%e, %e : tensor<f32>, tensor<f32>) {
  ^bb0(%o0: f32, %o1: f32):
    linalg.yield %one, %zero : f32, f32
  } -> (tensor<f32>, tensor<f32>)
  %p:2 = linalg.generic {indexing_maps = [#x, #r, #r], iterator_types = ["reduction"]} ins(%arg0 : tensor<6xf32>)
      outs(%i#0, %i#1 : tensor<f32>, tensor<f32>) {
  ^bb0(%in: f32, %prod: f32, %zeros: f32):
    %isz = arith.cmpf oeq, %in, %zero : f32
    %v = arith.select %isz, %one, %in : f32
    %m = arith.mulf %prod, %v : f32
    %c = arith.select %isz, %one, %zero : f32
    %n = arith.addf %zeros, %c : f32
    linalg.yield %m, %n : f32, f32
  } -> (tensor<f32>, tensor<f32>)
  return %p#0, %p#1 : tensor<f32>, tensor<f32>
}"""


def _profile(text):
    with ir.Context():
        return compiler.profile(ir.Module.parse(text))


@pytest.mark.parametrize("src, sizes, work, matmul", [
    (MATMUL, dict(m=64, k=32, n=48), 64 * 32 * 48 + 64 * 48, True),
    (MATMUL, dict(m=512, k=256, n=1), 512 * 256 + 512, False),        # a matvec: no data tiling
    (ADJOINT, dict(m=64, k=32, n=48), 64 * 32 * 48 + 64 * 32, True),   # dead operand ignored
    (ADJOINT, dict(m=1, k=32, n=48), 32 * 48 + 32, False),
])
def test_profile_counts_work_and_finds_matmuls(src, sizes, work, matmul):
    prof = _profile(src.format(**sizes))
    assert (prof.work, prof.matmul) == (work, matmul)
    flags = compiler.prepare(src.format(**sizes), "llvm-cpu")[0][1]
    assert (compiler.DATA_TILING in flags) == matmul


def test_prepare_annotates_work_and_keeps_an_unfused_fallback():
    text = MATMUL.format(m=8, k=4, n=2)
    (fused, _), (plain, plain_flags) = compiler.prepare(text, "llvm-cpu")
    for t in (fused, plain):
        assert f'{compiler.WORK_KEY} = "{8 * 4 * 2 + 8 * 2}"' in t
    assert compiler.DATA_TILING not in plain_flags


def test_constant_init_generic_becomes_fills_and_runs_right():
    fused = compiler.prepare(PROD_INITS, "llvm-cpu")[0][0]
    assert fused.count("linalg.fill") == 2 and "iterator_types = []" not in fused
    x = np.float32([2.0, -1.5, 0.0, 3.0, 0.5, 0.0])
    prod, zeros = Executable(compile_mlir(PROD_INITS, name="test_runtime_prod"))(x)
    np.testing.assert_allclose(prod.to_host(), np.prod(x[x != 0]), rtol=1e-6)
    assert float(zeros.to_host()) == 2.0


def test_driver_by_work_and_arrays_mix_across_drivers(monkeypatch):
    monkeypatch.delenv("IRGRAD_CPU_DRIVER", raising=False)
    assert executable.cpu_driver(None) == executable.cpu_driver(10) == "local-sync"
    assert executable.cpu_driver(executable.TASK_WORK) == executable.THREADED_DRIVER
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 8, 8)).astype(np.float32)
    vmfb = compile_mlir(MATMUL.format(m=8, k=8, n=8), name="test_runtime_mm")
    small = Executable(vmfb)
    monkeypatch.setattr(executable, "TASK_WORK", 1)
    threaded = Executable(vmfb)
    assert (small.driver, threaded.driver) == ("local-sync", executable.THREADED_DRIVER)
    (ab,) = threaded(a, b)                       # computed on local-task
    (abab,) = small(ab, executable.to_device(b @ a))   # fed to local-sync
    np.testing.assert_allclose(abab.to_host(), (a @ b) @ (b @ a), rtol=1e-5)


# sum over a row of a splat: a fill of a constant, or a broadcast of an argument's element
SUM_OF_SPLAT = """
#v = affine_map<(d0, d1) -> (d0, d1)>
#r = affine_map<(d0, d1) -> (d0)>
#s = affine_map<(d0, d1) -> ()>
func.func @main(%x: tensor<3xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
  %c1 = arith.constant 1 : index
  %one = arith.constant 1.5 : f32
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %ones = linalg.fill ins(%one : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %x1 = tensor.extract %x[%c1] : tensor<3xf32>
  %e0 = tensor.empty() : tensor<f32>
  %s = linalg.fill ins(%x1 : f32) outs(%e0 : tensor<f32>) -> tensor<f32>
  %b = linalg.generic {indexing_maps = [#s, #v], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<f32>) outs(%e : tensor<2x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<2x4xf32>
  %e2 = tensor.empty() : tensor<2xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2xf32>) -> tensor<2xf32>
  %r0 = linalg.generic {indexing_maps = [#v, #r], iterator_types = ["parallel", "reduction"]}
      ins(%ones : tensor<2x4xf32>) outs(%z : tensor<2xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %t = arith.addf %a, %acc : f32
    linalg.yield %t : f32
  } -> tensor<2xf32>
  %r1 = linalg.generic {indexing_maps = [#v, #r], iterator_types = ["parallel", "reduction"]}
      ins(%b : tensor<2x4xf32>) outs(%z : tensor<2xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %t = arith.addf %a, %acc : f32
    linalg.yield %t : f32
  } -> tensor<2xf32>
  return %r0, %r1 : tensor<2xf32>, tensor<2xf32>
}"""


def test_sum_of_a_splat_is_summed():
    """IREE 3.13 fuses a splat into a reduction and drops the reduced dimension (the sum of
    four 1.5s came out 1.5); `barrier_splat_reductions` keeps the splat apart."""
    import iree.compiler as ic
    import iree.runtime as rt
    x = np.float32([1.0, 2.5, 3.0])
    raw = ic.compile_str(SUM_OF_SPLAT, target_backends=["llvm-cpu"], extra_args=compiler.TARGET_FLAGS["llvm-cpu"])
    r0, _ = rt.load_vm_flatbuffer(raw, driver="local-sync").main(x)
    assert np.allclose(r0.to_host(), 1.5), "IREE sums splats right now: barrier_splat_reductions can go"
    for text, _ in compiler.prepare(SUM_OF_SPLAT, "llvm-cpu"):
        assert text.count("util.optimization_barrier") == 2
    r0, r1 = Executable(compile_mlir(SUM_OF_SPLAT, name="test_runtime_splat_sum"))(x)
    np.testing.assert_array_equal(r0.to_host(), [6.0, 6.0])
    np.testing.assert_array_equal(r1.to_host(), [10.0, 10.0])


def test_pow_at_zero_and_negative_bases():
    """IREE 3.13's powf gives NaN for 0 ** 0 and (-2) ** 2; `exact_powf` gives NumPy's values."""
    text = """
#m = affine_map<(d0) -> (d0)>
func.func @main(%x: tensor<8xf32>, %y: tensor<8xf32>) -> tensor<8xf32> {
  %e = tensor.empty() : tensor<8xf32>
  %r = linalg.generic {indexing_maps = [#m, #m, #m], iterator_types = ["parallel"]}
      ins(%x, %y : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = math.powf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}"""
    x = np.float32([0.0, 0.0, -2.0, -2.0, -2.0, -0.0, 3.0, 0.0])
    y = np.float32([0.0, -1.0, 2.0, 3.0, 0.5, -1.0, 0.5, 2.0])
    (r,) = Executable(compile_mlir(text, name="test_runtime_powf"))(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_allclose(r.to_host(), np.power(x, y), rtol=1e-6)
