"""The backends' registry is the one list of targets (issue 13, "a target is one module").

The ``targets:`` schema is derived from it, the pipeline asks the backends what they need
instead of naming them, every record purpose is placed by every zone renderer, and a new
target is its module plus one registry line: shown here with a small dummy target.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import pytest
from pydantic import BaseModel, ValidationError

from mailauth.backends import REGISTRY, Artifact
from mailauth.backends.base import Backend, BuildContext, Directory
from mailauth.backends.bind import SECTIONS, UnplacedRecord, render_fragment, render_zone
from mailauth.backends.octodns import render_zone_file
from mailauth.compiler.model import (
    RECORD_PURPOSES,
    MailModel,
    Record,
    SoaModel,
    ZoneModel,
)
from mailauth.compiler.plan import compute_plan, distribution_files, selected_targets
from mailauth.schema.errors import Problem
from mailauth.schema.models import Config, TargetsBase, targets_model
from mailauth.schema.targets import AbsPath, TargetSettings

REPO = Path(__file__).resolve().parent.parent


def test_targets_schema_is_the_registry() -> None:
    """One key per backend, in registry order, each holding that backend's settings."""
    schema = Config.model_json_schema()
    properties = schema["$defs"]["Targets"]["properties"]
    assert list(properties) == list(REGISTRY)
    for name, backend in REGISTRY.items():
        ref = properties[name]["anyOf"][0]["$ref"]
        assert ref == f"#/$defs/{backend.settings.__name__}", name


def test_schema_file_is_what_mailauth_schema_prints() -> None:
    """The committed schema is byte for byte the derived one (regenerate with
    `mailauth schema > schema/mailauth.schema.json`)."""
    printed = json.dumps(Config.model_json_schema(), indent=2) + "\n"
    assert (REPO / "schema" / "mailauth.schema.json").read_text(encoding="utf-8") == printed


def test_the_default_targets_are_the_backends_on_by_default() -> None:
    config = Config.model_validate({"domains": [{"name": "example.org"}]})
    on = [name for name, _, _ in config.targets.configured()]
    assert on == [name for name, backend in REGISTRY.items() if backend.default_on]


def test_what_the_pipeline_asks_comes_from_the_backends() -> None:
    signers = {n for n, b in REGISTRY.items() if b.needs_private_keys}
    dns = {n for n, b in REGISTRY.items() if b.needs_public_keys}
    assert signers and dns and not signers & dns
    roles = [b.milter_role for b in REGISTRY.values() if b.milter_role is not None]
    assert len({role.order for role in roles}) == len(set(roles))  # a strict chain order
    for name, backend in REGISTRY.items():
        assert distribution_files(name) == backend.distribution_files
    assert distribution_files("keys") == frozenset()


# Source outside backends/ that may still name a target, and why.
_NAMES_ALLOWED = {
    "compiler/octodns_source.py": "it is the octodns source plugin: octodns is its subject",
    "compiler/mta_sts.py": "the `mta_sts:` key of a domain and of defaults, which it places "
    "findings at, has the name of the target that writes the policy file",
}
# `mailauth import` reads each daemon's own files back into that target's settings: the
# inverse of one backend's render. Until each backend carries its reader, these are listed.
for _reader in ("mail_dkimpy", "mail_opendkim", "mail_opendmarc", "mail_postfix", "mail_side"):
    _NAMES_ALLOWED[f"compiler/importer/{_reader}.py"] = "reads that target's files back (import)"
_NAMES_ALLOWED["compiler/importer/signer_tables.py"] = "reads the two signers' tables (import)"
_NAMES_ALLOWED["compiler/importer/dns_side.py"] = "zone files it read become the bind target's"


def test_no_module_outside_the_backends_names_a_target() -> None:
    names = "|".join(re.escape(n) for n in REGISTRY)
    attribute = re.compile(rf"targets\.({names})\b")
    literal = re.compile(rf"""["']({names})["']""")
    found: list[str] = []
    for folder in ("compiler", "schema"):
        for path in sorted((REPO / folder).rglob("*.py")):
            relative = str(path.relative_to(REPO))
            if relative in _NAMES_ALLOWED:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if "``" in code:  # a docstring's example
                    continue
                # Messages may tell the user where to look ("targets.postfix.chroot"): only
                # code that reads a target's settings or names it as a key is found here.
                if '"' in code and attribute.search(code) and not literal.search(code):
                    continue
                if attribute.search(code) or literal.search(code):
                    found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


# -- record purposes: every one placed by every zone renderer ---------------------------------


def _zone_of_every_purpose(mode: str = "zone") -> ZoneModel:
    records = tuple(
        Record(
            name=f"p-{purpose}", type="TXT", value=f"purpose {purpose}", ttl=300, purpose=purpose
        )
        for purpose in RECORD_PURPOSES
    )
    soa = SoaModel("ns1.example.org.", "hostmaster.example.org.", 1, 1, 1, 1)
    return ZoneModel(
        name="example.org",
        mode="zone" if mode == "zone" else "include",
        ttl=300,
        soa=soa if mode == "zone" else None,
        records=records,
    )


def test_bind_has_a_section_for_every_purpose() -> None:
    assert set(SECTIONS) == set(RECORD_PURPOSES)


@pytest.mark.parametrize(
    "render",
    [
        lambda z: render_zone(_zone_of_every_purpose()),
        lambda z: render_fragment(_zone_of_every_purpose("include")),
        lambda z: render_zone_file(_zone_of_every_purpose()),
    ],
    ids=["bind-zone", "bind-fragment", "octodns"],
)
def test_every_dns_renderer_writes_every_purpose(render: Any) -> None:
    text = render(None)
    for purpose in RECORD_PURPOSES:
        assert f"purpose {purpose}" in text, purpose


def test_a_record_of_an_unknown_purpose_stops_the_render() -> None:
    """The issue's case: a purpose bind did not know vanished from the zone."""
    zone = _zone_of_every_purpose()
    purpose: Any = "mta_sts"  # not a RecordPurpose: what a new record family could forget
    stray = Record("_mta-sts", "TXT", "v=STSv1; id=1", 300, purpose)
    zone = ZoneModel(zone.name, zone.mode, zone.ttl, zone.soa, (*zone.records, stray))
    with pytest.raises(UnplacedRecord, match="mta_sts"):
        render_zone(zone)


# -- a new target: its module and one registry line -------------------------------------------


class DummySettings(TargetSettings):
    """A target that writes one file."""

    path: AbsPath = "/etc/dummy/dummy.conf"
    size: int = 1


class DummyBackend(Backend[DummySettings]):
    """All a target needs to say: its name, its settings, what it renders."""

    name: ClassVar[str] = "dummy"
    settings: ClassVar[type[BaseModel]] = DummySettings

    def check(self, target: DummySettings, ctx: BuildContext) -> Iterable[Problem]:
        if target.size > 9:
            yield ctx.problem(("targets", self.name, "size"), "too big")

    def directories(self, model: MailModel, target: DummySettings) -> Sequence[Directory]:
        return [Directory("/var/lib/dummy", None, None, 0o755, "dummy's state")]

    def render(self, model: MailModel, target: DummySettings) -> Sequence[Artifact]:
        return [Artifact(path=target.path, content=f"size {target.size}\n".encode())]


def test_a_new_target_needs_no_edit_elsewhere(tmp_path: Path) -> None:
    with mock.patch.dict(REGISTRY, {"dummy": DummyBackend()}):
        targets = targets_model(REGISTRY)
        schema = targets.model_json_schema()
        assert list(schema["properties"]) == [*[n for n in REGISTRY if n != "dummy"], "dummy"]
        assert schema["$defs"]["DummySettings"]["properties"]["path"]["default"] == (
            "/etc/dummy/dummy.conf"
        )
        with pytest.raises(ValidationError, match="sizee"):
            targets.model_validate({"dummy": {"sizee": 2}})
        chosen = targets.model_validate({"dummy": {"size": 3}})
        assert isinstance(chosen, TargetsBase)
        config = Config.model_validate({"domains": [{"name": "example.org"}]}).model_copy(
            update={"targets": chosen}
        )
        assert selected_targets(config, None) == ["dummy"]
        model = MailModel(zones=(), domains=())
        plan = compute_plan(model, config, tmp_path, ["dummy"], date(2026, 1, 18))
        created = {c.path: c.new for c in plan.changes if c.op == "create"}
        assert created["/etc/dummy/dummy.conf"] == b"size 3\n"
        assert [d.path for d in plan.directories] == ["/var/lib/dummy"]
