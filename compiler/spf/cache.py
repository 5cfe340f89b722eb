"""The SPF cache file: DNS answers about third-party SPF records, committed beside mailauth.yaml.

``mailauth spf refresh`` asks DNS and writes it; everything else only reads it. With it a
plan is a pure function of files in the repository: flattened includes do not churn with
every run, and a change upstream shows up as a diff of this file (and of the zone) in
review. It holds only what anyone can ask DNS for.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mailauth.compiler.fsio import read_checked
from mailauth.compiler.spf.dnsview import RTYPES, Answers
from mailauth.schema.errors import ConfigError, Problem
from mailauth.schema.names import norm
from mailauth.schema.validate import LoadedConfig

CACHE_VERSION = 1
_COMMENT = (
    "DNS answers for the third-party SPF records mailauth.yaml refers to, written by "
    "`mailauth spf refresh`. Commit this file: plans read it instead of asking DNS."
)


def cache_path(loaded: LoadedConfig) -> Path:
    """The cache file, which must stay in the config's directory (keys.beside_config)."""
    from mailauth.compiler.keys import beside_config  # keys imports the whole key phase

    return beside_config(loaded, loaded.config.spf_cache, "spf_cache")


def _bad(path: Path, message: str) -> ConfigError:
    return ConfigError([Problem(str(path), "(spf cache)", message)])


def read_cache(path: Path) -> Answers:
    """The answers in ``path``; an absent file is an empty cache.

    Read as plan reads (fsio.read_checked): a regular file, not through a symlink, capped.
    """
    try:
        read = read_checked(path.parent, path)
    except OSError as exc:
        raise _bad(path, f"cannot read: {exc.strerror or exc}") from None
    if read is None:
        return {}
    try:
        raw = read[0].decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(path, "not UTF-8 text; restore it, or run `mailauth spf refresh`") from None
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise _bad(
            path, f"not valid JSON ({exc}); restore it, or run `mailauth spf refresh`"
        ) from None
    if not isinstance(doc, dict) or doc.get("version") != CACHE_VERSION:
        raise _bad(path, f"not a version {CACHE_VERSION} mailauth SPF cache")
    names = doc.get("names", {})
    if not isinstance(names, dict):
        raise _bad(path, "`names` must be a mapping")
    answers: Answers = {}
    for name, entry in names.items():
        if not isinstance(entry, dict) or not set(entry) <= set(RTYPES):
            raise _bad(path, f"names.{name}: expected a mapping of {', '.join(RTYPES)}")
        for rtype, values in entry.items():
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise _bad(path, f"names.{name}.{rtype}: expected a list of strings")
        answers[norm(str(name))] = {k: list(v) for k, v in entry.items()}
    return answers


@dataclass(frozen=True)
class SpfCache:
    """The cache as compiler/inputs.py read it: its answers, or the error that reading gave.

    The error is raised only where the answers are used (a domain that flattens, the
    linter), so a broken cache stops a run that needs it and no other, and build stays a
    function of what was read.
    """

    found: Answers | ConfigError

    def answers(self) -> Answers:
        if isinstance(self.found, ConfigError):
            raise ConfigError(self.found.problems)
        return self.found


#: What build uses when given no cache: no third-party answers at all.
NO_CACHE = SpfCache({})


def load_cache(loaded: LoadedConfig) -> SpfCache:
    """Read the cache of ``loaded`` once (see :class:`SpfCache`)."""
    try:
        return SpfCache(read_cache(cache_path(loaded)))
    except ConfigError as exc:
        return SpfCache(exc)


def render_cache(answers: Answers) -> bytes:
    """Stable JSON: names and types sorted, so the file changes only when DNS did."""
    names = {
        name: {rtype: answers[name][rtype] for rtype in RTYPES if rtype in answers[name]}
        for name in sorted(answers)
    }
    doc = {"version": CACHE_VERSION, "comment": _COMMENT, "names": names}
    return (json.dumps(doc, indent=2) + "\n").encode()


def write_cache(path: Path, answers: Answers) -> None:
    """Replace ``path`` atomically (temporary file beside it, fsync, rename)."""
    data = render_cache(answers)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
