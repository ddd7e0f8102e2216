"""What a step's process does besides its work: kfp runs every step in a process of its own
(a subprocess under kfp.local, a container on a cluster), and the next step starts when it
has exited.

Once TensorFlow, TFDV or TFMA is loaded, the interpreter spends seconds of its exit in
garbage collection: 1-3 s after a schema inference on a busy 2-core machine, 0.1-0.3 s with
the collection skipped (bench/pipeline.py times what each step costs above an empty one).
"""

import atexit
import gc


def skip_gc_at_exit() -> None:
    """Freeze every object when the interpreter exits, so its last collections have nothing
    to do; the memory goes back with the process.

    Exit handlers still run, and objects no reference cycle holds are still freed; what is
    skipped is the finalizers of objects in cycles, which Python never promises to run at
    exit (a step's outputs are closed and written when its function returns). A component
    calls it first; calling it again changes nothing.
    """
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
