"""The on-disk compile cache (runtime/disk_cache.py, used by runtime/compiler.py).

A new process with a warm cache runs its first call without the compiler; truncated or
corrupted entries are rebuilt; processes writing one entry at once leave one whole
entry; `IRGRAD_CACHE_DIR=off` writes nothing; the key covers IR, target and flags. A
directory, entry or key another user could have written is refused with one warning and
the module compiled instead (issue #19). Values are checked against NumPy."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from irgrad.runtime import compiler, disk_cache
from irgrad.runtime.executable import Executable

# A child process: first call of a jitted function, then its compile counters and result.
CHILD = textwrap.dedent("""
    import json
    import numpy as np
    import irgrad, irgrad.numpy as jnp
    from irgrad.runtime import compiler
    x = np.linspace(-1.5, 1.5, 48, dtype=np.float32).reshape(6, 8)
    out = irgrad.jit(lambda x: jnp.tanh(x) @ x.T)(x)
    print(json.dumps({"stats": compiler.stats, "out": np.asarray(out).tolist()}))
""")
X = np.linspace(-1.5, 1.5, 48, dtype=np.float32).reshape(6, 8)
EXPECTED = np.tanh(X) @ X.T

# For in-process tests: MLIR compiled directly, run with Executable.
SCALE = """
func.func @main(%x: tensor<5xf32>) -> tensor<5xf32> {{
  %c = arith.constant {c} : f32
  %e = tensor.empty() : tensor<5xf32>
  %r = linalg.generic {{indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                        iterator_types = ["parallel"]}} ins(%x : tensor<5xf32>) outs(%e : tensor<5xf32>) {{
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %c : f32
    %t = math.exp %m : f32
    linalg.yield %t : f32
  }} -> tensor<5xf32>
  return %r : tensor<5xf32>
}}"""
V = np.linspace(-1, 1, 5, dtype=np.float32)


def child_env(cache) -> dict:
    return dict(os.environ, IRGRAD_CACHE_DIR=str(cache))


def run_child(cache) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD], env=child_env(cache), cwd=str(cache.parent),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def entries(d) -> list[str]:
    return sorted(n for n in os.listdir(d) if n.endswith(disk_cache.SUFFIX))


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty cache directory for this test and an empty in-memory cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("IRGRAD_CACHE_DIR", str(cache))
    monkeypatch.setattr(compiler, "_cache", {})
    return cache


def delta(before: dict) -> dict:
    return {k: compiler.stats[k] - before[k] for k in before}


def run_scale(c: float) -> np.ndarray:
    vmfb = compiler.compile_mlir(SCALE.format(c=c))
    return np.asarray(Executable(vmfb)(V)[0])


# ------------------------------------------------------------------ new processes


def test_warm_cache_new_process_does_not_compile(tmp_path):
    cache = tmp_path / "cache"
    cold = run_child(cache)
    assert cold["stats"]["compiles"] == 1 and cold["stats"]["disk_writes"] == 1
    assert cold["stats"]["disk_hits"] == 0
    assert len(entries(cache)) == 1
    warm = run_child(cache)
    assert warm["stats"]["compiles"] == 0 and warm["stats"]["disk_hits"] == 1
    assert warm["stats"]["disk_writes"] == 0
    for r in (cold, warm):
        np.testing.assert_allclose(np.array(r["out"]), EXPECTED, rtol=1e-5, atol=1e-5)


def test_processes_compiling_one_module_at_once(tmp_path):
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, "-c", CHILD], env=child_env(cache), cwd=str(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    for r in results:
        np.testing.assert_allclose(np.array(r["out"]), EXPECTED, rtol=1e-5, atol=1e-5)
        assert r["stats"]["compiles"] + r["stats"]["disk_hits"] == 1
    assert os.listdir(cache) == entries(cache)            # no temporary files left
    (name,) = entries(cache)
    assert disk_cache.unpack((cache / name).read_bytes(), disk_cache.user_key()) is not None
    again = run_child(cache)["stats"]
    assert again["compiles"] == 0 and again["disk_hits"] == 1, again     # and it is a good entry


# Writers racing on one key never let a reader see a partial entry.
WRITER = textwrap.dedent("""
    import sys
    from irgrad.runtime import disk_cache
    payload = bytes(range(256)) * 4096          # 1 MiB
    seen = set()
    for _ in range(40):
        assert disk_cache.write("k" * 64, payload, sys.argv[1])
        got, status = disk_cache.read("k" * 64, sys.argv[1])
        assert status != "bad" and got in (None, payload), status
        seen.add(status)
    print(sorted(seen))
""")


def test_concurrent_writers_never_expose_a_partial_entry(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "hit" in out
    assert os.listdir(tmp_path) == ["k" * 64 + disk_cache.SUFFIX]
    assert disk_cache.read("k" * 64, str(tmp_path))[0] == bytes(range(256)) * 4096


# ------------------------------------------------------------------ bad entries


def _truncate_half(b):
    return b[: len(b) // 2]


def _flip_payload_byte(b):
    i = disk_cache.HEADER.size + (len(b) - disk_cache.HEADER.size) // 2
    return b[:i] + bytes([b[i] ^ 0x40]) + b[i + 1:]


def _flip_digest_byte(b):
    return b[:30] + bytes([b[30] ^ 1]) + b[31:]


CORRUPTIONS = {
    "truncated": _truncate_half,
    "shorter than the header": lambda b: b[:10],
    "empty": lambda b: b"",
    "payload byte flipped": _flip_payload_byte,
    "digest byte flipped": _flip_digest_byte,
    "bytes appended": lambda b: b + b"\0\0\0\0",
    "a bare vmfb": lambda b: b[disk_cache.HEADER.size:],
}


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_bad_entry_is_rebuilt(fresh, kind):
    expected = np.exp(V * 0.75)
    np.testing.assert_allclose(run_scale(0.75), expected, rtol=1e-6)
    (name,) = entries(fresh)
    path = fresh / name
    good = path.read_bytes()
    path.write_bytes(CORRUPTIONS[kind](good))
    compiler._cache.clear()                       # as a new process: only the disk remains
    before = dict(compiler.stats)
    np.testing.assert_allclose(run_scale(0.75), expected, rtol=1e-6)
    d = delta(before)
    assert d["disk_rejected"] == 1 and d["compiles"] == 1 and d["disk_writes"] == 1 and d["disk_hits"] == 0
    assert disk_cache.unpack(path.read_bytes(), disk_cache.user_key()) is not None
    compiler._cache.clear()
    before = dict(compiler.stats)
    np.testing.assert_allclose(run_scale(0.75), expected, rtol=1e-6)
    assert delta(before)["disk_hits"] == 1 and delta(before)["compiles"] == 0


def test_entry_checks():
    key = disk_cache.user_key()
    blob = disk_cache.pack(b"payload", key)
    assert disk_cache.unpack(blob, key) == b"payload"
    for kind, corrupt in CORRUPTIONS.items():
        assert disk_cache.unpack(corrupt(blob), key) is None, kind
    assert disk_cache.unpack(blob.replace(disk_cache.MAGIC, b"XXXXXXXX"), key) is None


def test_unreadable_or_unwritable_directory_is_a_miss(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert disk_cache.write("a" * 64, b"x", str(blocker / "sub")) is False
    assert disk_cache.read("a" * 64, str(blocker / "sub")) == (None, "miss")


# ------------------------------------------------------------------ switch, location, size


def test_off_switch_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("IRGRAD_CACHE_DIR", "off")
    monkeypatch.setattr(compiler, "_cache", {})
    assert disk_cache.cache_dir() is None
    before = dict(compiler.stats)
    np.testing.assert_allclose(run_scale(1.25), np.exp(V * 1.25), rtol=1e-6)
    d = delta(before)
    assert d["compiles"] == 1 and d["disk_writes"] == 0 and d["disk_hits"] == 0
    assert list(tmp_path.rglob("*")) == []


def test_default_location_and_override(tmp_path, monkeypatch):
    monkeypatch.delenv("IRGRAD_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if sys.platform.startswith("linux"):
        assert disk_cache.cache_dir() == str(tmp_path / "irgrad")
    monkeypatch.setenv("IRGRAD_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert disk_cache.cache_dir() == str(tmp_path / "elsewhere")
    monkeypatch.setenv("IRGRAD_CACHE_DIR", "OFF")
    assert disk_cache.cache_dir() is None


def _fill(directory, n: int, size: int) -> None:
    """n entries of `size` bytes, keys "000...", "111...", used in that order."""
    for i in range(n):
        assert disk_cache.write(str(i) * 64, bytes(size - disk_cache.HEADER.size), str(directory))
        os.utime(disk_cache.entry_path(str(i) * 64, str(directory)), (1000 + i, 1000 + i))


def test_prune_keeps_the_most_recently_used(tmp_path):
    _fill(tmp_path, 5, 1000)
    os.utime(disk_cache.entry_path("0" * 64, str(tmp_path)))       # read just now
    assert disk_cache.prune(str(tmp_path), 2000) == 3
    assert entries(tmp_path) == [k * 64 + disk_cache.SUFFIX for k in "04"]


def test_prune_runs_on_write(tmp_path, monkeypatch):
    monkeypatch.setenv("IRGRAD_CACHE_MAX_MB", str(2500 / 2**20))    # room for 2 entries
    _fill(tmp_path, 4, 1000)
    assert entries(tmp_path) == [k * 64 + disk_cache.SUFFIX for k in "23"]


# ------------------------------------------------------------------ the key


def test_key_covers_ir_target_flags_and_environment(monkeypatch):
    base = compiler.cache_key("ir", "llvm-cpu", ["--a"])
    assert compiler.cache_key("ir", "llvm-cpu", ["--a"]) == base
    others = [compiler.cache_key("ir2", "llvm-cpu", ["--a"]), compiler.cache_key("ir", "vulkan-spirv", ["--a"]),
              compiler.cache_key("ir", "llvm-cpu", ["--b"]), compiler.cache_key("ir", "llvm-cpu", ["--a", "--b"]),
              compiler.cache_key("ir", "llvm-cpu", [])]
    assert len({base, *others}) == 1 + len(others)
    monkeypatch.setattr(compiler, "_environment", lambda: "another compiler version")
    assert compiler.cache_key("ir", "llvm-cpu", ["--a"]) != base


def test_environment_names_compiler_version_and_format():
    env = compiler._environment()
    assert compiler.compiler_version() in env
    assert str(disk_cache.FORMAT_VERSION) in env


def test_extra_flags_make_a_separate_entry(fresh):
    text = SCALE.format(c=0.5)
    before = dict(compiler.stats)
    compiler.compile_mlir(text)
    compiler.compile_mlir(text, extra_flags=["--iree-opt-level=O1"])
    assert delta(before)["compiles"] == 2 and len(entries(fresh)) == 2


# ------------------------------------------------------------------ trust (issue #19)
#
# A planted entry is a well-formed entry holding another module's code (exp(2x)) under the
# key of the module compiled (exp(0.75x)): if the cache used it, the result would be wrong.

PLANTED_C, WANTED_C = 2.0, 0.75
OTHER_UID = 65534                 # nobody
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
posix_only = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX owners and modes")


def plant(cache, key_bytes=None) -> str:
    """Write the exp(2x) module under exp(0.75x)'s key; the entry's path."""
    planted = compiler.compile_mlir(SCALE.format(c=PLANTED_C))
    key = compiler.cache_key(SCALE.format(c=WANTED_C), "llvm-cpu", compiler.TARGET_FLAGS["llvm-cpu"])
    path = disk_cache.entry_path(key, str(cache))
    if key_bytes is None:
        assert disk_cache.write(key, planted, str(cache))
    else:                         # as written by someone holding another key
        with open(path, "wb") as f:
            f.write(disk_cache.pack(planted, key_bytes))
        os.chmod(path, 0o600)
    compiler._cache.clear()
    return path


def compile_wanted(recwarn):
    """exp(0.75x) through the cache: (result, counter deltas, cache warnings)."""
    before = dict(compiler.stats)
    out = run_scale(WANTED_C)
    return out, delta(before), [str(w.message) for w in recwarn if w.category is disk_cache.InsecureCacheWarning]


def make_foreign(path, monkeypatch):
    """`path` owned by another user: chown as root; else every file looks foreign (the uid seam)."""
    if AS_ROOT:
        os.chown(path, OTHER_UID, -1)
    else:
        uid = os.geteuid()
        disk_cache.user_key()     # read (and kept) while the key is still the user's
        monkeypatch.setattr(disk_cache, "current_uid", lambda: uid + 1)


@posix_only
def test_a_planted_entry_in_a_trusted_directory_is_run(fresh, recwarn):
    """The control: the planted entry is what the tests below must refuse."""
    plant(fresh)
    out, d, warned = compile_wanted(recwarn)
    np.testing.assert_allclose(out, np.exp(V * PLANTED_C), rtol=1e-6)
    assert d["disk_hits"] == 1 and d["compiles"] == 0 and not warned


@posix_only
@pytest.mark.parametrize("mode, who", [(0o770, "group"), (0o707, "others"), (0o777, "group and others"),
                                       (0o1777, "group and others")], ids=["0770", "0707", "0777", "1777"])
def test_group_or_world_writable_cache_directory_is_refused(fresh, recwarn, mode, who):
    path = plant(fresh)
    planted, before = open(path, "rb").read(), entries(fresh)
    os.chmod(fresh, mode)
    out, d, warned = compile_wanted(recwarn)
    np.testing.assert_allclose(out, np.exp(V * WANTED_C), rtol=1e-6)
    assert d["compiles"] == 1 and d["disk_hits"] == 0 and d["disk_writes"] == 0
    assert len(warned) == 1 and str(fresh) in warned[0] and f"writable by {who} (mode {mode:04o})" in warned[0]
    with open(path, "rb") as f:
        assert f.read() == planted and entries(fresh) == before      # left alone
    compiler._cache.clear()
    run_scale(0.5)                # another module: no second warning for the same directory
    assert sum(w.category is disk_cache.InsecureCacheWarning for w in recwarn) == 1


@posix_only
def test_cache_directory_owned_by_another_user_is_refused(fresh, recwarn, monkeypatch):
    path = plant(fresh)
    before = entries(fresh)
    make_foreign(fresh, monkeypatch)
    out, d, warned = compile_wanted(recwarn)
    np.testing.assert_allclose(out, np.exp(V * WANTED_C), rtol=1e-6)
    assert d["compiles"] == 1 and d["disk_hits"] == 0 and d["disk_writes"] == 0
    assert len(warned) == 1 and str(fresh) in warned[0] and "is owned by uid" in warned[0]
    assert entries(fresh) == before and os.path.basename(path) in before


def _chmod_666(path, monkeypatch):
    os.chmod(path, 0o666)


def _chmod_620(path, monkeypatch):
    os.chmod(path, 0o620)


def _chown_other(path, monkeypatch):
    if not AS_ROOT:
        pytest.skip("only root can give a file to another user")
    os.chown(path, OTHER_UID, -1)


def _symlink_to_planted(path, monkeypatch):
    elsewhere = os.path.join(os.path.dirname(os.path.dirname(path)), "planted.vmfb-entry")
    os.replace(path, elsewhere)
    os.symlink(elsewhere, path)


ENTRY_ATTACKS = {"world-writable": (_chmod_666, "writable by group and others"),
                 "group-writable": (_chmod_620, "writable by group (mode 0620)"),
                 "owned by another user": (_chown_other, f"owned by uid {OTHER_UID}"),
                 "a symbolic link": (_symlink_to_planted, "is a symbolic link")}


@posix_only
@pytest.mark.parametrize("attack", ENTRY_ATTACKS)
def test_untrusted_entry_is_refused_and_replaced(fresh, recwarn, monkeypatch, attack):
    change, why = ENTRY_ATTACKS[attack]
    path = plant(fresh)
    change(path, monkeypatch)
    out, d, warned = compile_wanted(recwarn)
    np.testing.assert_allclose(out, np.exp(V * WANTED_C), rtol=1e-6)
    assert d["compiles"] == 1 and d["disk_hits"] == 0 and d["disk_writes"] == 1
    assert len(warned) == 1 and path in warned[0] and why in warned[0]
    st = os.lstat(path)           # replaced by this user's own private entry
    assert os.path.isfile(path) and not os.path.islink(path) and st.st_uid == os.geteuid()
    assert st.st_mode & 0o777 == 0o600
    compiler._cache.clear()
    out, d, warned = compile_wanted(recwarn)
    np.testing.assert_allclose(out, np.exp(V * WANTED_C), rtol=1e-6)
    assert d["disk_hits"] == 1 and d["compiles"] == 0


def test_entry_written_under_another_key_is_rejected(fresh, recwarn):
    """A well-formed entry with a valid SHA-256 but not this user's HMAC: someone else wrote it."""
    path = plant(fresh, key_bytes=bytes(range(32)))
    out, d, _ = compile_wanted(recwarn)
    np.testing.assert_allclose(out, np.exp(V * WANTED_C), rtol=1e-6)
    assert d["disk_rejected"] == 1 and d["compiles"] == 1 and d["disk_writes"] == 1
    with open(path, "rb") as f:
        assert disk_cache.unpack(f.read(), disk_cache.user_key()) is not None


@posix_only
def test_new_directories_and_entries_are_private(tmp_path):
    old = os.umask(0)                              # even with a permissive umask
    try:
        assert disk_cache.write("c" * 64, b"x", str(tmp_path / "new" / "cache"))
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "new" / "cache").st_mode & 0o777 == 0o700
    assert os.stat(disk_cache.entry_path("c" * 64, str(tmp_path / "new" / "cache"))).st_mode & 0o777 == 0o600


# The key: made 0600 in a 0700 directory; refused (and the cache with it) when others can reach it.

@pytest.fixture
def key_dir(tmp_path, monkeypatch):
    d = tmp_path / "config"
    monkeypatch.setenv("IRGRAD_CONFIG_DIR", str(d))
    monkeypatch.setattr(disk_cache, "_keys", {})
    return d


@posix_only
def test_key_is_made_once_private_and_kept(key_dir):
    key = disk_cache.user_key()
    assert len(key) == disk_cache.KEY_BYTES and (key_dir / disk_cache.KEY_FILE).read_bytes() == key
    assert os.stat(key_dir).st_mode & 0o777 == 0o700
    assert os.stat(key_dir / disk_cache.KEY_FILE).st_mode & 0o777 == 0o600
    disk_cache._keys.clear()
    assert disk_cache.user_key() == key


KEY_RACE = textwrap.dedent("""
    import sys, time
    from irgrad.runtime import disk_cache
    while time.time() < float(sys.argv[1]):
        pass
    print(disk_cache.user_key().hex())
""")


@posix_only
def test_processes_making_the_key_at_once_agree(key_dir):
    start = str(__import__("time").time() + 3)
    env = dict(os.environ, IRGRAD_CONFIG_DIR=str(key_dir))
    procs = [subprocess.Popen([sys.executable, "-c", KEY_RACE, start], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    keys = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and "Warning" not in err, err
        keys.append(out.strip())
    assert len(set(keys)) == 1 and bytes.fromhex(keys[0]) == (key_dir / disk_cache.KEY_FILE).read_bytes()


def _loose_key(d):
    os.chmod(d / disk_cache.KEY_FILE, 0o644)


def _linked_key(d):
    (d / "elsewhere").write_bytes(bytes(32))
    os.chmod(d / "elsewhere", 0o600)
    os.remove(d / disk_cache.KEY_FILE)
    os.symlink(d / "elsewhere", d / disk_cache.KEY_FILE)


def _open_key_dir(d):
    os.chmod(d, 0o777)


KEY_ATTACKS = {"readable by others": (_loose_key, "readable or writable by group and others (mode 0644)"),
               "a symbolic link": (_linked_key, "is a symbolic link"),
               "in a world-writable directory": (_open_key_dir, "writable by group and others")}


@posix_only
@pytest.mark.parametrize("attack", KEY_ATTACKS)
def test_untrusted_key_turns_the_disk_cache_off(key_dir, fresh, recwarn, attack):
    change, why = KEY_ATTACKS[attack]
    disk_cache.user_key()
    disk_cache._keys.clear()      # as a new process
    change(key_dir)
    out, d, warned = compile_wanted(recwarn)
    np.testing.assert_allclose(out, np.exp(V * WANTED_C), rtol=1e-6)
    assert d["compiles"] == 1 and d["disk_writes"] == 0 and d["disk_hits"] == 0
    assert len(warned) == 1 and why in warned[0] and str(key_dir) in warned[0]
    assert not fresh.exists() or entries(fresh) == []
