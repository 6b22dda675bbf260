import os

import pytest
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


#: Memory limit of each worker of the shared Dask cluster: the memory-bound
#: test gives it a features array larger than both workers' limits together.
DASK_WORKER_MEMORY = 400 * 2**20


@pytest.fixture(scope="session")
def dask_client():
    """A real 2-process dask.distributed cluster, started once per session.

    Used by tests/test_distributed.py, tests/runs/test_runs_table.py and tests/rfm/test_rfm_cluster.py; while it
    lives it is the default scheduler of every dask computation.
    """
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                           memory_limit=DASK_WORKER_MEMORY, dashboard_address=":0")
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
