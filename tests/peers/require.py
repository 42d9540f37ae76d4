"""Optional packages the tests compare against (peers, oracles): a skip, or a failure.

Without the switch (a developer's machine without the package) a missing peer skips the test,
with a reason that names the package and how to install it. With ``FLOWVOX_REQUIRE_PEERS=1``
(``make test`` sets it, as CI does) the same message is a test failure, so a broken or
partial install cannot pass by skipping. Every peer and oracle test asks here; the f5-tts
tests use their own switch name (``FLOWVOX_REQUIRE_F5``, where ``make test-f5`` runs them).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from types import ModuleType

import pytest

REQUIRE_PEERS_ENV = "FLOWVOX_REQUIRE_PEERS"


def require_peer(missing: str | Sequence[str], install: str, env: str = REQUIRE_PEERS_ENV) -> None:
    """Skip the test, or fail it when ``env`` is "1", if ``missing`` names any package.

    ``missing``: a package name or a list of them (empty: nothing is missing, return);
    ``install``: the command that installs them, shown in the reason.
    """
    names = [missing] if isinstance(missing, str) else list(missing)
    if names:
        _skip_or_fail(f"{', '.join(names)} not installed: {install}", env)


def import_peer(module: str, install: str, env: str = REQUIRE_PEERS_ENV) -> ModuleType:
    """``importlib.import_module(module)``, or a skip (a failure when ``env`` is "1").

    An installed package that fails to import (a missing submodule, a broken dependency)
    counts as missing; the reason names the module, the import error and ``install``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        _skip_or_fail(f"{module} cannot be imported ({err}): {install}", env)
        raise  # not reached: _skip_or_fail raised


def _skip_or_fail(message: str, env: str) -> None:
    if os.environ.get(env) == "1":
        pytest.fail(f"{message} [{env}=1: a missing peer is a failure]")
    pytest.skip(message, allow_module_level=True)
