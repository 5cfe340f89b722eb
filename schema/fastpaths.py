"""The one switch for the fast paths that stand in for a library.

Four places do by hand what a library would do, because the library was most of the time
of a large plan:

* schema/loader.py composes YAML from libyaml's events instead of PyYAML's composer;
* backends/octodns.py writes octodns zone YAML itself instead of calling ``yaml.dump``;
* compiler/forked.py runs the policy rules in a forked child while the files are planned;
* compiler/report.py reads the zone files mailauth writes line by line instead of through
  dnspython's zone reader.

Each must give exactly what the library gives; tests/test_yaml_core.py,
tests/test_fastpaths.py (the emitter and the zone reader) and tests/test_forked_gate.py
compare the two on the same inputs. ``MAILAUTH_PURE=1`` in the environment turns all four
off (read once, here): to
rule them out when a result looks wrong, or to measure what they save.
"""

from __future__ import annotations

import os

ENV = "MAILAUTH_PURE"

#: False when MAILAUTH_PURE is set to anything but "" or "0". Tests patch this attribute.
FAST: bool = os.environ.get(ENV, "") in ("", "0")


def enabled() -> bool:
    """The fast paths may be taken (asked at each use, so a test can switch them off)."""
    return FAST
