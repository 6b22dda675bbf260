"""Per-test hypothesis example counts that follow the active profile."""

from hypothesis import settings

_DEFAULT = 60  # max_examples of the "default" profile in conftest.py


def examples(n):
    """``n`` under the default profile, scaled like it under the others.

    A test's own ``@settings(max_examples=...)`` overrides the profile, so
    without this RANKCORE_HYPOTHESIS_PROFILE=thorough would not reach the
    tests that set their own count.
    """
    return max(1, round(n * settings.default.max_examples / _DEFAULT))
