"""The dkimpy-milter and OpenDMARC targets: renderers, signer choice, and the programs' view.

Renderer tests build the model in-process from a mailauth.yaml and compare the rendered
files line by line. Consumer tests then let the installed programs read what mailauth
wrote: dkimpy-milter's own config parser and key-table lookup (in Debian's python3, where
it is installed), ``opendmarc -n``, and both daemons started on the generated files with
their syslog caught, which must hold no unknown option and no configuration error.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.dmarcstack import (
    ED_SELECTOR,
    RSA_SELECTOR,
    DkimpyMilterServer,
    OpenDmarcServer,
    SyslogSink,
    dual_config,
)
from e2e.mailstack import write_config
from support import (
    EXAMPLES,
    copy_example,
    free_port,
    require_binary,
    run_mailauth,
    safe_directory,
    seed_postfix,
)

from mailauth.backends import REGISTRY
from mailauth.backends.dkimpy_milter import (
    DkimpyMilterBackend,
    DkimpyMilterTarget,
    render_key_table,
    render_signing_table,
)
from mailauth.backends.dkimpy_milter import render_conf as render_dkimpy
from mailauth.backends.opendmarc import OpenDmarcTarget
from mailauth.backends.opendmarc import render_conf as render_opendmarc
from mailauth.backends.postfix import milter_entries, milter_settings
from mailauth.compiler.build import build_model
from mailauth.compiler.driver import SIGNERS
from mailauth.compiler.model import MailModel
from mailauth.schema.errors import ConfigError
from mailauth.schema.validate import LoadedConfig, load_config

DOMAINS = ("slackbox.fr", "unixbox.fr")
DEBIAN = Path(__file__).parent / "fixtures" / "debian"
DKIMPY_TROUBLE = ("Unknown name", "does not provide a value", "Could not make", "ERROR")


@pytest.fixture
def host() -> Iterator[Path]:
    with safe_directory("dkpy-") as path:
        seed_postfix(path)
        yield path


def _config(base: Path, **targets: Any) -> dict[str, Any]:
    config = dual_config(
        base,
        dkimpy_port=18892,
        dmarc_port=18893,
        main_cf=base / "etc/postfix/main.cf",
        queue_directory=base / "spool",
    )
    for name, value in targets.items():
        if value is None:
            config["targets"].pop(name, None)
        else:
            config["targets"][name] = value
    return config


def _loaded(base: Path, config: dict[str, Any]) -> LoadedConfig:
    return load_config(write_config(base, config))


def _model(base: Path, config: dict[str, Any]) -> MailModel:
    return build_model(_loaded(base, config))


def _settings(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition(" ")
            assert name not in out, f"{name} written twice"
            out[name] = value.strip()
    return out


def _problems(base: Path, config: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        _model(base, config)
    return str(caught.value)


# -- the dkimpy-milter renderer ------------------------------------------------------------


def test_dkimpy_conf_has_tables_macros_and_decimal_umask(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config["targets"]["dkimpy_milter"]["umask"] = "022"
    model = _model(tmp_path, config)
    target = _loaded(tmp_path, config).config.targets.dkimpy_milter
    assert target is not None
    settings = _settings(render_dkimpy(model, target))
    base = tmp_path / "dkimpy"
    assert settings == {
        "Syslog": "yes",
        "SyslogSuccess": "yes",
        "UMask": "18",  # dkimpy-milter reads int("18") = 0o22
        "UserID": "dkimpy-milter",
        "Mode": "sv",
        "Socket": "inet:18892@127.0.0.1",
        "PidFile": str(tmp_path / "run-dkimpy/dkimpy-milter.pid"),
        "AuthservID": "mail.slackbox.fr",
        "Canonicalization": "relaxed/simple",
        "MinimumKeyBits": "1024",
        "DNSTimeout": "5",
        "InternalHosts": "127.0.0.1",
        "MacroList": "daemon_name|ORIGINATING",
        "MacroListVerify": "daemon_name|VERIFYING",
        "KeyTable": f"{base}/KeyTable",
        "KeyTableEd25519": f"{base}/KeyTableEd25519",
        "SigningTable": f"refile:{base}/SigningTable",
    }


def test_each_domain_has_one_key_name_in_both_tables(tmp_path: Path) -> None:
    model = _model(tmp_path, _config(tmp_path))
    keys = tmp_path / "keys"
    rsa = render_key_table(model, "rsa").splitlines()[1:]
    ed = render_key_table(model, "ed25519").splitlines()[1:]
    assert rsa == [f"{d} {d}:{RSA_SELECTOR}:{keys}/{d}/{RSA_SELECTOR}.private" for d in DOMAINS]
    assert ed == [f"{d} {d}:{ED_SELECTOR}:{keys}/{d}/{ED_SELECTOR}.private" for d in DOMAINS]
    assert render_signing_table(model).splitlines()[1:] == [f"*@{d} {d}" for d in DOMAINS]


def test_rsa_only_writes_no_ed25519_table_and_verify_mode_no_tables(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config["defaults"]["dkim"]["selectors"] = [{"name": "r", "algorithm": "rsa"}]
    model = _model(tmp_path, config)
    target = DkimpyMilterTarget(directory="/etc/dk")
    paths = [a.path for a in DkimpyMilterBackend().render(model, target)]
    tmpfiles = "/etc/tmpfiles.d/mailauth-dkimpy-milter.conf"  # /run/dkimpy-milter at boot
    assert paths == [
        "/etc/dkimpy-milter/dkimpy-milter.conf",
        tmpfiles,
        "/etc/dk/KeyTable",
        "/etc/dk/SigningTable",
    ]
    assert "KeyTableEd25519" not in render_dkimpy(model, target)

    verify_only = DkimpyMilterTarget(mode="v")
    artifacts = DkimpyMilterBackend().render(model, verify_only)
    assert [a.path for a in artifacts] == [verify_only.config, tmpfiles]
    settings = _settings(render_dkimpy(model, verify_only))
    assert "SigningTable" not in settings and "MacroListVerify" not in settings


def test_render_is_pure_and_registered(tmp_path: Path) -> None:
    model = _model(tmp_path, _config(tmp_path))
    loaded = _loaded(tmp_path, _config(tmp_path)).config.targets
    for name, target in (("dkimpy_milter", loaded.dkimpy_milter), ("opendmarc", loaded.opendmarc)):
        first = REGISTRY[name].render(model, target)
        second = REGISTRY[name].render(model, target)
        assert [(a.path, a.content, a.reload) for a in first] == [
            (a.path, a.content, a.reload) for a in second
        ]
        assert all(a.reload == f"systemctl restart {name.replace('_', '-')}" for a in first)
    assert "dkimpy_milter" in SIGNERS


def test_internal_hosts_inline_and_names_without_dot_refused() -> None:
    target = DkimpyMilterTarget(internal_hosts=["127.0.0.1", "::1", "10.0.0.0/8", "*.lan.example"])
    model = MailModel(zones=(), domains=())
    assert _settings(render_dkimpy(model, target))["InternalHosts"] == (
        "127.0.0.1,::1,10.0.0.0/8,.lan.example"
    )
    with pytest.raises(ValueError, match="dotted names only"):
        DkimpyMilterTarget(internal_hosts=["localhost"])
    with pytest.raises(ValueError, match="must differ"):
        DkimpyMilterTarget(submission_daemon_name="X", inbound_daemon_name="X")


def test_key_path_with_colon_is_refused_at_validate(tmp_path: Path) -> None:
    """KeyTable splits at ':' and spaces: validate refuses such a path, before any render."""
    config = _config(tmp_path)
    config["keys"]["file"] = "{domain}/{selector}:key"
    with pytest.raises(ConfigError, match=r"keys.file: .* holds ':'"):
        _model(tmp_path, config)


# -- the signer choice and the chain ------------------------------------------------------


def test_milter_chain_is_signer_then_opendmarc_and_postfix_gets_the_daemon_name(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    loaded = _loaded(tmp_path, config)
    model = build_model(loaded)
    assert [m.name for m in model.milters] == ["dkimpy-milter", "opendmarc"]
    signer, dmarc = model.milters
    assert signer.authserv_id == "mail.slackbox.fr"
    assert signer.inbound_daemon_name == "VERIFYING"
    assert dmarc.trusted_authserv_ids == ("mail.slackbox.fr",)
    postfix = loaded.config.targets.postfix
    assert postfix is not None
    assert milter_entries(model, postfix) == ["inet:127.0.0.1:18892", "inet:127.0.0.1:18893"]
    assert milter_settings(model, postfix)["milter_macro_daemon_name"] == "VERIFYING"
    assert signer.submission_daemon_name == "ORIGINATING"


def test_opendkim_signer_sets_no_daemon_name_and_opendmarc_trusts_the_mail_host(
    tmp_path: Path,
) -> None:
    config = _config(
        tmp_path,
        dkimpy_milter=None,
        opendkim={"config": str(tmp_path / "od/opendkim.conf"), "directory": str(tmp_path / "od")},
    )
    config["defaults"]["dkim"]["selectors"] = [{"name": "r", "algorithm": "rsa"}]
    model = _model(tmp_path, config)
    assert [m.name for m in model.milters] == ["opendkim", "opendmarc"]
    assert model.milters[0].inbound_daemon_name is None
    assert model.milters[1].authserv_id == "mail.slackbox.fr"
    assert "mail.slackbox.fr" in model.milters[1].trusted_authserv_ids


def test_both_signers_is_an_error_at_the_dkimpy_target(tmp_path: Path) -> None:
    config = _config(tmp_path, opendkim={"config": str(tmp_path / "od.conf")})
    config["defaults"]["dkim"]["selectors"] = [{"name": "r", "algorithm": "rsa"}]
    message = _problems(tmp_path, config)
    assert (
        "targets.dkimpy_milter: targets.opendkim and targets.dkimpy_milter are both set" in message
    )
    assert "choose one signer" in message
    assert "mailauth.yaml:" in message.split(": targets.dkimpy_milter")[0]


def test_ed25519_with_opendkim_says_to_use_dkimpy_milter(tmp_path: Path) -> None:
    config = _config(tmp_path, dkimpy_milter=None, opendkim={"config": str(tmp_path / "o.conf")})
    message = _problems(tmp_path, config)
    assert "defaults.dkim.selectors[1].algorithm" in message
    assert "replace targets.opendkim with targets.dkimpy_milter" in message


def test_two_signing_keys_of_one_algorithm_is_an_error(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config["defaults"]["dkim"]["selectors"].append({"name": "r2", "algorithm": "rsa"})
    message = _problems(tmp_path, config)
    assert "defaults.dkim.selectors[2]" in message
    assert "one rsa key per domain" in message and "sign: false" in message
    config["defaults"]["dkim"]["selectors"][2]["sign"] = False  # published only: fine
    _model(tmp_path, config)


def test_a_domain_missing_from_one_key_table_is_an_error(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config["domains"][1]["dkim"] = {"selectors": [{"name": "r", "algorithm": "rsa"}]}
    message = _problems(tmp_path, config)
    assert "domains[1].name" in message
    assert "unixbox.fr signs only with rsa while slackbox.fr signs with ed25519" in message
    assert "domains[0]" not in message
    # One domain only RSA, the other only Ed25519: both are missing from a table.
    config["domains"][0]["dkim"] = {"selectors": [{"name": "e", "algorithm": "ed25519"}]}
    message = _problems(tmp_path, config)
    assert "slackbox.fr signs only with ed25519 while unixbox.fr signs with rsa" in message
    assert "unixbox.fr signs only with rsa while slackbox.fr signs with ed25519" in message


def test_postfix_daemon_name_parameter_clashes_with_dkimpy(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config["targets"]["postfix"]["parameters"] = {"milter_macro_daemon_name": "ORIGINATING"}
    message = _problems(tmp_path, config)
    assert "targets.postfix.parameters.milter_macro_daemon_name" in message
    assert "never signed" in message


# -- the OpenDMARC renderer -----------------------------------------------------------------


def test_opendmarc_conf_trusts_the_signer_and_maps_options(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config["targets"]["dkimpy_milter"]["authserv_id"] = "signer.slackbox.fr"
    config["targets"]["opendmarc"].update(
        authserv_id="dmarc.slackbox.fr",
        trusted_authserv_ids=["relay.example"],
        umask="022",
        spf="fallback",
        reject_failures=True,
    )
    loaded = _loaded(tmp_path, config)
    model = build_model(loaded)
    target = loaded.config.targets.opendmarc
    assert target is not None
    settings = _settings(render_opendmarc(model, target))
    run = tmp_path / "run-opendmarc"
    assert settings == {
        "Syslog": "true",
        "UMask": "022",
        "UserID": "opendmarc",
        "Socket": "inet:18893@127.0.0.1",
        "PidFile": f"{run}/opendmarc.pid",
        "AuthservID": "dmarc.slackbox.fr",
        "TrustedAuthservIDs": "dmarc.slackbox.fr,signer.slackbox.fr,relay.example",
        "IgnoreAuthenticatedClients": "true",
        "RejectFailures": "true",
        "RequiredHeaders": "false",
        "SPFSelfValidate": "true",
        "SPFIgnoreResults": "false",
        "HistoryFile": f"{run}/history.dat",
        "PublicSuffixList": "/usr/share/publicsuffix/public_suffix_list.dat",
    }


@pytest.mark.parametrize(
    ("spf", "self_validate", "ignore"),
    [("self", "true", "true"), ("fallback", "true", "false"), ("headers", "false", "false")],
)
def test_opendmarc_spf_modes(spf: str, self_validate: str, ignore: str) -> None:
    settings = _settings(render_opendmarc(MailModel((), ()), OpenDmarcTarget(spf=spf)))  # type: ignore[arg-type]
    assert (settings["SPFSelfValidate"], settings["SPFIgnoreResults"]) == (self_validate, ignore)
    assert settings["UMask"] == "07"  # strtol base 0: the leading zero makes it octal
    assert "HistoryFile" not in settings and "AuthservID" not in settings


# -- what the programs make of it ---------------------------------------------------------

_DKIMPY_VIEW = r"""
import json, sys, syslog
logged = []
syslog.syslog = lambda *args: logged.append(str(args[-1]))
from dkimpy_milter import config as cfg
from dkimpy_milter.util import get_keys
import dkimpy_milter as milter

conf = get_keys(cfg._processConfigFile(filename=sys.argv[1]))
view = {name: conf.get(name) for name in (
    "Mode", "Socket", "UMask", "UserID", "AuthservID", "MacroList", "MacroListVerify",
    "InternalHosts", "MinimumKeyBits", "DNSTimeout", "Canonicalization")}
view["internal"] = {ip: bool(conf["IntHosts"] and conf["IntHosts"].match(ip))
                    for ip in ("127.0.0.1", "::1", "192.0.2.25")}
signing = {}
for author in sys.argv[2:]:
    m = milter.dkimMilter.__new__(milter.dkimMilter)
    m.conf, m.author, m.fdomain = conf, author, author.split("@")[1]
    try:
        m.get_identities_sign()
    except Exception as exc:  # what the milter would hit at end of message
        signing[author] = type(exc).__name__
        continue
    signing[author] = {
        "d": m.fdomain, "signs": m.fdomain in m.domain,
        "rsa": [m.selectorRSA, bool(m.privkeyRSA)],
        "ed25519": [m.selectorEd25519, bool(m.privkeyEd25519)],
    }
print(json.dumps({"view": view, "signing": signing, "logged": logged}))
"""


def _dkimpy_python() -> str:
    """The interpreter dkimpy-milter is installed for (its script's #! line)."""
    script = Path(require_binary("dkimpy-milter"))
    first = script.read_text(errors="replace").splitlines()[0]
    assert first.startswith("#!"), first
    return first[2:].strip().split()[0]


def _dkimpy_view(conf: Path, *authors: str) -> dict[str, Any]:
    result = subprocess.run(
        [_dkimpy_python(), "-c", _DKIMPY_VIEW, str(conf), *authors],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_dkimpy_milter_reads_the_config_as_meant_and_signs_twice(host: Path) -> None:
    config = _config(host, opendmarc=None)
    config["targets"]["dkimpy_milter"]["internal_hosts"] = ["127.0.0.1", "::1"]
    run_mailauth("apply", "-c", write_config(host, config), "--root", "/", "--yes")
    got = _dkimpy_view(
        host / "dkimpy/dkimpy-milter.conf", "someone@slackbox.fr", "x@unixbox.fr", "a@other.example"
    )
    assert got["logged"] == [], got["logged"]
    view = got["view"]
    assert view["Mode"] == "sv"
    assert view["UMask"] == 0o007
    assert view["MacroList"] == ["daemon_name|ORIGINATING"]
    assert view["MacroListVerify"] == ["daemon_name|VERIFYING"]
    assert view["AuthservID"] == "mail.slackbox.fr"
    assert view["internal"] == {"127.0.0.1": True, "::1": True, "192.0.2.25": False}
    for author, domain in (("someone@slackbox.fr", "slackbox.fr"), ("x@unixbox.fr", "unixbox.fr")):
        assert got["signing"][author] == {
            "d": domain,
            "signs": True,
            "rsa": [RSA_SELECTOR, True],
            "ed25519": [ED_SELECTOR, True],
        }
    assert got["signing"]["a@other.example"]["rsa"][1] is False
    assert got["signing"]["a@other.example"]["ed25519"][1] is False


def test_why_every_domain_must_be_in_both_tables(host: Path) -> None:
    """dkimpy-milter 1.2 fails (KeyError) on a domain that one of the two tables lacks."""
    config = _config(host, opendmarc=None)
    run_mailauth("apply", "-c", write_config(host, config), "--root", "/", "--yes")
    table = host / "dkimpy/KeyTableEd25519"
    table.write_text("\n".join(table.read_text().splitlines()[:-1]) + "\n")  # drop unixbox.fr
    got = _dkimpy_view(host / "dkimpy/dkimpy-milter.conf", "x@unixbox.fr", "y@slackbox.fr")
    assert got["signing"]["x@unixbox.fr"] == "KeyError"
    assert got["signing"]["y@slackbox.fr"]["ed25519"] == [ED_SELECTOR, True]


def test_opendmarc_accepts_the_generated_file_and_refuses_unknown_options(host: Path) -> None:
    opendmarc = require_binary("opendmarc")
    config = _config(host)
    run_mailauth("apply", "-c", write_config(host, config), "--root", "/", "--yes")
    conf = host / "opendmarc/opendmarc.conf"
    checked = subprocess.run(
        [opendmarc, "-n", "-c", str(conf)], capture_output=True, text=True, timeout=30, check=False
    )
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
    bogus = host / "bogus.conf"
    bogus.write_text(conf.read_text() + "SPFIgnoreResultz true\n")
    refused = subprocess.run(
        [opendmarc, "-n", "-c", str(bogus)], capture_output=True, text=True, timeout=30, check=False
    )
    assert refused.returncode != 0 and "unrecognized parameter" in refused.stderr


@pytest.mark.e2e
def test_both_daemons_start_on_the_generated_files_without_complaint(host: Path) -> None:
    for program in ("dkimpy-milter", "opendmarc", "unshare"):
        require_binary(program)
    dkimpy_port, dmarc_port = free_port(), free_port()
    while dmarc_port == dkimpy_port:
        dmarc_port = free_port()
    config = dual_config(
        host,
        dkimpy_port=dkimpy_port,
        dmarc_port=dmarc_port,
        main_cf=host / "etc/postfix/main.cf",
        queue_directory=host / "spool",
    )
    run_mailauth("apply", "-c", write_config(host, config), "--root", "/", "--yes")
    with (
        SyslogSink(host / "logs") as sink,
        DkimpyMilterServer(
            host / "dkimpy/dkimpy-milter.conf", dkimpy_port, workdir=host / "dk", sink=sink
        ) as dkimpy,
        OpenDmarcServer(
            host / "opendmarc/opendmarc.conf", dmarc_port, workdir=host / "od", sink=sink
        ) as dmarc,
    ):
        assert dkimpy.running and dmarc.running
        sink.wait_for("dkimpy-milter", "dkimpy-milter starting")
        sink.wait_for("opendmarc", "starting", count=2)
    dkimpy_log, dmarc_log = sink.lines("dkimpy-milter"), sink.lines("opendmarc")
    assert any("dkimpy-milter starting" in line for line in dkimpy_log), dkimpy_log
    assert not [line for line in dkimpy_log if any(w in line for w in DKIMPY_TROUBLE)], dkimpy_log
    assert any("OpenDMARC Filter v" in line and "starting" in line for line in dmarc_log)
    assert dmarc_log[1:2] == ["additional trusted authentication services: mail.slackbox.fr"]
    assert not [line for line in dmarc_log if "warning" in line.lower() or "error" in line.lower()]
    assert "unrecognized" not in dmarc.log_text() + dkimpy.log_text()


def test_dual_signing_example_applies_onto_a_debian_root(tmp_path: Path, safe_root: Path) -> None:
    config = copy_example("dual-signing", tmp_path)
    assert (EXAMPLES / "dual-signing" / "mailauth.yaml").exists()
    # The root mirrors a host: Postfix's own files are there (mailauth never invents them).
    (safe_root / "etc/postfix").mkdir(parents=True)
    for name in ("main.cf", "master.cf"):
        shutil.copy(DEBIAN / name, safe_root / "etc/postfix" / name)
    applied = run_mailauth("apply", "-c", config, "--root", safe_root, "--yes").stdout
    assert "systemctl restart dkimpy-milter; systemctl restart opendmarc; postfix reload" in applied
    run_mailauth("plan", "-c", config, "--root", safe_root, expect=0)
    etc = safe_root / "etc"
    for name in ("dkimpy-milter.conf", "KeyTable", "KeyTableEd25519", "SigningTable"):
        assert (etc / "dkimpy-milter" / name).is_file(), name
    for domain in DOMAINS:
        assert (etc / f"dkimpy-milter/keys/{domain}/01.key").read_bytes().startswith(b"-----BEGIN")
        seed = (etc / f"dkimpy-milter/keys/{domain}/ed01.key").read_text().strip()
        assert len(seed) == 44 and not seed.startswith("-----")  # base64 of 32 raw bytes
        zone = (safe_root / f"var/named/zone.{domain}").read_text()
        assert re.search(r'^ed01\._domainkey +IN TXT +"v=DKIM1; k=ed25519; p=', zone, re.M)
    main_cf = (etc / "postfix/main.cf").read_text()
    assert "smtpd_milters = inet:127.0.0.1:8892, inet:127.0.0.1:8893\n" in main_cf
    assert "milter_macro_daemon_name = VERIFYING\n" in main_cf
    # Debian's master.cf with the submission services tagged (cleanup only with
    # sign_local_mail), every other byte as the package has it.
    signing = (DEBIAN / "master.cf.signing").read_text()
    cleanup = "0       cleanup\n  -o milter_macro_daemon_name=ORIGINATING\n"
    assert cleanup in signing
    expected = signing.replace(cleanup, "0       cleanup\n")
    assert (etc / "postfix/master.cf").read_text() == expected
    dmarc = _settings((etc / "opendmarc.conf").read_text())
    assert dmarc["TrustedAuthservIDs"] == "mail.slackbox.fr"
