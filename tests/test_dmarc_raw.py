"""``dmarc.raw``: a literal DMARC record, published byte for byte by every zone writer.

It is what ``mailauth import`` keeps when mailauth would write an existing record another
way (``v=DMARC1;p=none`` without the space, tags in another order, unknown tags), so that
the first plan changes no record. Checked here: the BIND zone and the octodns zone file
carry exactly the raw text, a domain's raw wins over defaults (and a domain's tags over a
raw default), and any record compiler.records builds renders the same bytes as raw.
"""

from __future__ import annotations

from pathlib import Path

import dns.rdatatype
import dns.zone
import yaml
from hypothesis import given
from hypothesis import strategies as st

from mailauth.backends.bind import render_zone
from mailauth.backends.octodns import render_zone_file
from mailauth.compiler import driver
from mailauth.compiler.build import _merge
from mailauth.compiler.model import MailModel
from mailauth.compiler.records import dmarc_text
from mailauth.schema.models import Dmarc

# Everything mailauth would write differently: no space, own order, unknown tag, !10m.
RAW = "v=DMARC1;p=reject ;sp=none;fo=1;rua=mailto:d@example.org!10m,mailto:x@example.net;zz=1"

CONFIG = f"""\
version: 1
mail_hosts:
  - {{name: mail.example.org, ipv4: [192.0.2.25]}}
zones:
  - name: example.org
    ns: [ns1.example.org]
    records:
      - {{name: ns1, type: A, value: 192.0.2.53}}
defaults:
  dmarc: {{p: quarantine}}
domains:
  - name: example.org
    dmarc:
      raw: "{RAW}"
"""


def _model(tmp_path: Path, text: str = CONFIG) -> MailModel:
    config = tmp_path / "mailauth.yaml"
    config.write_text(text)
    return driver.model_for(driver.open_job(config, tmp_path / "out", None))


def test_raw_dmarc_is_written_verbatim_in_the_bind_zone(tmp_path: Path) -> None:
    zone = _model(tmp_path).zone("example.org")
    parsed = dns.zone.from_text(render_zone(zone, serial="1"), origin="example.org.")
    rdataset = parsed.find_rdataset("_dmarc", dns.rdatatype.TXT)
    assert [b"".join(rd.strings) for rd in rdataset] == [RAW.encode()]


def test_raw_dmarc_is_written_verbatim_in_the_octodns_zone(tmp_path: Path) -> None:
    zone = _model(tmp_path).zone("example.org")
    record = yaml.safe_load(render_zone_file(zone))["_dmarc"]
    assert record["type"] == "TXT"
    # octodns writes `;` as `\;` in its zone files (and reads it back as `;`)
    assert record["value"] == RAW.replace(";", "\\;")


def test_a_domain_raw_wins_over_defaults_and_domain_tags_over_a_raw_default() -> None:
    assert _merge(Dmarc(p="reject"), Dmarc(raw=RAW)).raw == RAW
    merged = _merge(Dmarc(raw=RAW), Dmarc(p="reject"))
    assert merged.raw is None and dmarc_text(merged) == "v=DMARC1; p=reject"
    assert dmarc_text(_merge(Dmarc(raw=RAW), None)) == RAW


_policy = st.sampled_from(["none", "quarantine", "reject"])
_addresses = st.lists(
    st.from_regex(r"mailto:[a-z]{1,8}@[a-z]{1,8}\.(org|net)(![0-9]{1,3}[kmgt]?)?", fullmatch=True),
    max_size=3,
)
_dmarcs = st.builds(
    Dmarc,
    p=_policy,
    sp=st.none() | _policy,
    np=st.none() | _policy,
    adkim=st.sampled_from([None, "r", "s"]),
    aspf=st.sampled_from([None, "r", "s"]),
    rua=_addresses,
    ruf=_addresses,
    fo=st.sampled_from([None, "0", "1", "d:s", "0:1:d:s"]),
    t=st.sampled_from([None, True, False]),
    psd=st.sampled_from([None, "y", "n", "u"]),
    pct=st.none() | st.integers(0, 100),
)


@given(_dmarcs)
def test_any_built_record_renders_the_same_bytes_as_raw(dmarc: Dmarc) -> None:
    text = dmarc_text(dmarc)
    assert dmarc_text(Dmarc(raw=text)) == text
    assert dmarc_text(Dmarc.model_validate({"raw": text})).encode() == text.encode()
