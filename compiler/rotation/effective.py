"""The selectors the build sees: mailauth.yaml's, with the states of mailauth.lock applied.

This is the one hook of rotation into the pipeline (compiler/inputs.py calls it right
after reading the lock): a domain whose keys carry no state in the lock is left exactly
as written, so a lock from before rotation changes nothing. For a domain with states:

* ``active`` selectors sign, ``published``, ``retiring`` and ``revoked`` ones do not (they
  stay in DNS: revoked with an empty ``p=``, see compiler/keys.py);
* selectors made by ``keys rotate`` (in the lock only) are added, with their algorithm and
  size from the lock;
* ``removed`` selectors are left out, even when the config still lists them.
"""

from __future__ import annotations

from pydantic import ValidationError

from mailauth.compiler.lockfile import REMOVED, Lock
from mailauth.compiler.rotation.states import config_selectors
from mailauth.schema.errors import ConfigError, Problem
from mailauth.schema.models import Config, Dkim, DkimSelector, Domain


def effective_config(config: Config, lock: Lock, lock_name: str = "mailauth.lock") -> Config:
    """``config`` with the lock's rotation states applied (the same object when none)."""
    stated: dict[str, list[tuple[str, str]]] = {}
    for (owner, selector), entry in lock.items():
        if entry.state is not None:
            stated.setdefault(owner, []).append((selector, entry.state))
    if not stated:
        return config
    domains: list[Domain] = []
    problems: list[Problem] = []
    for domain in config.domains:
        states = stated.get(domain.name)
        if states is None:
            domains.append(domain)
            continue
        by_name = dict(states)
        selectors: list[DkimSelector] = []
        listed = config_selectors(config, domain)
        for sel in listed:
            state = by_name.get(sel.name)
            if state == REMOVED:
                continue
            if state is not None:
                sel = sel.model_copy(update={"sign": state == "active"})
            selectors.append(sel)
        listed_names = {sel.name for sel in listed}
        extra = sorted(
            (lock[(domain.name, name)] for name, state in states if state != REMOVED),
            key=lambda e: (e.since or e.created, e.selector),
        )
        for entry in extra:
            if entry.selector in listed_names:
                continue
            try:
                selectors.append(
                    DkimSelector(
                        name=entry.selector,
                        algorithm=entry.algorithm,  # type: ignore[arg-type]
                        bits=entry.bits if entry.algorithm == "rsa" else None,
                        sign=entry.state == "active",
                    )
                )
            except ValidationError as exc:
                detail = "; ".join(str(e["msg"]) for e in exc.errors())
                problems.append(
                    Problem(
                        lock_name,
                        f"{entry.selector}/{entry.domain}",
                        f"not a usable selector ({detail}); restore the lock from version control",
                    )
                )
        domains.append(domain.model_copy(update={"dkim": Dkim(selectors=selectors)}))
    if problems:
        raise ConfigError(problems)
    return config.model_copy(update={"domains": domains})
