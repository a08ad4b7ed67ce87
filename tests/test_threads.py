"""Compiled functions called from several threads at once give the same numbers as
NumPy: calls of one compiled function, first calls racing to trace and compile one
function (IREE compiles it once), threads tracing different functions, and a module on
IREE's threaded CPU driver called from many threads."""

import threading

import numpy as np
from irgrad.runtime import compiler
from irgrad.runtime.executable import Executable

import irgrad
import irgrad.numpy as jnp

F32 = np.float32
THREADS = 8


def run_threads(n: int, work) -> list:
    """Run work(i) on n threads released together; return the results by i."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as e:   # re-raised on the main thread
            errors.append(e)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_one_compiled_function_many_threads():
    f = irgrad.jit(lambda x, y: jnp.tanh(x) @ y.T + jnp.sum(x, axis=1, keepdims=True))
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((16, 12)).astype(F32) for _ in range(200)]
    ys = [rng.standard_normal((8, 12)).astype(F32) for _ in range(200)]
    f(xs[0], ys[0])   # compiled before the threads start

    def work(k):
        return [(i, np.asarray(f(xs[i], ys[i]))) for i in range(k, len(xs), THREADS)]

    done = [r for chunk in run_threads(THREADS, work) for r in chunk]
    assert sorted(i for i, _ in done) == list(range(len(xs)))
    for i, out in done:
        np.testing.assert_allclose(out, np.tanh(xs[i]) @ ys[i].T + xs[i].sum(1, keepdims=True),
                                   rtol=1e-5, atol=1e-5)


def test_device_arrays_between_threads():
    step = irgrad.jit(lambda w, g: w - 0.1 * g)
    grad = irgrad.jit(irgrad.grad(lambda w: jnp.sum(jnp.sin(w) ** 2)))
    w0 = [np.linspace(-1, 1, 7, dtype=F32) * (k + 1) for k in range(THREADS)]
    step(w0[0], w0[0]), grad(w0[0])

    def work(k):
        w = w0[k]
        for _ in range(10):
            w = step(w, grad(w))        # device-resident arrays chained on this thread
        return np.asarray(w)

    for k, out in enumerate(run_threads(THREADS, work)):
        w = w0[k].astype(np.float64)
        for _ in range(10):
            w = w - 0.1 * (2 * np.sin(w) * np.cos(w))
        np.testing.assert_allclose(out, w, rtol=1e-4, atol=1e-5)


def test_first_calls_race_and_compile_once():
    g = irgrad.jit(irgrad.grad(lambda x: jnp.sum(jnp.sin(x) * x ** 2)))
    before = dict(compiler.stats)

    def work(k):
        return np.asarray(g(np.full(5, k / 4, F32) + np.arange(5, dtype=F32)))

    outs = run_threads(6, work)
    built = compiler.stats["compiles"] - before["compiles"] + compiler.stats["disk_hits"] - before["disk_hits"]
    assert built == 1    # one IREE compile (or disk-cache read); the other threads waited for it
    for k, out in enumerate(outs):
        x = np.full(5, k / 4) + np.arange(5)
        np.testing.assert_allclose(out, np.cos(x) * x ** 2 + 2 * x * np.sin(x), rtol=1e-5, atol=1e-5)


def test_threads_trace_different_functions_at_once():
    fns = [(irgrad.jit(lambda x, p=p: jnp.exp(x * p) + p), lambda x, p=p: np.exp(x * p) + p) for p in range(THREADS)]
    x = np.linspace(-1, 1, 6, dtype=F32)

    def work(k):
        return np.asarray(fns[k][0](x))

    for (_, ref), out in zip(fns, run_threads(THREADS, work)):
        np.testing.assert_allclose(out, ref(x), rtol=1e-5, atol=1e-6)


MATVEC = """
func.func @main(%a: tensor<8x8xf32>, %x: tensor<8xf32>) -> tensor<8xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<8xf32>) -> tensor<8xf32>
  %r = linalg.matvec ins(%a, %x : tensor<8x8xf32>, tensor<8xf32>) outs(%f : tensor<8xf32>) -> tensor<8xf32>
  return %r : tensor<8xf32>
}"""


def test_threads_on_the_threaded_cpu_driver(monkeypatch):
    """One Executable on IREE's local-task driver (its own worker threads), called from many."""
    monkeypatch.setenv("IRGRAD_CPU_DRIVER", "local-task")
    exe = Executable(compiler.compile_mlir(MATVEC))
    assert exe.driver == "local-task"
    rng = np.random.default_rng(1)
    a = rng.standard_normal((8, 8)).astype(F32)
    xs = rng.standard_normal((80, 8)).astype(F32)

    def work(k):
        return [(i, np.asarray(exe(a, xs[i])[0])) for i in range(k, len(xs), THREADS)]

    for chunk in run_threads(THREADS, work):
        for i, out in chunk:
            np.testing.assert_allclose(out, a @ xs[i], rtol=1e-5, atol=1e-5)
