"""A time limit on every test, so a hang fails the test (naming it) instead of stalling CI.

Loaded as a pytest plugin by tests/conftest.py. The limit is TIME_LIMIT_S, SLOW_TIME_LIMIT_S for tests
marked `slow`, or the seconds of a `time_limit(N)` marker. A SIGALRM timer interrupts the test's Python
code with TimeLimitExceeded, a BaseException so that no `except Exception` in the code under test can
swallow it. (A hang inside one C call is only interrupted when it returns to Python.)
"""

import signal

import pytest

TIME_LIMIT_S = 300
SLOW_TIME_LIMIT_S = 900


class TimeLimitExceeded(BaseException):
    """A test ran past its time limit."""


def pytest_configure(config):
    config.addinivalue_line("markers", "time_limit(seconds): this test's own time limit")


def _limit(item) -> float:
    marker = item.get_closest_marker("time_limit")
    if marker is not None:
        return float(marker.args[0])
    return SLOW_TIME_LIMIT_S if item.get_closest_marker("slow") else TIME_LIMIT_S


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    limit = _limit(item)

    def expire(signum, frame):
        raise TimeLimitExceeded(f"{item.nodeid} ran past its time limit of {limit:g} s (a hang?)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
