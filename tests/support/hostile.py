"""The hostile-input corpus: loading cases, staging them, running mailauth, judging it.

A case (see tests/hostile/README.md) is a base config plus edits, optional state under the
output root, and an expectation: ``refused``, ``accepted`` or ``either``. :func:`run_case`
stages one case in its own safe directory::

    <dir>/config/mailauth.yaml   the edited config (the lock file may appear beside it)
    <dir>/root/                  --root: the staging root, with the case's state
    <dir>/outside/               the sentinel: planted secrets; must never change

runs the real command line as a subprocess and returns every problem found (an empty
list: the case holds).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import itertools
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from support import consumers, forkcli
from support.cli import mailauth_argv, mailauth_env
from support.roots import safe_directory

HERE = Path(__file__).resolve().parents[1] / "hostile"
BASES = HERE / "bases"
COMMAND_TIMEOUT = 60.0
TRACEBACK = "Traceback (most recent call last)"
_RAW = "__hostile_raw_{}__"


# -- the corpus -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile input and what mailauth must make of it."""

    name: str
    group: str
    expect: str
    why: str
    spec: dict[str, Any] = field(repr=False)

    @property
    def stage(self) -> str:
        return str(self.spec.get("stage", "validate"))


def load_cases() -> list[Case]:
    """Every case of every tests/hostile/*.yaml, in file order; names are unique."""
    cases: list[Case] = []
    for path in sorted(HERE.glob("*.yaml")):
        for spec in yaml.safe_load(path.read_text()) or []:
            expect = spec.get("expect")
            assert expect in ("refused", "accepted", "either"), (path.name, spec.get("name"))
            cases.append(Case(spec["name"], path.stem, expect, spec.get("why", ""), spec))
    names = [c.name for c in cases]
    dupes = sorted({n for n in names if names.count(n) > 1})
    assert not dupes, f"case names used twice: {dupes}"
    return cases


# -- secrets planted for the case to find ---------------------------------------------------


@dataclass(frozen=True)
class Secrets:
    """A PEM private key and a token; neither may ever show up in mailauth's output."""

    pem: str
    token: str

    def key_lines(self) -> list[str]:
        """The secret base64 lines of the key (the part a leak would show)."""
        return secret_lines(self.pem)


@cache
def planted_secrets() -> Secrets:
    """Made once per test run: an RSA key nobody else has, and a random token."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return Secrets(pem=pem, token="MAILAUTH-PLANTED-TOKEN-" + secrets.token_hex(16))


# -- staging --------------------------------------------------------------------------------


@dataclass
class Stage:
    """The directories of one case."""

    base: Path
    config_dir: Path
    config: Path
    root: Path
    outside: Path
    work: Path

    def expand(self, text: str) -> str:
        """Placeholders: @OUTSIDE@, @ROOT@, @CONFIG@, @TOKEN@."""
        return (
            text.replace("@OUTSIDE@", str(self.outside))
            .replace("@ROOT@", str(self.root))
            .replace("@CONFIG@", str(self.config_dir))
            .replace("@TOKEN@", planted_secrets().token)
        )


def _expand_tree(value: Any, stage: Stage) -> Any:
    """Placeholders and generators (``{$repeat: s, $times: n}``, ``{$items: t, $times: n}``)."""
    if isinstance(value, str):
        return stage.expand(value)
    if isinstance(value, list):
        return [_expand_tree(v, stage) for v in value]
    if isinstance(value, dict):
        if "$repeat" in value:
            text = stage.expand(str(value["$repeat"])) * int(value["$times"])
            return text + stage.expand(str(value.get("$suffix", "")))
        if "$items" in value:
            return [
                _expand_tree(_numbered(value["$items"], i), stage) for i in range(value["$times"])
            ]
        return {k: _expand_tree(v, stage) for k, v in value.items()}
    return value


def _numbered(template: Any, index: int) -> Any:
    if isinstance(template, str):
        return template.replace("%i", str(index))
    if isinstance(template, dict):
        return {k: _numbered(v, index) for k, v in template.items()}
    if isinstance(template, list):
        return [_numbered(v, index) for v in template]
    return template


_SEGMENT = re.compile(r'\.?([A-Za-z0-9_$-]+)|\[(\d+|\+)\]|\["((?:[^"\\]|\\.)*)"\]')


def _path_parts(dotted: str) -> list[str | int]:
    parts: list[str | int] = []
    position = 0
    while position < len(dotted):
        match = _SEGMENT.match(dotted, position)
        assert match, f"bad field path {dotted!r} at {position}"
        if match.group(1) is not None:
            parts.append(match.group(1))
        elif match.group(2) is not None:
            parts.append(-1 if match.group(2) == "+" else int(match.group(2)))
        else:
            parts.append(json.loads(f'"{match.group(3)}"'))
        position = match.end()
    return parts


def _assign(doc: Any, dotted: str, value: Any, *, delete: bool = False) -> None:
    """Set (or delete) ``doc[path]``; missing mappings are made; ``[+]`` appends."""
    parts = _path_parts(dotted)
    node = doc
    for part, following in itertools.pairwise(parts):
        if isinstance(part, int):
            node = node[part]
        else:
            if node.get(part) is None:
                node[part] = [] if isinstance(following, int) else {}
            node = node[part]
    last = parts[-1]
    if delete:
        del node[last]
    elif isinstance(last, int) and last == -1:
        node.append(value)
    else:
        node[last] = value


def _repeat_tokens(text: str) -> str:
    """``{{repeat:TEXT:N}}`` in a whole document: TEXT written N times."""
    return re.sub(
        r"\{\{repeat:(.*?):(\d+)\}\}", lambda m: m.group(1) * int(m.group(2)), text, flags=re.S
    )


def config_bytes(case: Case, stage: Stage) -> bytes:
    """The case's mailauth.yaml, edits and transforms applied."""
    spec = case.spec
    if "document" in spec:
        text = _repeat_tokens(stage.expand(spec["document"]))
    else:
        doc = yaml.safe_load((BASES / f"{spec.get('base', 'slackbox')}.yaml").read_text())
        doc = copy.deepcopy(doc)
        for dotted in spec.get("delete", []):
            _assign(doc, dotted, None, delete=True)
        for dotted, value in (spec.get("set") or {}).items():
            _assign(doc, dotted, _expand_tree(value, stage))
        raws = list((spec.get("set_raw") or {}).items())
        for index, (dotted, _) in enumerate(raws):
            _assign(doc, dotted, _RAW.format(index))
        text = yaml.dump(
            doc, Dumper=_CoreSafeDumper, sort_keys=False, allow_unicode=True, width=1 << 20
        )
        for index, (_, raw) in enumerate(raws):
            text = text.replace(_RAW.format(index), stage.expand(str(raw)))
    data = text.encode("utf-8")
    for transform in spec.get("transform", []):
        if transform == "crlf":
            data = data.replace(b"\n", b"\r\n")
        elif transform == "cr":
            data = data.replace(b"\n", b"\r")
        elif transform == "bom":
            data = b"\xef\xbb\xbf" + data
        elif transform == "latin1":
            data = data.decode("utf-8").encode("latin-1")
        elif transform == "utf16":
            data = data.decode("utf-8").encode("utf-16")
        else:
            raise AssertionError(f"unknown transform {transform!r}")
    return data


_MAIN_CF = (BASES / "main.cf").read_text() if (BASES / "main.cf").exists() else ""


def _place(stage: Stage, entry: dict[str, Any]) -> None:
    """One piece of pre-existing state (under the root unless the path starts at @OUTSIDE@)."""
    raw = stage.expand(entry["path"])
    path = Path(raw) if raw.startswith("/") else stage.root / raw
    if entry.get("remove"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if "symlink" in entry:
        target = stage.expand(entry["symlink"])
        os.symlink(target, path)
    elif entry.get("fifo"):
        os.mkfifo(path, 0o644)
    elif "chardev" in entry:
        major, minor = entry["chardev"]
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
    elif entry.get("directory"):
        path.mkdir(exist_ok=True)
    elif "secret" in entry:
        planted = planted_secrets()
        path.write_text(planted.pem if entry["secret"] == "key" else planted.token + "\n")
        os.chmod(path, 0o600)
    elif "hex" in entry:
        path.write_bytes(bytes.fromhex(entry["hex"].replace(" ", "")))
    elif "text" in entry:
        data = _repeat_tokens(stage.expand(entry["text"])).encode("utf-8")
        if entry.get("crlf"):
            data = data.replace(b"\n", b"\r\n")
        path.write_bytes(data)
    elif "chmod" in entry:
        os.chmod(path, int(str(entry["chmod"]), 8))
    if "owner" in entry:
        shutil.chown(path, entry["owner"], entry.get("group"))
    if "mode" in entry and "chmod" not in entry:
        os.chmod(path, int(str(entry["mode"]), 8), follow_symlinks=False)


def _outside_fixture(stage: Stage) -> None:
    """The sentinel: secrets at known places hostile configs point to."""
    planted = planted_secrets()
    (stage.outside / "secret.key").write_text(planted.pem)
    (stage.outside / "token.txt").write_text(planted.token + "\n")
    (stage.outside / "etc" / "postfix").mkdir(parents=True)
    (stage.outside / "etc" / "postfix" / "main.cf").write_text(
        f"# host main.cf {planted.token}\nmyhostname = host.example\n"
    )
    (stage.outside / "etc" / "postfix" / "master.cf").write_text("")
    (stage.outside / "zone").write_text(f"; {planted.token}\n")
    for path in stage.outside.rglob("*"):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)


@contextlib.contextmanager
def staged(case: Case) -> Iterator[Stage]:
    """The case's directories under a safe (root-owned 0755) base, removed afterwards."""
    with safe_directory("hostile-") as base:
        # The root is ./out of the commands' working directory: the default root, so that
        # validate (which has no --root) looks where plan and apply --root look.
        stage = Stage(
            base=base,
            config_dir=base / "config",
            config=base / "config" / "mailauth.yaml",
            root=base / "work" / "out",
            outside=base / "outside",
            work=base / "work",
        )
        for directory in (stage.config_dir, stage.work, stage.root, stage.outside):
            directory.mkdir(mode=0o755)
            os.chmod(directory, 0o755)
        _outside_fixture(stage)
        if not case.spec.get("no_main_cf"):
            postfix = stage.root / "etc" / "postfix"
            postfix.mkdir(parents=True)
            (postfix / "main.cf").write_text(_MAIN_CF)
            (postfix / "master.cf").write_text("")
        yield stage


# -- running --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One finished mailauth command."""

    label: str
    argv: tuple[str, ...]
    code: int | None  # None: killed after the timeout
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        tail = self.output[-3000:]
        return f"`{self.label}` exit {self.code} in {self.seconds:.1f}s:\n{tail}"


def run_cli(label: str, *args: str | Path, cwd: Path, timeout: float = COMMAND_TIMEOUT) -> Run:
    """``mailauth ARGS`` in a child process of its own group; killed (all of it) on timeout.

    The child is forked from a warm server (support.forkcli) unless MAILAUTH_HOSTILE_FORK=0.
    """
    if forkcli.enabled():
        return _run_forked(label, [str(a) for a in args], cwd, timeout)
    return _run_subprocess(label, mailauth_argv(*args), cwd, timeout)


def _run_forked(label: str, args: list[str], cwd: Path, timeout: float) -> Run:
    ident = secrets.token_hex(6)
    out, err = cwd / f".cmd-{ident}.out", cwd / f".cmd-{ident}.err"
    started = time.monotonic()
    finished = forkcli.server().run(
        args,
        cwd=cwd,
        env=mailauth_env({"COLUMNS": "200"}),
        stdout=out,
        stderr=err,
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    stdout = out.read_bytes().decode("utf-8", "replace") if out.exists() else ""
    stderr = err.read_bytes().decode("utf-8", "replace") if err.exists() else ""
    out.unlink(missing_ok=True)
    err.unlink(missing_ok=True)
    return Run(
        label=label,
        argv=("mailauth", *args),
        code=None if finished is None else finished.code,
        stdout=stdout,
        stderr=stderr,
        seconds=seconds,
        max_rss_mb=0.0 if finished is None else finished.max_rss_kb / 1024,
    )


def _run_subprocess(label: str, argv: list[str], cwd: Path, timeout: float) -> Run:
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=mailauth_env({"COLUMNS": "200"}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    chunks: dict[str, bytes] = {}

    def drain(name: str, stream: Any) -> None:
        chunks[name] = stream.read()

    readers = [
        threading.Thread(target=drain, args=("out", process.stdout), daemon=True),
        threading.Thread(target=drain, args=("err", process.stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    killer = threading.Timer(timeout, lambda: _kill_group(process.pid))
    killer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        killer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(timeout=10)
    seconds = time.monotonic() - started
    code: int | None = process.returncode
    if seconds >= timeout or (code is not None and code < 0):
        code = None if seconds >= timeout else code
    return Run(
        label=label,
        argv=tuple(argv),
        code=code,
        stdout=chunks.get("out", b"").decode("utf-8", "replace"),
        stderr=chunks.get("err", b"").decode("utf-8", "replace"),
        seconds=seconds,
        max_rss_mb=usage.ru_maxrss / 1024,
    )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


# -- snapshots ------------------------------------------------------------------------------

Snapshot = dict[str, tuple[str, int, str]]


def snapshot(top: Path) -> Snapshot:
    """Every entry below ``top``: kind, mode and a content digest (symlinks not followed)."""
    result: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                digest = "-> " + os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                digest = ""
            result[str(path.relative_to(top))] = (
                stat.filemode(info.st_mode),
                info.st_uid,
                digest,
            )
    return result


def snapshot_diff(before: Snapshot, after: Snapshot) -> list[str]:
    changes = [f"new {p}" for p in sorted(after.keys() - before.keys())]
    changes += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    changes += [
        f"changed {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]
    ]
    return changes


# -- judging --------------------------------------------------------------------------------

_DANGER = ("$(", "`")


def unquoted_expansions(command: str) -> list[str]:
    """Command substitutions in ``command`` that a shell would run (outside single quotes)."""
    found: list[str] = []
    quote: str | None = None
    index = 0
    while index < len(command):
        char = command[index]
        if quote == "'":
            if char == "'":
                quote = None
        elif char == "\\":
            index += 1
        elif char == "'" and quote is None:
            quote = "'"
        elif char == '"':
            quote = None if quote == '"' else '"'
        elif command.startswith(_DANGER, index):
            found.append(command[index : index + 30])
        index += 1
    return found


def secret_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM private key that carry secret data.

    A line whose bytes also occur in the public key (the RSA modulus sits in both) is public
    and may be printed, in the DKIM record.
    """
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, TypeError):
        public = b""
    lines = []
    for line in pem.splitlines():
        if not line or line.startswith("-----"):
            continue
        try:
            raw = base64.b64decode(line + "=" * (-len(line) % 4))
        except ValueError:
            raw = b""
        if len(line) >= 40 and (not raw or raw not in public):
            lines.append(line)
    return lines


def _private_bodies(root: Path) -> list[str]:
    """The secret parts of every private key under the root (to look for in the output)."""
    bodies: list[str] = []
    for dirpath, _, filenames in os.walk(root, followlinks=False):
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file() or path.stat().st_size > 20000:
                continue
            text = path.read_text(errors="replace")
            if "PRIVATE KEY" in text:
                bodies += secret_lines(text)
            elif re.fullmatch(r"[A-Za-z0-9+/]{43}=\s*", text):  # an Ed25519 seed
                bodies.append(text.strip())
    return bodies


def _secret_problems(runs: list[Run], extra: list[str]) -> list[str]:
    planted = planted_secrets()
    needles = [planted.token, *planted.key_lines(), *extra]
    problems = []
    for run in runs:
        for needle in needles:
            if needle in run.output:
                at = run.output.index(needle)
                shown = run.output[max(0, at - 80) : at + 40]
                problems.append(f"{run.label}: prints a secret ({needle[:24]}...): {shown!r}")
                break
    return problems


# Plain scalars that PyYAML (YAML 1.1) writes unquoted but a YAML 1.2 core reader, as
# mailauth's loader is, reads as numbers: "0123456789" (not 1.1 octal), "0o17".
_CORE_NUMBER = re.compile(
    r"[-+]?[0-9]+|0o[0-7]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
)


class _CoreSafeDumper(yaml.SafeDumper):
    """SafeDumper that quotes the strings a YAML 1.2 core reader would take for numbers."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if _CORE_NUMBER.fullmatch(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_CoreSafeDumper.add_representer(str, _represent_str)


def _error_problems(run: Run, config: Path, case: Case) -> list[str]:
    field_name = case.spec.get("field")
    position = re.compile(rf"^error: {re.escape(str(config))}:(\d+):(\d+): (.*)$", re.MULTILINE)
    anywhere = re.compile(r"^error: \S+:\d+(?::\d+)?: (.*)$", re.MULTILINE)
    pattern = anywhere if case.spec.get("error_anywhere") else position
    messages = [m.group(m.lastindex or 0) for m in pattern.finditer(run.stderr)]
    if not messages:
        return [f"{run.label}: no `error: FILE:LINE:COL: ` line\n{run.describe()}"]
    # ``field`` is one name or a list of names any of which the error may carry: a path
    # under a planted symlink is refused at whichever configured path meets it first.
    fields = [str(f) for f in field_name] if isinstance(field_name, list) else [field_name]
    if field_name and not any(_names(m, f) for m in messages for f in fields if f):
        return [f"{run.label}: no error names {' or '.join(map(str, fields))}\n{run.describe()}"]
    return []


def _names(message: str, field_name: str) -> bool:
    """True when the error is about ``field_name``, an item of it, or the object holding it."""
    if message.startswith(field_name) and message[len(field_name) : len(field_name) + 1] in (
        ":",
        ".",
        "[",
    ):
        return True
    where = message.split(": ", 1)[0].strip()
    if not where or " " in where:
        return False
    return field_name.startswith((where + ".", where + "["))


def consumer_problems(stage: Stage) -> list[str]:
    """Every generated file, judged by the program that reads it."""
    targets = consumers.declared_targets(stage.config.read_bytes().decode("utf-8-sig", "replace"))
    host_file = stage.work / _HOST_MILTERS
    host = host_file.read_text().split() if host_file.is_file() else []
    return consumers.check_root(targets, stage.root, stage.work, host)


def _file_checks(case: Case, stage: Stage) -> list[str]:
    problems = []
    for check in case.spec.get("file_regex", []):
        raw = stage.expand(check["path"])
        path = Path(raw) if raw.startswith("/") else stage.root / raw
        if not path.is_file():
            problems.append(f"{check['path']}: missing")
            continue
        text = path.read_text(errors="replace")
        if not re.search(check["regex"], text, re.MULTILINE):
            problems.append(f"{check['path']}: no line matches {check['regex']!r}")
    for check in case.spec.get("file_mode", []):
        info = (stage.root / check["path"]).stat()
        if stat.S_IMODE(info.st_mode) != int(str(check["mode"]), 8):
            problems.append(f"{check['path']}: mode {oct(stat.S_IMODE(info.st_mode))}")
        if "owner" in check and info.st_uid != _uid(check["owner"]):
            problems.append(f"{check['path']}: owner uid {info.st_uid}, not {check['owner']}")
    for check in case.spec.get("txt", []):
        problems += _txt_roundtrip(stage, check)
    return problems


def _uid(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def _txt_roundtrip(stage: Stage, check: dict[str, Any]) -> list[str]:
    """The TXT value read back from the zone file by dnspython equals the one written."""
    import dns.rdatatype
    import dns.zone

    path = stage.root / check["path"]
    zone = dns.zone.from_file(str(path), origin=check["zone"], relativize=False)
    name = check["name"] if check["name"].endswith(".") else f"{check['name']}.{check['zone']}."
    rdataset = zone.get_rdataset(name, dns.rdatatype.TXT)
    want = _expand_tree(check["value"], stage).encode("utf-8")
    got = [b"".join(rdata.strings) for rdata in rdataset] if rdataset else []
    if want not in got:
        return [f"TXT {name}: {got!r} does not hold the value written ({want[:60]!r})"]
    return []


def _common(runs: list[Run], case: Case, stage: Stage, outside: Snapshot) -> list[str]:
    problems = []
    for run in runs:
        if run.code is None:
            problems.append(f"{run.label}: no answer within {COMMAND_TIMEOUT:.0f}s (a hang)")
        if TRACEBACK in run.output:
            problems.append(f"{run.label}: Python traceback\n{run.describe()}")
        limit = case.spec.get("max_seconds")
        if limit and run.seconds > float(limit):
            problems.append(f"{run.label}: took {run.seconds:.1f}s (limit {limit}s)")
        rss = case.spec.get("max_rss_mb")
        if rss and run.max_rss_mb > float(rss):
            problems.append(f"{run.label}: used {run.max_rss_mb:.0f} MB (limit {rss} MB)")
    changed = snapshot_diff(outside, snapshot(stage.outside))
    if changed:
        problems.append(f"files outside the root changed: {changed[:10]}")
    problems += _secret_problems(runs, _private_bodies(stage.root))
    printed = case.spec.get("printed")
    if printed:
        for run in runs:
            for line in run.output.splitlines():
                if line.startswith(("Now run:", "After apply, run:")):
                    command = line.split(":", 1)[1]
                    if "markdown" in run.label:  # commands are `code spans` there
                        spans = re.findall(r"(`+)\s?(.*?)\s?\1", command)
                        command = "; ".join(span for _, span in spans) if spans else command
                    bad = unquoted_expansions(command)
                    if bad:
                        problems.append(f"{run.label}: printed command runs {bad}: {line}")
    for line in case.spec.get("plan_regex", []):
        text_plans = [r for r in runs if r.label == "plan --format text"]
        if text_plans and not re.search(line, text_plans[0].output, re.MULTILINE):
            problems.append(f"plan output has no line matching {line!r}")
    return problems


def _prepare(case: Case, stage: Stage) -> list[str]:
    """State, and for ``prepare: apply`` a first apply of the unedited base."""
    problems = []
    if case.spec.get("prepare") == "apply":
        base = BASES / f"{case.spec.get('base', 'slackbox')}.yaml"
        stage.config.write_bytes(base.read_bytes())
        first = run_cli(
            "first apply",
            "apply",
            "-c",
            stage.config,
            "--root",
            stage.root,
            "--yes",
            cwd=stage.work,
        )
        if first.code != 0:
            problems.append(f"the base did not apply: {first.describe()}")
    for entry in case.spec.get("state", []):
        _place(stage, entry)
    _remember_host_milters(stage)
    return problems


_HOST_MILTERS = "host-milters.txt"


def _remember_host_milters(stage: Stage) -> None:
    """The host's own smtpd_milters before mailauth runs (see consumers.host_milters)."""
    found = consumers.host_milters(stage.root / "etc" / "postfix" / "main.cf")
    (stage.work / _HOST_MILTERS).write_text("\n".join(found))


def run_case(case: Case) -> list[str]:
    """Stage, run and judge one case; the problems found (empty: as expected)."""
    with staged(case) as stage:
        problems = _prepare(case, stage)
        if problems:
            return problems
        stage.config.write_bytes(config_bytes(case, stage))
        outside = snapshot(stage.outside)
        before_root = snapshot(stage.root)
        before_config = snapshot(stage.config_dir)
        c, r = stage.config, stage.root

        hung: list[str] = []
        limit = case.spec.get("max_seconds")
        timeout = min(COMMAND_TIMEOUT, float(limit) + 10) if limit else COMMAND_TIMEOUT

        def cli(label: str, *args: str | Path) -> Run:
            if hung:  # one hang is enough: do not wait for every command to hang too
                return Run(label, (), None, "", f"not run: `{hung[0]}` hung", 0.0, 0.0)
            run = run_cli(label, *args, cwd=stage.work, timeout=timeout)
            if run.code is None:
                hung.append(label)
            return run

        validate = cli("validate", "validate", "-c", c)
        plans = [
            cli(f"plan --format {fmt}", "plan", "-c", c, "--root", r, "--format", fmt)
            for fmt in ("text", "json", "markdown")
        ]
        runs = [validate, *plans]
        verdict: list[str] = []
        refused = _judge_refused(case, stage, validate, plans)
        refusing = validate.code != 0 or all(plan.code == 1 for plan in plans)
        if case.expect == "refused" or (case.expect == "either" and refusing):
            apply = cli("apply --yes", "apply", "-c", c, "--root", r, "--yes")
            runs.append(apply)
            verdict += refused
            if apply.code != 1:
                verdict.append(f"apply: exit {apply.code}, expected 1\n{apply.describe()}")
            changed = snapshot_diff(before_root, snapshot(stage.root))
            config_changes = snapshot_diff(before_config, snapshot(stage.config_dir))
            changed += [f"config dir: {x}" for x in config_changes]
            if changed:
                verdict.append(f"a refused case wrote: {changed[:10]}")
        else:
            verdict += _judge_accepted(case, stage, cli, validate, plans, runs)
        return verdict + _common(runs, case, stage, outside)


def _judge_refused(case: Case, stage: Stage, validate: Run, plans: list[Run]) -> list[str]:
    problems = []
    phase = case.stage
    if case.expect == "either":  # refused where it was refused
        phase = "validate" if validate.code != 0 else "plan"
    if phase == "validate":
        if validate.code != 1:
            problems.append(f"validate: exit {validate.code}, expected 1\n{validate.describe()}")
        else:
            problems += _error_problems(validate, stage.config, case)
    elif validate.code == 1:  # validate may see the root's state too (key files)
        problems += _error_problems(validate, stage.config, case)
    elif validate.code != 0:
        problems.append(
            f"validate: exit {validate.code}, expected 0 (the file itself is fine)\n"
            f"{validate.describe()}"
        )
    for plan in plans:
        if plan.code != 1:
            problems.append(f"{plan.label}: exit {plan.code}, expected 1\n{plan.describe()}")
    if plans[0].code == 1:
        problems += _error_problems(plans[0], stage.config, case)
    return problems


def _judge_accepted(
    case: Case,
    stage: Stage,
    cli: Callable[..., Run],
    validate: Run,
    plans: list[Run],
    runs: list[Run],
) -> list[str]:
    problems = []
    if validate.code != 0:
        return [f"validate: exit {validate.code}, expected 0\n{validate.describe()}"]
    for plan in plans:
        if plan.code not in (0, 2):
            problems.append(f"{plan.label}: exit {plan.code}, expected 0 or 2\n{plan.describe()}")
    if problems:
        return problems
    c, r = stage.config, stage.root
    apply = cli("apply --yes", "apply", "-c", c, "--root", r, "--yes")
    runs.append(apply)
    if apply.code != 0:
        return [f"apply: exit {apply.code}, expected 0\n{apply.describe()}"]
    again = cli("plan after apply", "plan", "-c", c, "--root", r)
    runs.append(again)
    if again.code != 0:
        problems.append(
            f"plan after apply: exit {again.code}, expected 0 (not idempotent)\n{again.describe()}"
        )
    problems += consumer_problems(stage)
    problems += _file_checks(case, stage)
    return problems
