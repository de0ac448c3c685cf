"""glibc's allocator settings every CPU benchmark measures under (``../shared/reference/stack-facts.md``).

With glibc's defaults, large tensors are mapped and unmapped (or trimmed from the heap) call after call, and each
call re-faults its pages: thousands of page faults per call, a cost that depends on what ran just before. The
settings keep freed memory in the process, so both sides of a comparison run on memory already mapped.
"""

import os
import resource
import sys

MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}


def malloc_tuned() -> bool:
    """Whether this process started with :data:`MALLOC_ENV`."""
    return all(os.environ.get(key) == value for key, value in MALLOC_ENV.items())


def reexec_with_malloc_tuning() -> None:
    """Restart this very command once with :data:`MALLOC_ENV` set (glibc reads it only at start-up)."""
    if not malloc_tuned():
        os.execvpe(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_ENV})


def minor_page_faults() -> int:
    """This process's minor page faults so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
