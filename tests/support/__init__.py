"""Helpers shared by the tests: real programs, free ports, servers, safe output roots.

Later targets (OpenDKIM, Postfix, PowerDNS, OpenDMARC) build on these pieces:

* :func:`require_binary` finds a program or skips the test (fails it under ``CI=true``);
* :class:`ServerProcess` runs a foreground daemon, waits until it is ready, stops it and
  shows its log when something goes wrong; :class:`NamedServer` is the BIND one;
* :func:`free_port` and :func:`wait_until` for the plumbing;
* :func:`safe_directory` makes output roots that OpenDKIM accepts (no group- or
  world-writable directory anywhere above them);
* :func:`mailauth_argv` / :func:`run_mailauth` run the real command line.
"""

from support.cli import mailauth_argv, mailauth_env, run_mailauth
from support.examples import EXAMPLES, REPO, allow_create, copy_example
from support.named import NamedServer, resolver
from support.net import free_port, wait_until
from support.process import ServerProcess
from support.roots import (
    DEBIAN_FIXTURES,
    SAFE_BASE,
    check_no_writable_ancestors,
    safe_directory,
    seed_postfix,
)
from support.tools import in_ci, require_binary, require_module, unavailable

__all__ = [
    "DEBIAN_FIXTURES",
    "EXAMPLES",
    "REPO",
    "SAFE_BASE",
    "NamedServer",
    "ServerProcess",
    "allow_create",
    "check_no_writable_ancestors",
    "copy_example",
    "free_port",
    "in_ci",
    "mailauth_argv",
    "mailauth_env",
    "require_binary",
    "require_module",
    "resolver",
    "run_mailauth",
    "safe_directory",
    "seed_postfix",
    "unavailable",
    "wait_until",
]
