"""An octodns source that reads mailauth.yaml: a second front door onto the compiler.

Add it to an existing octodns config beside the sources that already hold a zone's other
records; octodns then publishes SPF, DKIM and DMARC with everything else::

    providers:
      config:                       # the records you already have
        class: octodns.provider.yaml.YamlProvider
        directory: ./config
        escaped_semicolons: true
      mailauth:
        class: mailauth.compiler.octodns_source.MailauthSource
        config: ./mailauth.yaml     # mailauth.lock beside it supplies the DKIM keys
    zones:
      example.org.:
        sources: [config, mailauth] # mailauth last: it may add to a TXT set (see below)
        targets: [dns]

The model is loaded and built through :mod:`mailauth.compiler.driver` once per source and
reused for every zone. No signer takes part, so no key is ever generated or read for
signing: the public keys come from mailauth.lock (or ``public_key:`` in the file), and a
machine that syncs DNS needs no private key.

Records are converted exactly as the octodns target's zone files hold them (see
:mod:`mailauth.backends.octodns`): the SOA and, unless ``root_ns: true``, the apex NS are
left to the provider.

A TXT set is often shared: a site verification token sits at the apex beside SPF. When an
earlier source already put a TXT record at a name where mailauth publishes one, the values
are merged into one record (under the lower TTL) instead of failing as a duplicate; a
second SPF record there is refused. Any other record both define is a duplicate, reported
by octodns as such.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from octodns.record import Record as OctodnsRecord  # type: ignore[import-untyped,import-not-found,unused-ignore]  # octodns: no type hints, optional
from octodns.source.base import BaseSource  # type: ignore[import-untyped,import-not-found,unused-ignore]  # octodns: no type hints

from mailauth.backends.octodns import zone_data
from mailauth.compiler.driver import checked_model, open_job
from mailauth.compiler.model import MailModel
from mailauth.schema.errors import MailauthError
from mailauth.schema.rrtypes import OCTODNS_TYPES


class MailauthSourceError(Exception):
    """mailauth.yaml cannot be turned into records (the message says where and why)."""


def _is_spf(value: str) -> bool:
    return value.lower().startswith("v=spf1")


class MailauthSource(BaseSource):  # type: ignore[misc]  # BaseSource is untyped (Any)
    """The records mailauth owns, for octodns.

    ``config``: path of mailauth.yaml (relative to where octodns runs). ``root``: the
    output root mailauth would use (its key store is looked at there, as by ``mailauth
    plan``); default as for the CLI. ``root_ns``: also publish the apex NS of zone mode
    zones. ``require_keys``: refuse to sync while a DKIM selector has no public key (in
    neither mailauth.lock nor the file), rather than leave its record out, which would
    make octodns delete a record that may be live.
    """

    SUPPORTS_GEO = False
    SUPPORTS_DYNAMIC = False
    SUPPORTS: ClassVar[set[str]] = set(OCTODNS_TYPES)

    def __init__(
        self,
        id: str,
        config: str,
        root: str | None = None,
        root_ns: bool = False,
        require_keys: bool = True,
    ) -> None:
        self.log = logging.getLogger(f"{self.__class__.__name__}[{id}]")
        self.log.debug(
            "__init__: id=%s, config=%s, root=%s, root_ns=%s, require_keys=%s",
            id,
            config,
            root,
            root_ns,
            require_keys,
        )
        super().__init__(id)
        self.config = Path(config)
        self.root = Path(root) if root is not None else None
        self.root_ns = bool(root_ns)
        self.SUPPORTS_ROOT_NS = self.root_ns
        self.require_keys = bool(require_keys)
        self._model: MailModel | None = None
        self._building = threading.Lock()  # octodns may populate zones in threads

    # -- the model, built once -------------------------------------------------------

    def model(self) -> MailModel:
        """mailauth.yaml loaded and built (first call only), with no signer in play."""
        with self._building:
            if self._model is None:
                self._model = self._build()
            return self._model

    def _build(self) -> MailModel:
        try:
            job = open_job(self.config, self.root, None)
            # A source publishes DNS and signs nothing: with the octodns target alone in
            # play, the key phase takes public keys from the lock and never wants (or
            # makes) a private key, whatever signer the file configures for the mail host.
            model, warnings = checked_model(replace(job, targets=("octodns",)))
        except MailauthError as exc:  # octodns shows its own errors: say it in one
            raise MailauthSourceError(f"{self.id}:\n{exc}") from None
        except OSError as exc:
            raise MailauthSourceError(f"{self.id}: {self.config}: {exc}") from None
        for note in model.notes:
            self.log.info("%s", note)
        for warning in warnings:
            self.log.warning("%s", warning)
        missing = [k.record_name for d in model.domains for k in d.keys if not k.public_key]
        if missing and self.require_keys:
            raise MailauthSourceError(
                f"{self.id}: no public key for {', '.join(missing)}: run `mailauth apply` on "
                "the mail host and commit mailauth.lock (or set require_keys: false to "
                "publish without these DKIM records)"
            )
        return model

    # -- octodns's source interface ----------------------------------------------------

    def list_zones(self) -> list[str]:
        return sorted(f"{zone.name}." for zone in self.model().zones)

    def populate(self, zone: Any, target: bool = False, lenient: bool = False) -> bool:
        self.log.debug(
            "populate: name=%s, target=%s, lenient=%s", zone.decoded_name, target, lenient
        )
        name = zone.name.rstrip(".").lower()
        built = next((z for z in self.model().zones if z.name == name), None)
        if built is None:
            self.log.info("populate: mailauth has no records for %s", zone.decoded_name)
            return False
        before = len(zone.records)
        for owner, items in zone_data(built, root_ns=self.root_ns).items():
            for data in items:
                record = OctodnsRecord.new(zone, owner, dict(data), source=self, lenient=lenient)
                existing = self._existing(zone, owner, record._type)
                if existing is not None and record._type == "TXT":
                    record = self._merged_txt(zone, existing, record, lenient)
                    zone.add_record(record, replace=True, lenient=lenient)
                else:
                    zone.add_record(record, lenient=lenient)
        self.log.info("populate:   found %s records", len(zone.records) - before)
        return True

    # -- sharing a TXT set with another source ---------------------------------------

    @staticmethod
    def _existing(zone: Any, name: str, rtype: str) -> Any:
        for record in zone.records:
            if record.name == name and record._type == rtype:
                return record
        return None

    def _merged_txt(self, zone: Any, existing: Any, mine: Any, lenient: bool) -> Any:
        other = getattr(existing.source, "id", existing.source)
        ours = [str(v) for v in mine.values]
        theirs = [str(v) for v in existing.values]
        if any(_is_spf(v) for v in ours) and any(_is_spf(v) for v in theirs):
            raise MailauthSourceError(
                f"{self.id}: {mine.fqdn} has an SPF record from {other} as well as "
                "mailauth's; a second SPF record makes receivers fail both: remove it there"
            )
        ttl = min(int(existing.ttl), int(mine.ttl))
        if existing.ttl != mine.ttl:
            self.log.info("populate: %s TXT merged with %s's, TTL %d", mine.fqdn, other, ttl)
        values = sorted(set(theirs) | set(ours))
        data = {"type": "TXT", "ttl": ttl, "values": values}
        return OctodnsRecord.new(zone, mine.name, data, source=self, lenient=lenient)
