"""The key rotation state machine (compiler/rotation/machine.py): every transition and
every refusal, as pure functions of a config, a lock and the time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailauth.compiler.lockfile import REMOVED, Lock, LockEntry, _parse, render_lock
from mailauth.compiler.rotation import machine
from mailauth.compiler.rotation.effective import effective_config
from mailauth.compiler.rotation.machine import Changed, Live, Refusal
from mailauth.compiler.rotation.states import PENDING, keys_of, parse_stamp, stamp
from mailauth.schema.models import Config
from mailauth.schema.validate import load_config

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
OK = Live(None)

CONFIG = """\
version: 1
defaults:
  rotation: {every: 180d, overlap: 7d, revoke_for: 30d}
  dkim:
    selectors:
      - {name: "01", algorithm: rsa, bits: 2048}
      - {name: ed1, algorithm: ed25519}
domains:
  - name: example.org
  - name: example.net
    rotation: {selector: "k{yyyy}{mm}{dd}"}
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "mailauth.yaml"
    path.write_text(CONFIG)
    return load_config(path).config


def entry(domain: str, selector: str, algorithm: str = "rsa", **extra: object) -> LockEntry:
    fields: dict[str, object] = {
        "bits": 2048 if algorithm == "rsa" else 256,
        "created": "2026-01-01",
        "fingerprint": f"sha256:{selector}",
        "public_key": f"KEY{selector}",
    }
    fields.update(extra)
    return LockEntry(domain, selector, algorithm, **fields)  # type: ignore[arg-type]


def old_lock() -> Lock:
    """A lock as written before rotation: no states."""
    return {
        (d, s): entry(d, s, a)
        for d in ("example.org", "example.net")
        for s, a in (("01", "rsa"), ("ed1", "ed25519"))
    }


def changed(result: machine.Result) -> Changed:
    assert isinstance(result, Changed), result
    return result


def refused(result: machine.Result) -> str:
    assert isinstance(result, Refusal), result
    return result.message


def states(config: Config, lock: Lock, domain: str = "example.org") -> dict[str, str]:
    dom = next(d for d in config.domains if d.name == domain)
    return {v.selector: v.state for v in keys_of(config, lock, dom)}


def made(lock: Lock, domain: str, selector: str) -> Lock:
    """What apply does for a pending key: a real key, the state kept."""
    out = dict(lock)
    pending = out[(domain, selector)]
    assert pending.fingerprint == PENDING
    out[(domain, selector)] = LockEntry(
        domain, selector, pending.algorithm, pending.bits, pending.created,
        f"sha256:{selector}", f"KEY{selector}", pending.state, pending.since, pending.until,
    )  # fmt: skip
    return out


# -- reading old locks ----------------------------------------------------------------------


def test_lock_without_states_reads_as_sign_says(config: Config) -> None:
    assert states(config, old_lock()) == {"01": "active", "ed1": "active"}
    assert effective_config(config, old_lock()) is config


def test_lock_round_trips_states_and_removed() -> None:
    lock = old_lock()
    lock[("example.org", "01")] = entry(
        "example.org", "01", state="retiring", since=stamp(NOW), until=stamp(NOW)
    )
    lock[("example.org", "ed1")] = entry(
        "example.org", "ed1", "ed25519", state=REMOVED, since=stamp(NOW), public_key="", purge=True
    )
    text = render_lock(lock)
    assert _parse(Path("mailauth.lock"), text) == lock
    assert b'"removed": [' in text and b'"purge": true' in text


def test_old_lock_renders_byte_for_byte() -> None:
    text = render_lock(old_lock())
    assert b"state" not in text and b"removed" not in text


# -- rotate ---------------------------------------------------------------------------------


def test_rotate_publishes_a_pending_key_per_algorithm(config: Config) -> None:
    result = changed(machine.rotate(config, old_lock(), "example.org", [], NOW))
    assert states(config, result.lock) == {
        "01": "active", "ed1": "active", "202607": "published", "202607-2": "published",
    }  # fmt: skip
    new = result.lock[("example.org", "202607")]
    assert (new.fingerprint, new.since, new.algorithm) == (PENDING, stamp(NOW), "rsa")
    assert result.lock[("example.org", "202607-2")].algorithm == "ed25519"
    # the other domain is untouched
    assert result.lock[("example.net", "01")].state is None


def test_rotate_one_algorithm_and_the_domain_scheme(config: Config) -> None:
    result = changed(machine.rotate(config, old_lock(), "example.net", ["ed25519"], NOW))
    assert states(config, result.lock, "example.net")["k20260701"] == "published"
    assert len(result.done) == 1


def test_rotate_refuses_while_a_key_waits(config: Config) -> None:
    lock = changed(machine.rotate(config, old_lock(), "example.org", ["rsa"], NOW)).lock
    message = refused(machine.rotate(config, lock, "example.org", ["rsa"], NOW))
    assert "202607 is already published and waiting: promote it" in message


def test_rotate_refuses_unknown_domain_and_missing_algorithm(config: Config) -> None:
    assert "no such domain" in refused(machine.rotate(config, old_lock(), "x.test", [], NOW))
    lock = old_lock()
    lock[("example.org", "ed1")] = entry("example.org", "ed1", "ed25519", state="retiring")
    lock[("example.org", "01")] = entry("example.org", "01", state="retiring")
    assert "no active key" in refused(machine.rotate(config, lock, "example.org", [], NOW))
    assert "no active ed25519 key" in refused(
        machine.rotate(config, lock, "example.org", ["ed25519"], NOW)
    )


# -- promote --------------------------------------------------------------------------------


def rotated(config: Config) -> Lock:
    lock = changed(machine.rotate(config, old_lock(), "example.org", ["rsa"], NOW)).lock
    return made(lock, "example.org", "202607")


def test_promote_switches_signing_and_starts_retiring(config: Config) -> None:
    later = NOW + timedelta(hours=2)
    result = changed(
        machine.promote(
            config,
            rotated(config),
            "example.org",
            [],
            later,
            ttl={"202607": 3600},
            live={"202607": OK},
        )
    )
    assert states(config, result.lock) == {"01": "retiring", "ed1": "active", "202607": "active"}
    old = result.lock[("example.org", "01")]
    assert old.until == stamp(later + timedelta(days=7))
    sel = {s.name: s.sign for s in _selectors(effective_config(config, result.lock))}
    assert sel == {"01": False, "ed1": True, "202607": True}


def _selectors(config: Config, domain: str = "example.org") -> list:  # type: ignore[type-arg]
    dom = next(d for d in config.domains if d.name == domain)
    assert dom.dkim is not None
    return list(dom.dkim.selectors)


def test_promote_refused_before_the_ttl(config: Config) -> None:
    message = refused(
        machine.promote(
            config,
            rotated(config),
            "example.org",
            [],
            NOW + timedelta(minutes=10),
            ttl={"202607": 3600},
            live={"202607": OK},
        )
    )
    assert "may hold an answer from before for 3600s" in message
    assert "promote after 2026-07-01T13:00:00Z" in message


def test_promote_refused_while_not_live(config: Config) -> None:
    message = refused(
        machine.promote(
            config,
            rotated(config),
            "example.org",
            [],
            NOW + timedelta(days=1),
            ttl={"202607": 3600},
            live={"202607": Live("ns1: no such record")},
        )
    )
    assert "not live: ns1: no such record" in message


def test_promote_refused_before_the_key_exists_even_forced(config: Config) -> None:
    lock = changed(machine.rotate(config, old_lock(), "example.org", ["rsa"], NOW)).lock
    message = refused(
        machine.promote(config, lock, "example.org", [], NOW, ttl={}, live={}, force=True)
    )
    assert "does not exist yet: run `mailauth apply` on the mail host" in message


def test_promote_force_warns(config: Config) -> None:
    result = changed(
        machine.promote(
            config,
            rotated(config),
            "example.org",
            [],
            NOW,
            ttl={"202607": 3600},
            live={"202607": Live("not served")},
            force=True,
        )
    )
    assert states(config, result.lock)["202607"] == "active"
    assert any("--force" in w and "TTL" in w for w in result.warnings)
    assert any("not served" in w for w in result.warnings)


def test_promote_refused_without_a_published_key(config: Config) -> None:
    message = refused(machine.promote(config, old_lock(), "example.org", [], NOW, ttl={}, live={}))
    assert "no published key to promote" in message


# -- retire ---------------------------------------------------------------------------------


def promoted(config: Config) -> Lock:
    return changed(
        machine.promote(
            config,
            rotated(config),
            "example.org",
            [],
            NOW,
            ttl={},
            live={"202607": OK},
        )
    ).lock


def test_retire_refused_while_mail_may_be_in_transit(config: Config) -> None:
    message = refused(machine.retire(config, promoted(config), "example.org", NOW))
    assert "may still be in transit until 2026-07-08T12:00:00Z" in message


def test_retire_revokes_then_removes(config: Config) -> None:
    week = NOW + timedelta(days=7)
    lock = changed(machine.retire(config, promoted(config), "example.org", week)).lock
    assert states(config, lock)["01"] == "revoked"
    assert lock[("example.org", "01")].until == stamp(week + timedelta(days=30))
    message = refused(machine.retire(config, lock, "example.org", week + timedelta(days=29)))
    assert "published revoked until" in message
    gone = changed(machine.retire(config, lock, "example.org", week + timedelta(days=30))).lock
    assert gone[("example.org", "01")].state == REMOVED
    assert "01" not in states(config, gone)
    assert [s.name for s in _selectors(effective_config(config, gone))] == ["ed1", "202607"]
    # removed leaves the keys list of the lock file
    text = render_lock(gone).decode()
    keys_part = text.split('"removed"')[0]
    assert '"selector": "01"' not in keys_part.split('"example.org"', 1)[1].split("example.net")[0]


def test_retire_purge_is_recorded(config: Config) -> None:
    week = NOW + timedelta(days=7)
    lock = changed(machine.retire(config, promoted(config), "example.org", week)).lock
    late = week + timedelta(days=31)
    gone = changed(machine.retire(config, lock, "example.org", late, purge=True)).lock
    assert gone[("example.org", "01")].purge


def test_retire_refused_without_retiring_keys(config: Config) -> None:
    assert "no retiring or revoked key" in refused(
        machine.retire(config, old_lock(), "example.org", NOW)
    )


def test_rotate_after_removal_prunes_markers_of_unlisted_selectors(config: Config) -> None:
    lock = old_lock()
    lock[("example.org", "gone")] = entry("example.org", "gone", state=REMOVED, public_key="")
    result = changed(machine.rotate(config, lock, "example.org", ["rsa"], NOW))
    assert ("example.org", "gone") not in result.lock


# -- due ------------------------------------------------------------------------------------


def test_due_after_every(config: Config) -> None:
    dom = config.domains[0]
    lock = old_lock()
    assert not machine.is_due(config, lock, dom, datetime(2026, 6, 29, tzinfo=UTC))
    assert machine.is_due(config, lock, dom, datetime(2026, 6, 30, tzinfo=UTC))
    waiting = changed(machine.rotate(config, lock, "example.org", [], NOW)).lock
    assert not machine.is_due(config, waiting, dom, NOW)


def test_rotate_refused_before_the_first_key_exists(config: Config) -> None:
    message = refused(machine.rotate(config, {}, "example.org", ["rsa"], NOW))
    assert "key 01 does not exist yet: run `mailauth apply`" in message


def test_due_says_apply_until_the_key_exists_then_promote_after_the_ttl(config: Config) -> None:
    dom = config.domains[0]
    lock = changed(machine.rotate(config, old_lock(), "example.org", ["rsa"], NOW)).lock
    assert ("apply", stamp(NOW)) in machine.due(config, lock, dom, NOW)
    lock = made(lock, "example.org", "202607")
    assert ("promote", stamp(NOW + timedelta(seconds=3600))) in machine.due(config, lock, dom, NOW)


@pytest.mark.parametrize("bad", ['"yesterday"', '"2026-13-01T00:00:00Z"', "5"])
def test_lock_with_a_bad_time_is_refused_with_its_place(bad: str) -> None:
    from mailauth.schema.errors import ConfigError

    text = render_lock(
        {("example.org", "01"): entry("example.org", "01", state="active", since=stamp(NOW))}
    ).decode()
    text = text.replace(f'"{stamp(NOW)}"', bad)
    with pytest.raises(ConfigError) as caught:
        _parse(Path("mailauth.lock"), text.encode())
    assert "keys[0]" in str(caught.value)


def test_a_hand_edited_created_date_does_not_break_status(config: Config) -> None:
    lock = old_lock()
    lock[("example.org", "01")] = entry("example.org", "01", created="last spring")
    views = keys_of(config, lock, config.domains[0])
    assert views[0].created is None and machine.age_days(views[0], NOW) is None
    # an unknown age counts from now: due only after `every` (never a crash)
    due = machine.due(config, lock, config.domains[0], NOW)
    assert ("rotate", stamp(NOW + timedelta(days=180))) in due


# -- the lock's rotation fields, as a parser --------------------------------------------------


_moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(stamp)
_entries = st.builds(
    lambda domain, selector, state, since, until, purge, text: LockEntry(
        domain,
        selector,
        "rsa",
        2048,
        "2026-01-01",
        f"sha256:{text}",
        "" if state == REMOVED else text,
        state,
        since if state else None,
        until if state in ("retiring", "revoked") else None,
        purge and state == REMOVED,
    ),
    st.sampled_from(["example.org", "example.net"]),
    st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True),
    st.sampled_from([None, "published", "active", "retiring", "revoked", REMOVED]),
    _moments,
    _moments,
    st.booleans(),
    st.text(min_size=1, max_size=20),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_entries, max_size=6))
def test_lock_round_trips_any_states(entries: list[LockEntry]) -> None:
    lock = {e.key: e for e in entries}
    assert _parse(Path("mailauth.lock"), render_lock(lock)) == lock


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_lock_refuses_any_odd_time_with_a_message(value: str) -> None:
    from mailauth.schema.errors import ConfigError

    text = render_lock(
        {("example.org", "01"): entry("example.org", "01", state="active", since=stamp(NOW))}
    ).decode()
    doc = text.replace(json_quote(stamp(NOW)), json_quote(value))
    try:
        parsed = _parse(Path("mailauth.lock"), doc.encode())
    except ConfigError as exc:
        assert "since must be a UTC time" in str(exc) or "wrong type" in str(exc)
    else:
        assert parsed[("example.org", "01")].since == value == stamp(parse_stamp(value))


def json_quote(value: str) -> str:
    return json.dumps(value)
