"""The options opendkim.conf(5) documents (OpenDKIM 2.11, Debian 12's opendkim package).

``targets.opendkim.extra_options`` takes names from this list only: OpenDKIM refuses to
start on a name it does not know ("configuration error at line N: unrecognized
parameter"), so a misspelt option is an error in mailauth.yaml, where it was written.
A few documented options are refused there too (``REFUSED``): they make OpenDKIM run a
program or read a file that mailauth neither writes nor checks, which a reviewed
mailauth.yaml should not be able to ask for.
"""

from __future__ import annotations

from collections.abc import Mapping

KNOWN: tuple[str, ...] = (
    "AllowSHA1Only", "AlwaysAddARHeader", "AuthservID", "AuthservIDWithJobID",
    "AutoRestart", "AutoRestartCount", "AutoRestartRate", "Background", "BaseDirectory",
    "BodyLengthDB", "BogusKey", "CaptureUnknownErrors", "Canonicalization",
    "ChangeRootDirectory", "ClockDrift", "Diagnostics", "DiagnosticDirectory",
    "DisableCryptoInit", "DNSConnect", "DNSTimeout", "Domain", "DomainKeysCompat",
    "DontSignMailTo", "EnableCoredumps", "ExemptDomains", "ExternalIgnoreList",
    "FinalPolicyScript", "FixCRLF", "IdentityHeader", "IdentityHeaderRemove",
    "IgnoreMalformedMail", "Include", "InternalHosts", "KeepAuthResults",
    "KeepTemporaryFiles", "KeyFile", "KeyTable", "LDAPAuthMechanism", "LDAPAuthName",
    "LDAPAuthRealm", "LDAPAuthUser", "LDAPBindPassword", "LDAPBindUser", "LDAPDisableCache",
    "LDAPKeepaliveIdle", "LDAPKeepaliveInterval", "LDAPKeepaliveProbes", "LDAPTimeout",
    "LDAPUseTLS", "LogResults", "LogWhy", "MacroList", "MaximumHeaders",
    "MaximumSignaturesToVerify", "MaximumSignedBytes", "MilterDebug", "Minimum",
    "MinimumKeyBits", "Mode", "MTA", "MTACommand", "MultipleSignatures", "MustBeSigned",
    "Nameservers", "NoHeaderB", "OmitHeaders", "On-BadSignature", "On-Default",
    "On-DNSError", "On-InternalError", "On-KeyNotFound", "On-NoSignature", "On-Security",
    "On-SignatureError", "OversignHeaders", "PeerList", "PidFile", "POPDBFile",
    "Quarantine", "QueryCache", "RedirectFailuresTo", "RemoveARAll", "RemoveARFrom",
    "RemoveOldSignatures", "ReplaceHeaders", "ReplaceRules", "ReportAddress",
    "ReportBccAddress", "RequestReports", "RequiredHeaders", "RequireSafeKeys", "ResignAll",
    "ResignMailTo", "ResolverConfiguration", "ResolverTracing", "ScreenPolicyScript",
    "SelectCanonicalizationHeader", "Selector", "SenderHeaders", "SenderMacro",
    "SendReports", "SetupPolicyScript", "SignatureAlgorithm", "SignatureTTL", "SignHeaders",
    "SigningTable", "SMTPURI", "Socket", "SoftStart", "SoftwareHeader", "Statistics",
    "StatisticsName", "StatisticsPolicyScript", "StatisticsPrefix", "StrictHeaders",
    "StrictTestMode", "SubDomains", "Syslog", "SyslogFacility", "SyslogName",
    "SyslogSuccess", "TemporaryDirectory", "TestDNSData", "TestPublicKeys",
    "TrustAnchorFile", "TrustSignaturesFrom", "UMask", "UnprotectedKey", "UserID",
    "VBR-Certifiers", "VBR-PurgeFields", "VBR-TrustedCertifiers",
    "VBR-TrustedCertifiersOnly", "VBR-Type", "WeakSyntaxChecks",
)  # fmt: skip

#: OpenDKIM reads option names without regard to case: the spelling above, by its folding.
BY_FOLDED: Mapping[str, str] = {name.casefold(): name for name in KNOWN}

_RUNS = "makes OpenDKIM run a program mailauth does not check"
_READS = "makes OpenDKIM read a file mailauth does not write or check"

#: Documented options extra_options may not set, and why.
REFUSED: Mapping[str, str] = {
    "Include": _READS,
    "MTACommand": _RUNS,
    "FinalPolicyScript": _RUNS + " (a Lua script)",
    "ScreenPolicyScript": _RUNS + " (a Lua script)",
    "SetupPolicyScript": _RUNS + " (a Lua script)",
    "StatisticsPolicyScript": _RUNS + " (a Lua script)",
    "ChangeRootDirectory": "moves every path mailauth writes into opendkim.conf below "
    "another root, where the keys and tables are not",
    "LDAPBindPassword": "is a secret, and mailauth.yaml is committed and shown in plans",
    "TestDNSData": "replaces real DNS answers (public keys too) with given data: for tests only",
    "TestPublicKeys": "replaces the public keys in DNS with a file's: for tests only",
}

#: Options whose value is a secret: never kept from the file on disk (keptconf.py), since
#: every plan would show it.
SECRET: frozenset[str] = frozenset({"LDAPBindPassword"})
