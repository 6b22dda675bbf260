"""Former name of :mod:`rankcore.sfli`, kept so that old code runs.

``rankcore.init`` re-exports the public API of ``rankcore.sfli`` (the SFLI
parameter generators): ``rankcore.init.grid_init is rankcore.sfli.grid_init``.
New code should import ``rankcore.sfli``.

Examples
--------
>>> import rankcore.init, rankcore.sfli
>>> rankcore.init.sfli_init is rankcore.sfli.sfli_init
True
"""

from .sfli import *  # noqa: F401,F403  (the alias re-exports everything public)
from .sfli import __all__  # noqa: F401
