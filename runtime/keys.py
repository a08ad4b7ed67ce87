"""Keys irgrad stores in an entry function's `iree.reflection` dictionary.

They live here, apart from compiler.py, so that code that only loads and runs
compiled modules (executable.py, artifact.py) never imports iree.compiler.
"""

# The module's work estimate (loop iterations), read by the runtime to pick a CPU driver.
WORK_KEY = "irgrad.work"
# An AOT artifact's metadata: one JSON string (see runtime/artifact.py).
ARTIFACT_KEY = "irgrad.artifact"
