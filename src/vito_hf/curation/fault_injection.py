"""A testing aid: make chosen videos kill the process that decodes them, as a crashing decoder would.

Set `VITO_HF_FAULT_INJECT_CRASH` to a comma-separated list of `name[:signal][@step]` items, where `name` is a
video id or a file name, `signal` is `SIGABRT` (the default: `os.abort()`), `SIGSEGV`, `SIGBUS`, `SIGKILL`
(what the out-of-memory killer sends) or `SIGSTOP` (the process hangs there, as in a decoder stuck in a loop: for
tests that kill the run from outside while a video is in flight), and `step` is where it strikes: `probe` (the default), `classifier` (the
classifier's frame decode) or `export`. For example
`VITO_HF_FAULT_INJECT_CRASH="yt_abc,clip7.mp4:SIGSEGV@classifier"`. Unset (production), each step pays one
lookup in an empty dict.

It strikes in whichever process runs the step: a worker process or Ray worker (what the crash isolation of
`workers` and `ray_executor` is tested with), or the driver itself with `num_workers=0`, which then dies.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

ENV_VAR = "VITO_HF_FAULT_INJECT_CRASH"
STEPS = ("probe", "classifier", "export")
_SIGNALS = {"SIGABRT": signal.SIGABRT, "SIGSEGV": signal.SIGSEGV, "SIGBUS": signal.SIGBUS, "SIGKILL": signal.SIGKILL,
            "SIGSTOP": signal.SIGSTOP}


def injected_crashes(value: str | None = None) -> dict[tuple[str, str], signal.Signals]:
    """{(name, step): signal} from `value` (default: the environment variable); a malformed item is an error."""
    value = os.environ.get(ENV_VAR, "") if value is None else value
    crashes = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        rest, _, step = item.partition("@")
        name, _, signal_name = rest.partition(":")
        step, signal_name = step or "probe", (signal_name or "SIGABRT").upper()
        if not name or step not in STEPS or signal_name not in _SIGNALS:
            raise ValueError(
                f"{ENV_VAR} item {item!r} is not name[:signal][@step] with signal in {sorted(_SIGNALS)} and step in "
                f"{list(STEPS)}"
            )
        crashes[(name, step)] = _SIGNALS[signal_name]
    return crashes


def crash_if_injected(crashes: dict[tuple[str, str], signal.Signals], video_id: str, path: str | None, step: str) -> None:
    """Kill this process if `crashes` names the video (by id or file name) at `step`."""
    if not crashes:
        return
    chosen = crashes.get((video_id, step)) or (crashes.get((Path(path).name, step)) if path else None)
    if chosen is None:
        return
    if chosen == signal.SIGABRT:
        os.abort()
    os.kill(os.getpid(), chosen)
