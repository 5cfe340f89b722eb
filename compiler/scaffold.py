"""The starter file that ``mailauth init`` writes: every section, commented."""

STARTER = """\
# mailauth.yaml: the one file that says how your domains authenticate their mail.
# Check it with `mailauth validate`, review changes with `mailauth plan`,
# write them with `mailauth apply`.
version: 1

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
# fragment to $INCLUDE from a zone file you keep by hand.
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
  bind:
    directory: /var/named
  opendkim:                 # signs outgoing mail; apply creates the keys
    socket: "inet:8891@127.0.0.1"
  postfix:
    mode: edit              # or snippet, if main.cf is kept by other tooling
    main_cf: /etc/postfix/main.cf

keys:
  directory: /etc/opendkim/keys
  owner: opendkim
  group: opendkim
"""
