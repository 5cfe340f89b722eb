"""Every lint rule: a stable ID, a severity, the RFC it comes from, and how to fix it.

IDs never change meaning and are never reused: mailauth.yaml silences rules by ID, and
tools read them from ``mailauth lint --format json``. docs/rules.md is generated from this
table (``python -m mailauth.compiler.lint.docs``) and a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    rfc: str
    fix: str
    why: str


_RULES = (
    # --- SPF (RFC 7208) ------------------------------------------------------------------
    Rule(
        "SPF001", "error", "More than one SPF record at a name", "RFC 7208 section 4.5",
        "Merge the records into one `v=spf1` record.",
        "A receiver that finds two SPF records at one name stops with permerror and treats "
        "the domain as having no usable SPF. This also applies to third-party records "
        "reached through include or redirect.",
    ),
    Rule(
        "SPF002", "error", "Unknown mechanism or malformed term", "RFC 7208 section 4.6.1",
        "Use one of all, include, a, mx, ptr, ip4, ip6, exists (or the modifiers "
        "redirect= and exp=), written as in the RFC.",
        "A term that is not a known mechanism or a well-formed modifier makes the whole "
        "record a permerror; a typo such as `inlcude:` or `ip4=` disables SPF.",
    ),
    Rule(
        "SPF003", "error", "Invalid ip4/ip6 address or prefix length", "RFC 7208 section 5.6",
        "Write ip4:192.0.2.0/24 or ip6:2001:db8::/32; prefix lengths are 0-32 for IPv4 and "
        "0-128 for IPv6, without leading zeros.",
        "An address that does not parse, an IPv6 address under ip4: (or the reverse) or an "
        "out-of-range prefix length is a syntax error: permerror.",
    ),
    Rule(
        "SPF004", "error", "Malformed macro", "RFC 7208 section 7.1",
        "Write macros as %{letter[digits][r][delimiters]}, with the letters s l o d i p h "
        "(c r t only in the explanation text), or escape a percent sign as %%.",
        "A stray `%`, an unclosed `%{` or an unknown macro letter is a syntax error.",
    ),
    Rule(
        "SPF005", "error", "Macro in ip4/ip6", "RFC 7208 section 5.6",
        "Write the literal address; to match on the sender's address use exists: with a "
        "macro instead.",
        "ip4 and ip6 take literal networks only; a macro there is a syntax error.",
    ),
    Rule(
        "SPF006", "error", "Invalid domain in a term", "RFC 7208 section 7.1",
        "Give a fully qualified domain name (with a dot and a real top-level label), e.g. "
        "include:_spf.example.com.",
        "The domain of include, a, mx, ptr, exists, redirect and exp must end in a valid "
        "top-level label or a macro: `include:localhost` or `include:192.0.2.1` is a "
        "syntax error.",
    ),
    Rule(
        "SPF007", "error", "redirect= or exp= more than once", "RFC 7208 section 6",
        "Keep a single redirect= and a single exp=.",
        "Each of these modifiers may appear at most once; a second one is a permerror.",
    ),
    Rule(
        "SPF008", "warning", "Unknown modifier", "RFC 7208 section 6",
        "Check the spelling (redirect=, exp=) or remove the term.",
        "Receivers ignore modifiers they do not know, so a misspelt `redirct=` silently "
        "changes the policy.",
    ),
    Rule(
        "SPF009", "warning", "Terms after `all` are never evaluated", "RFC 7208 section 5.1",
        "Move `all` to the end of the record.",
        "`all` always matches: evaluation stops there, and whatever follows it is dead.",
    ),
    Rule(
        "SPF010", "warning", "redirect= ignored because the record has `all`",
        "RFC 7208 section 6.1",
        "Remove `all` (set `all: null`) to hand over to the redirect target, or remove "
        "redirect.",
        "redirect= applies only when no mechanism matched; with `all` present one always "
        "does, so the redirect is never followed.",
    ),
    Rule(
        "SPF011", "error", "More than 10 DNS lookups", "RFC 7208 section 4.6.4",
        "Remove includes you do not need, replace a/mx with ip4/ip6, or flatten a "
        "third-party include (`flatten: [...]`, see `mailauth spf refresh`).",
        "include, a, mx, ptr, exists and redirect= each cost one DNS lookup, counted "
        "across every record reached; all, ip4, ip6 and exp= cost none. The 11th lookup "
        "is a permerror even when it is the last term, and receivers then treat the "
        "domain as having no SPF. The message shows the lookup tree.",
    ),
    Rule(
        "SPF012", "error", "More than 2 void lookups", "RFC 7208 section 4.6.4",
        "Remove the terms that point at names without records (the tree marks them).",
        "Lookups that find no record (NXDOMAIN or no answer) are limited to two; the third "
        "is a permerror.",
    ),
    Rule(
        "SPF013", "error", "include/redirect loop", "RFC 7208 section 4.6.4",
        "Break the cycle: a record must not include or redirect to itself, directly or "
        "through others.",
        "A loop never ends by itself; receivers stop it with permerror.",
    ),
    Rule(
        "SPF014", "error", "include/redirect target without an SPF record",
        "RFC 7208 sections 5.2 and 6.1",
        "Publish an SPF record at the target, or point the include/redirect at a name "
        "that has one.",
        "An include or redirect whose target has no SPF record is a permerror (not a "
        "mere non-match).",
    ),
    Rule(
        "SPF015", "error", "mx with more than 10 MX hosts", "RFC 7208 section 4.6.4",
        "Use ip4/ip6 for these hosts, or an a: per host you need.",
        "Receivers look up the addresses of at most 10 MX hosts per mx term and answer "
        "permerror beyond that.",
    ),
    Rule(
        "SPF016", "warning", "ptr is discouraged", "RFC 7208 section 5.5",
        "Replace ptr with ip4/ip6 or a/mx terms.",
        "ptr is slow, unreliable and costs the receiver extra lookups; the RFC says it "
        "SHOULD NOT be used, and some receivers skip it.",
    ),
    Rule(
        "SPF017", "error", "+all authorises every host on the Internet", "RFC 7208 section 5.1",
        "End with ~all (softfail) or -all (fail).",
        "`+all` makes any sender pass SPF for the domain, which is worse than no record.",
    ),
    Rule(
        "SPF018", "warning", "?all gives no protection", "RFC 7208 section 8.2",
        "End with ~all or -all once the record lists every sender.",
        "A neutral result says nothing; receivers treat unlisted senders as if there were "
        "no SPF.",
    ),
    Rule(
        "SPF019", "warning", "No `all` and no redirect=", "RFC 7208 section 4.7",
        "End the record with ~all or -all (or hand over with redirect=).",
        "Without either, a sender that matches nothing gets neutral: the record protects "
        "nothing.",
    ),
    Rule(
        "SPF020", "info", "Record longer than 255 octets", "RFC 7208 section 3.3",
        "Nothing to do: mailauth publishes it as several character-strings, which "
        "receivers join without spaces.",
        "One DNS character-string holds at most 255 octets; longer records are split.",
    ),
    Rule(
        "SPF021", "warning", "Record longer than 450 octets", "RFC 7208 section 3.4",
        "Shorten it: drop terms, or flatten into chained `_spfN` records (`flatten:`).",
        "The RFC advises keeping the answer within a 512-octet UDP message; over 450 "
        "octets of record, receivers may need TCP, which some do not try.",
    ),
    Rule(
        "SPF022", "info", "-all breaks forwarded mail", "RFC 7208 section 8.4; RFC 7960",
        "Keep -all only if DKIM signs all mail (DMARC then passes on DKIM); otherwise "
        "~all is the safer choice.",
        "A forwarder sends the original envelope sender from its own address, which a "
        "strict -all fails; with a DMARC policy and DKIM that matters less.",
    ),
    Rule(
        "SPF023", "warning", "Lookup budget unknown (an include not resolved offline)",
        "RFC 7208 section 4.6.4",
        "Run `mailauth spf refresh` (records the third-party answers in the SPF cache) or "
        "`mailauth lint --resolve`.",
        "Third-party records are not in mailauth.yaml; an include that is neither in the SPF "
        "cache nor resolved may hold any number of lookups, so the record may already be "
        "over the limit of 10. With `--strict` this is an error.",
    ),
    Rule(
        "SPF024", "error", "flatten names something the record does not include",
        "mailauth (flattening)",
        "List in `flatten:` only names that are also in `include:` (or in the raw record).",
        "Flattening replaces an include term; a name that is not included has nothing to "
        "replace, which is almost always a typo.",
    ),
    Rule(
        "SPF025", "error", "Flattened include not in the SPF cache", "mailauth (flattening)",
        "Run `mailauth spf refresh` and commit the cache file it writes.",
        "Plans never ask DNS; a flattened include is read from the committed cache. "
        "Until it is there the include is published unflattened.",
    ),
    Rule(
        "SPF026", "error", "Include cannot be flattened", "RFC 7208 section 5.2",
        "Keep it as an include (remove it from `flatten:`).",
        "Only a tree of pass terms (ip4, ip6, a, mx, include, redirect) is a fixed set of "
        "addresses; exists, ptr, macros, +all or fail/softfail/neutral terms depend on the "
        "message.",
    ),
    Rule(
        "SPF027", "warning", "Flattened include changed upstream", "mailauth (flattening)",
        "Run `mailauth spf refresh`, review the diff, commit, then plan/apply.",
        "Reported by `--resolve`: the provider publishes other addresses than the cache "
        "holds, so the flattened record is out of date.",
    ),
    Rule(
        "SPF028", "warning", "DNS query failed during --resolve", "RFC 7208 section 2.6.6",
        "Check --nameserver and the network, then try again.",
        "A lookup that times out or fails is a temperror for receivers too; the count "
        "skips what could not be resolved.",
    ),
    # --- DKIM (RFC 6376, 8301, 8463) -----------------------------------------------------
    Rule(
        "DKIM001", "warning", "Selector is not a valid DKIM selector", "RFC 6376 section 3.1",
        "Use letters, digits and hyphens only (e.g. 2026a).",
        "Selectors are sub-domain labels of letters, digits and hyphens; an underscore "
        "is refused by some signers and verifiers. A selector under `dkim.selectors` with "
        "one is refused when the file is read; this rule checks hand-written "
        "`_domainkey` records.",
    ),
    Rule(
        "DKIM002", "error", "DKIM record name too long", "RFC 6376 section 3.6.2.1",
        "Use a shorter selector.",
        "`<selector>._domainkey.<domain>` must fit in 253 octets to be a DNS name at all.",
    ),
    Rule(
        "DKIM003", "error", "RSA key shorter than 1024 bits", "RFC 8301 section 3.2",
        "Generate a new RSA key of 2048 bits under a new selector.",
        "Verifiers must not accept signatures of RSA keys under 1024 bits.",
    ),
    Rule(
        "DKIM004", "warning", "RSA key shorter than 2048 bits", "RFC 8301 section 3.2",
        "Rotate to a 2048-bit key (new selector, then retire this one).",
        "Signers SHOULD use at least 2048 bits; 1024-bit keys are factorable by "
        "well-funded attackers.",
    ),
    Rule(
        "DKIM005", "warning", "RSA key longer than 4096 bits", "RFC 8301 section 3.2",
        "Use 2048 (or at most 4096) bits.",
        "Verifiers are required to handle keys of 1024 to 4096 bits only; longer keys "
        "may not verify anywhere, and the record gets very long.",
    ),
    Rule(
        "DKIM006", "error", "Key record allows only SHA-1", "RFC 8301 section 3.1",
        "Remove h= (or set h=sha256).",
        "rsa-sha1 must not be used for signing or verifying; a key limited to sha1 "
        "cannot verify any valid signature.",
    ),
    Rule(
        "DKIM007", "warning", "Ed25519 without an RSA key", "RFC 8463 section 5",
        "Sign with an RSA key too (a second selector): receivers that do not know Ed25519 "
        "ignore its signatures.",
        "Many receivers still verify RSA only; mail signed with Ed25519 alone looks "
        "unsigned to them, and DMARC fails.",
    ),
    Rule(
        "DKIM008", "warning", "Testing flag t=y left on", "RFC 6376 section 3.6.1",
        "Set `testing: false` once signing works.",
        "t=y asks receivers to treat failures as if unsigned; left on, DKIM protects "
        "nothing.",
    ),
    Rule(
        "DKIM009", "warning", "Key in mailauth.lock that no selector uses", "mailauth",
        "Remove the entry from mailauth.lock, or keep the selector with `sign: false` while "
        "the key is being retired.",
        "A lock entry without a selector is a key whose record was dropped; mail still "
        "in transit signed with it fails.",
    ),
    Rule(
        "DKIM010", "warning", "Malformed DKIM key record", "RFC 6376 section 3.6.1",
        "Publish `v=DKIM1; k=rsa; p=<base64 public key>` (k=ed25519 for Ed25519).",
        "A key record whose p= does not decode to a key of its k= type verifies nothing.",
    ),
    Rule(
        "DKIM011", "warning", "DKIM record over 1,024 octets", "RFC 6376 section 3.6.2.2",
        "Use a 2048-bit RSA key (about 410 octets) or an Ed25519 key (about 60 octets).",
        "A key record this long needs DNS over TCP at many receivers and some fail to "
        "fetch it, so signatures fail verification. mailauth refuses TXT values over "
        "4,000 octets outright.",
    ),
    Rule(
        "DKIM012", "warning", "DKIM key older than the rotation period",
        "M3AAWG DKIM Key Rotation Best Common Practices",
        "Run `mailauth keys rotate` (or `keys rotate --due`), then promote and retire the "
        "old key (docs/key-rotation.md).",
        "A key used for years has had years to leak or be factored; rotating regularly "
        "(M3AAWG asks for at least every six months) limits what one key can sign. Only "
        "`mailauth lint` checks this: plan and apply depend on the files alone.",
    ),
    # --- DMARC (RFC 9989, compatible with RFC 7489) -------------------------------------
    Rule(
        "DMARC001", "error", "Invalid DMARC record or tag value",
        "RFC 7489 section 6.3; RFC 9989",
        "Start with v=DMARC1 and use the values the RFC defines (p=none|quarantine|reject, "
        "adkim/aspf=r|s, fo=0|1|d|s...).",
        "A record that does not start with v=DMARC1 is ignored; an invalid value makes "
        "receivers ignore the tag or the whole record.",
    ),
    Rule(
        "DMARC002", "error", "Duplicate tag", "RFC 7489 section 6.4",
        "Keep one of each tag.",
        "Receivers disagree on which copy wins (or discard the record): the policy is "
        "unpredictable.",
    ),
    Rule(
        "DMARC003", "warning", "Tag removed by RFC 9989 (pct, rf, ri)", "RFC 9989",
        "Remove pct (use t=y to test a policy), rf and ri.",
        "DMARCbis dropped these tags; receivers following it ignore them.",
    ),
    Rule(
        "DMARC004", "warning", "fo= without ruf=", "RFC 7489 section 6.3",
        "Add a ruf address, or remove fo.",
        "fo chooses when failure reports are sent; without ruf there is nowhere to send "
        "them.",
    ),
    Rule(
        "DMARC005", "error", "Invalid report URI", "RFC 7489 section 6.2",
        "Write report addresses as mailto:user@domain (optionally !10m for a size limit).",
        "A rua/ruf entry that is not a URI receivers understand gets no reports.",
    ),
    Rule(
        "DMARC006", "warning", "sp on a domain that is not an organisational domain",
        "RFC 7489 sections 6.3 and 6.6.3",
        "Set sp on the organisational domain (the parent), or remove it here (`sp: null`).",
        "Receivers read sp only from the organisational domain's record, for its "
        "sub-domains that have no record of their own; here it has no effect.",
    ),
    Rule(
        "DMARC007", "warning", "psd=y on a domain that is not a public suffix",
        "RFC 9989; RFC 9091",
        "Remove psd (or set psd: n).",
        "psd=y declares the domain a public suffix operator's (like a registry): "
        "receivers then treat each sub-domain as its own organisation.",
    ),
    Rule(
        "DMARC008", "warning", "Report destination outside the domain is not authorised",
        "RFC 7489 section 7.1",
        "Publish `<domain>._report._dmarc.<destination> TXT \"v=DMARC1\"` in the "
        "destination's zone (mailauth does it when it manages that zone), or report to an "
        "address in the domain.",
        "Receivers send reports to another organisation's address only when that "
        "organisation has published the authorisation record.",
    ),
    Rule(
        "DMARC009", "error", "quarantine/reject with nothing that can align",
        "RFC 7489 sections 3.1 and 6.6.2",
        "Sign with a DKIM selector (sign: true, key published), or list the senders in "
        "SPF, before raising p above none.",
        "With no DKIM signature and no SPF sender, every message from the domain fails "
        "DMARC and is quarantined or rejected.",
    ),
    Rule(
        "DMARC010", "warning", "quarantine/reject relying on SPF alone", "RFC 7960",
        "Sign with DKIM: SPF breaks on forwarding and mailing lists, DKIM survives.",
        "Without a DKIM signature, forwarded mail fails DMARC and is quarantined or "
        "rejected.",
    ),
    Rule(
        "DMARC011", "info", "No aggregate report address (rua)", "RFC 7489 section 7.2",
        "Add `rua:` to see who sends as the domain before raising the policy.",
        "Without rua, receivers send no reports and failures go unseen.",
    ),
    Rule(
        "DMARC012", "warning", "Unknown tag", "RFC 7489 section 6.3",
        "Check the spelling against the tags of RFC 9989.",
        "Receivers ignore unknown tags, so a misspelt tag silently has no effect.",
    ),
    Rule(
        "DMARC013", "error", "More than one DMARC record at a name", "RFC 7489 section 6.6.3",
        "Keep one `v=DMARC1` record: remove the hand-written one (mailauth writes the "
        "domain's record from `dmarc:`).",
        "A receiver that finds several DMARC records at one name applies none of them.",
    ),
    Rule(
        "DMARC014", "warning", "Raw DMARC record not readable as tags", "RFC 7489 section 6.4",
        "Write `dmarc.raw` as `v=DMARC1; tag=value; ...`, or replace it by the tags.",
        "Lint cannot read the policy of a raw record that is not tag=value pairs, so its "
        "DMARC and BIMI checks are skipped; receivers may not read it either.",
    ),
    # --- Cross-checks ---------------------------------------------------------------------
    Rule(
        "XREF001", "warning", "Signing selector without a published key", "RFC 6376 section 6.1.2",
        "Run `mailauth apply` on the mail host (it creates the key and the lock entry), "
        "or set `sign: false` until the record is published.",
        "A signature whose key record is missing fails verification at every receiver.",
    ),
    Rule(
        "XREF002", "info", "DKIM record for a selector mailauth does not sign with",
        "RFC 6376 section 3.6.2",
        "Nothing to do if another service signs with it; otherwise remove the record.",
        "A hand-written `_domainkey` record is fine for a third-party signer; a forgotten "
        "one is an old key that can still be used.",
    ),
    Rule(
        "XREF003", "error", "MX host in a managed zone has no address", "RFC 5321 section 5.1",
        "Add the host to `mail_hosts:` (with its addresses) or add its A/AAAA record.",
        "Mail to the domain cannot be delivered, and SPF's mx mechanism finds nothing.",
    ),
    Rule(
        "XREF004", "error", "MX host is a CNAME", "RFC 2181 section 10.3",
        "Point MX at the canonical name (the CNAME's target).",
        "MX must name a host with address records, not an alias.",
    ),
    Rule(
        "XREF005", "warning", "DKIM selectors but none signs", "RFC 6376 section 3.1",
        "Set `sign: true` on the selector in use.",
        "Every selector of the domain is publish-only, so no mail is signed.",
    ),
    Rule(
        "XREF006", "warning", "Trusted host range wider than /16 (IPv4) or /48 (IPv6)",
        "opendkim.conf(5) InternalHosts",
        "List the addresses of your own mail clients and servers, not whole networks "
        "(never 0.0.0.0/0 or ::/0).",
        "Mail from a trusted host (trusted_hosts, internal_hosts) is signed with your key "
        "rather than verified; a range this wide lets strangers send mail signed as yours.",
    ),
    # --- TLS reporting (RFC 8460) -------------------------------------------------------
    Rule(
        "TLS001", "info", "TLS reports go to another organisation", "RFC 8460 section 3",
        "Nothing to do if a reporting service of your choice collects them; otherwise point "
        "`tls_rpt.rua` at an address or URL of the domain's own organisation.",
        "Unlike DMARC (RFC 7489 section 7.1), TLS-RPT has no record by which the destination "
        "agrees to receive reports: senders deliver them to any rua. Nothing fails, but every "
        "report names the domain's MX hosts, their certificates, policies and failure counts, "
        "and goes to a third party; listed so a reviewer sees where.",
    ),
    # --- BIMI ------------------------------------------------------------------------------
    Rule(
        "BIMI001", "error", "BIMI with a DMARC policy that does not enforce",
        "BIMI draft section 4.2 (DMARC policy requirements)",
        "Set `dmarc.p` to quarantine or reject before publishing a BIMI record.",
        "Receivers show a brand logo only for mail from a domain whose DMARC policy is "
        "quarantine or reject; with p=none the BIMI record can never have any effect.",
    ),
    Rule(
        "BIMI002", "warning", "BIMI with a DMARC policy applied to less than 100%",
        "BIMI draft section 4.2 (DMARC policy requirements)",
        "Remove `dmarc.pct` (or set it to 100) once the ramp-up is done.",
        "A partial policy (pct below 100) does not qualify for BIMI at receivers that still "
        "read pct; a stage of a DMARC ramp-up, so a warning, not an error.",
    ),
    Rule(
        "BIMI003", "warning", "BIMI with a subdomain policy of none",
        "BIMI draft section 4.2 (DMARC policy requirements)",
        "Set `dmarc.sp` to quarantine or reject, or leave it out so that `p` applies.",
        "sp=none leaves the domain's subdomains unprotected, which BIMI does not accept; "
        "subdomains are often enforced last, so a warning, not an error.",
    ),
    Rule(
        "BIMI004", "error", "Logo is not SVG Tiny Portable/Secure", "BIMI SVG Tiny PS profile",
        'Export the logo as SVG Tiny PS: `<svg version="1.2" baseProfile="tiny-ps">` with a '
        "`<title>`, no scripts, no `<image>` or `<foreignObject>`, no external references.",
        "Receivers refuse a logo outside the SVG Tiny PS profile (scripts, external "
        "references and embedded images could track or attack the reader) and show none.",
    ),
    Rule(
        "BIMI005", "error", "Logo file cannot be read as XML", "BIMI SVG Tiny PS profile",
        "Give `logo_file` a readable SVG file beside mailauth.yaml, without entity "
        "declarations.",
        "The file is missing, unreadable, not well-formed XML, or declares entities (which "
        "mailauth refuses to expand: a small file could otherwise take all memory).",
    ),
    # --- MTA-STS (RFC 8461) ----------------------------------------------------------------
    Rule(
        "STS001", "error", "MX host not covered by the MTA-STS policy", "RFC 8461 section 4.1",
        "Add the MX host (or a `*.` pattern covering it) to `mta_sts.mx`, or leave `mx` out "
        "to use the domain's MX hosts.",
        "A sender that knows the policy refuses to deliver to an MX host the policy does not "
        "list (in enforce mode; in testing mode it reports a failure for every delivery).",
    ),
    Rule(
        "STS002", "warning", "MTA-STS enforce without a testing period first",
        "RFC 8461 section 5",
        "Publish `mode: testing` first, with TLS-RPT reports, and switch to `enforce` once "
        "the reports show no failures.",
        "The policy applied now (the policy file under --root) is not a `testing` one: an "
        "enforce policy that turns out wrong (a certificate that does not match an MX "
        "host) makes senders hold mail back, with no report of it beforehand.",
    ),
    Rule(
        "STS003", "warning", "MTA-STS max_age lowered", "RFC 8461 section 3.2",
        "Keep max_age at least at the applied value, unless you are withdrawing the policy "
        "(then publish `mode: none` with a short max_age, RFC 8461 section 8.3).",
        "A shorter max_age lets senders forget the policy sooner, and a downgrade attacker "
        "who hides it in the meantime wins the time in between (RFC 8461 section 10.2).",
    ),
    Rule(
        "STS004", "info", "MTA-STS policy file not written by mailauth", "RFC 8461 section 3.3",
        "Add `targets.mta_sts` to write the policy file, or serve exactly the same bytes at "
        "https://mta-sts.<domain>/.well-known/mta-sts.txt.",
        "mailauth publishes `_mta-sts.<domain>` with an id derived from the policy file it "
        "would write; a file served from elsewhere can differ from what the id stands for.",
    ),
    Rule(
        "STS005", "info", "MTA-STS mx pattern matches no MX host", "RFC 8461 section 4.1",
        "Remove the pattern if the host is gone.",
        "A pattern that matches no MX host of the domain lets senders accept a host you no "
        "longer run, should the MX records ever point there.",
    ),
    Rule(
        "STS006", "warning", "MTA-STS policy withdrawn without a `none` policy first",
        "RFC 8461 section 8.3",
        "Publish `mode: none` (a short max_age is fine) and keep it until the old max_age "
        "has passed since the change; then remove `mta_sts`.",
        "Senders keep a policy they fetched until its max_age runs out. Removing the "
        "record and the file leaves them enforcing the old policy, with nothing to tell "
        "them it is gone; a `none` policy with a new id tells them.",
    ),
    # --- DANE for SMTP (RFC 7672) ---------------------------------------------------------
    Rule(
        "DANE001", "warning", "TLSA records in a zone without DNSSEC", "RFC 7672 section 2.2",
        "Sign the zone where it is served and set `dnssec: true` on it under `zones:`, or "
        "remove `dane:` from the mail host.",
        "Senders use TLSA records only when DNSSEC validates them; in an unsigned zone they "
        "are ignored, and the mail host gets no DANE protection.",
    ),
    Rule(
        "DANE002", "error", "TLSA records do not match the certificate the MTA serves",
        "RFC 7672 section 3.1.1",
        "Point `dane.certificate` at the file `smtpd_tls_cert_file` names (or add the new "
        "one as `dane.next` and wait one TTL before switching Postfix to it).",
        "A sender that checks DANE compares the server's key with the TLSA records and "
        "refuses to deliver when none matches: mail to the domain stops.",
    ),
    # --- The linter's own bookkeeping ----------------------------------------------------
    Rule(
        "LINT001", "error", "Silence names an unknown rule", "mailauth",
        "Use an ID from docs/rules.md.",
        "A silence for a rule that does not exist silences nothing, which is usually a typo.",
    ),
    Rule(
        "LINT002", "warning", "Silence no longer needed", "mailauth",
        "Remove the silence: the rule does not fire for this domain any more.",
        "Stale silences hide the next real problem.",
    ),
)  # fmt: skip

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
assert len(RULES) == len(_RULES), "duplicate rule ID"
