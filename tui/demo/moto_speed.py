"""moto's per-request reflection done once per class instead of on every request.

moto finds the method that answers an action by listing every function of the responses class with
inspect.getmembers, on each request (moto/core/responses.py, call_action): EC2's class has hundreds,
so that listing was about a fifth of moto's own time per request (a py-spy profile of the test suite,
where moto answers in-process as it does in `--demo`). A class's functions do not change while the
process runs, so the list is kept per class; every answer stays moto's.
"""

from __future__ import annotations

import functools


def remember_response_methods() -> None:
    """Idempotent: the second call finds the cached function in place."""
    import moto.core.responses as responses

    if hasattr(responses.method_names_from_class, "cache_info"):
        return
    responses.method_names_from_class = functools.cache(responses.method_names_from_class)
