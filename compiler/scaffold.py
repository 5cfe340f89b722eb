"""The starter file that ``mailauth init`` writes: every section, commented.

The paths are left to ``platform:`` (backends/platforms.py), so the file says where its
files go in comments filled in from the platform's column, and changing ``platform:``
later moves them all.
"""

from __future__ import annotations

from string import Template

from mailauth.backends import platforms

_STARTER = Template("""\
# mailauth.yaml: the one file that says how your domains authenticate their mail.
# Check it with `mailauth validate`, review changes with `mailauth plan`,
# write them with `mailauth apply`.
version: 1

# The mail host's distribution (${choices}): it sets where every file below goes.
# A path written under targets: or keys: wins over the platform's.
platform: ${platform}

# Values every domain starts from; a domain overrides them field by field.
defaults:
  ttl: 3600
  spf:
    mx: true            # the hosts in the domain's MX records may send
    all: "~all"         # softfail the rest; -all breaks forwarded mail
  dmarc:
    p: none             # start with none, read the reports, then quarantine/reject
    rua: [dmarc-reports@example.org]
  dkim:
    selectors:
      - name: "mail"
        algorithm: rsa
        bits: 2048

# The machines that send the mail: their A/AAAA records go into the zones below.
mail_hosts:
  - name: mail.example.org
    ipv4: [192.0.2.25]

# Zones mailauth writes. mode: zone owns the whole file; mode: include writes a
# fragment to $$INCLUDE from a zone file you keep by hand.
zones:
  - name: example.org
    mode: zone
    ns: [ns1.example.org, ns2.example.net]
    soa:
      rname: hostmaster@example.org
    records:
      - {name: ns1, type: A, value: 192.0.2.53}
      - {name: www, type: CNAME, value: example.org.}

domains:
  - name: example.org

targets:
  # Zone files in ${bind_directory} (${bind_zone_file}); their zone statements in
  # ${bind_named_conf}: include that file from named.conf.
  bind: {}
  opendkim:                 # signs outgoing mail with keys apply creates
    socket: "inet:8891@127.0.0.1"
  postfix:
    mode: edit              # or snippet, if main.cf is kept by other tooling
    main_cf: /etc/postfix/main.cf

# Private keys go below ${keys_directory}, 0600, owned by the signer's user.
keys:
  owner: opendkim
  group: opendkim
""")


def starter(platform: str = platforms.DEFAULT) -> str:
    """The starter mailauth.yaml for ``platform`` (one of platforms.PLATFORMS)."""
    paths = {
        f"{section}_{field}": value or "(none)"
        for section, fields in platforms.column(platform).items()
        for field, value in fields.items()
    }
    return _STARTER.substitute(paths, platform=platform, choices=" or ".join(platforms.PLATFORMS))


STARTER = starter()
