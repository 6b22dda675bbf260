import os

from hypothesis import HealthCheck, settings

# Shared 2-core machines: no per-example deadline (Numba compiles and BLAS
# threads make single examples slow now and then), bounded example counts.
settings.register_profile(
    "default", deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "thorough", deadline=None, max_examples=500,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("RANKCORE_HYPOTHESIS_PROFILE", "default"))
