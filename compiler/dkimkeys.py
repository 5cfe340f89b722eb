"""DKIM key material: generate, adopt, store and check private keys.

mailauth owns the whole life of a DKIM key: it creates the private key in the exact file
format the signers read, derives the public half that goes into DNS and the lock file, writes
the private key so that no other user can ever read it, and checks the key store the way
OpenDKIM will before OpenDKIM gets the chance to refuse it at 3 a.m.

File formats (what the signers read):

* RSA: PEM. We write PKCS#1 (``BEGIN RSA PRIVATE KEY``), which every OpenDKIM and every
  dkimpy version reads. OpenDKIM loads keys with OpenSSL's generic PEM reader, so it also
  takes PKCS#8 (``BEGIN PRIVATE KEY``), which is what ``opendkim-genkey`` produces on
  OpenSSL 3 systems; dkimpy reads PKCS#8 too since it learnt about OpenSSL 3. Both are
  accepted when adopting an existing key.
* Ed25519: dkimpy (and so dkimpy-milter's ``KeyFileEd25519``) hands the file content to
  ``nacl.signing.SigningKey(..., encoder=Base64Encoder)``, i.e. the base64 of the raw 32-byte
  RFC 8032 seed. A trailing newline is harmless (base64 decoding drops it). DNS carries
  ``k=ed25519; p=<base64 of the raw 32-byte public key>`` (RFC 8463).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import grp
import hashlib
import itertools
import multiprocessing
import os
import pwd
import re
import secrets
import stat
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from mailauth.compiler.fsio import fsync_dir

__all__ = [
    "ALGORITHMS",
    "ED25519",
    "ED25519_BITS",
    "MIN_RSA_BITS",
    "RSA",
    "PublicKeyInfo",
    "check_key_path_safe",
    "generate_private_key",
    "new_key",
    "new_keys",
    "parse_dkim_txt",
    "public_key_from_private",
    "write_private_key",
]

RSA = "rsa"
ED25519 = "ed25519"
ALGORITHMS: tuple[str, ...] = (RSA, ED25519)
#: RFC 8301: signers MUST use RSA keys of at least 1024 bits; verifiers ignore smaller ones.
MIN_RSA_BITS = 1024
ED25519_BITS = 256
_RSA_PUBLIC_EXPONENT = 65537
_ED25519_SEED_LEN = 32

_PEM_BEGIN = b"-----BEGIN "
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_WSP = re.compile(r"\s+")


@dataclass(frozen=True)
class PublicKeyInfo:
    """The public, shareable facts about a DKIM key: what DNS and the lock file need.

    Holds nothing secret, so it may be printed, logged and committed.
    """

    algorithm: str
    bits: int
    public_key_b64: str
    fingerprint: str

    def dkim_txt(self) -> str:
        """The DKIM key record value to publish at ``<selector>._domainkey.<domain>``."""
        return f"v=DKIM1; k={self.algorithm}; p={self.public_key_b64}"


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"unknown DKIM key algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS)}"
        )


def _info(algorithm: str, bits: int, public_bytes: bytes) -> PublicKeyInfo:
    return PublicKeyInfo(
        algorithm=algorithm,
        bits=bits,
        public_key_b64=base64.b64encode(public_bytes).decode("ascii"),
        fingerprint="sha256:" + hashlib.sha256(public_bytes).hexdigest(),
    )


def generate_private_key(algorithm: str, bits: int) -> bytes:
    """Make a new private key and return the key FILE content the signers read.

    RSA: PEM PKCS#1 with exponent 65537 (readable by OpenDKIM and any dkimpy).
    Ed25519: base64 of the raw 32-byte seed plus a newline (dkimpy-milter KeyFileEd25519).
    """
    _check_algorithm(algorithm)
    if algorithm == RSA:
        if bits < MIN_RSA_BITS:
            raise ValueError(
                f"RSA DKIM keys need at least {MIN_RSA_BITS} bits (RFC 8301), got {bits}"
            )
        rsa_key = rsa.generate_private_key(public_exponent=_RSA_PUBLIC_EXPONENT, key_size=bits)
        return rsa_key.private_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PrivateFormat.TraditionalOpenSSL,
            encryption_algorithm=serialization.NoEncryption(),
        )
    if bits != ED25519_BITS:
        raise ValueError(f"Ed25519 keys are always {ED25519_BITS} bits, got {bits}")
    seed = ed25519.Ed25519PrivateKey.generate().private_bytes_raw()
    return base64.b64encode(seed) + b"\n"


def new_key(algorithm: str, bits: int) -> tuple[bytes, PublicKeyInfo]:
    """A new private key file's content and its public facts."""
    private = generate_private_key(algorithm, bits)
    return private, public_key_from_private(private, algorithm)


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


#: Ed25519 keys take microseconds each: a pool pays off only for many, made in chunks.
ED25519_POOL_MIN = 4096
_ED25519_CHUNK = 1024


def _new_key_chunk(algorithm: str, bits: Sequence[int]) -> list[tuple[bytes, PublicKeyInfo]]:
    return [new_key(algorithm, size) for size in bits]


def new_keys(
    specs: Sequence[tuple[str, int]],
    *,
    workers: int | None = None,
    done: Callable[[int], None] | None = None,
) -> list[tuple[bytes, PublicKeyInfo]]:
    """``new_key`` for each (algorithm, bits), in order, on every core.

    An RSA key takes tens of milliseconds of prime search; RSA keys are made in a pool of
    processes, one per core (``workers``). Ed25519 keys take microseconds: they go to the
    pool in chunks when there are thousands, else they are made here. ``done(i)`` is called
    as key ``i`` is ready, in order. Should the pool fail, the remaining keys are made one
    after the other.
    """
    out: list[tuple[bytes, PublicKeyInfo]] = []

    def keep(key: tuple[bytes, PublicKeyInfo]) -> None:
        out.append(key)
        if done is not None:
            done(len(out) - 1)

    count = workers if workers is not None else _workers()
    slow = [spec for spec in specs if spec[0] == RSA]
    quick = [bits for algorithm, bits in specs if algorithm == ED25519]
    pooled_quick = len(quick) >= ED25519_POOL_MIN
    if count > 1 and (len(slow) > 1 or pooled_quick):
        methods = multiprocessing.get_all_start_methods()
        # fork: the workers start at once, with everything already imported.
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        try:
            with ProcessPoolExecutor(count, mp_context=context) as pool:
                made = pool.map(new_key, [a for a, _ in slow], [b for _, b in slow])
                chunks = [
                    quick[i : i + _ED25519_CHUNK] for i in range(0, len(quick), _ED25519_CHUNK)
                ]
                quick_made: Iterator[tuple[bytes, PublicKeyInfo]] = iter(())
                if pooled_quick:
                    quick_made = itertools.chain.from_iterable(
                        pool.map(_new_key_chunk, [ED25519] * len(chunks), chunks)
                    )
                for algorithm, bits in specs:
                    if algorithm == RSA:
                        keep(next(made))
                    elif algorithm == ED25519 and pooled_quick:
                        keep(next(quick_made))
                    else:
                        keep(new_key(algorithm, bits))
        except (OSError, BrokenProcessPool):
            pass  # the rest below, one after the other
    for algorithm, bits in specs[len(out) :]:
        keep(new_key(algorithm, bits))
    return out


def _kind(key: PrivateKeyTypes) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "an RSA key"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "an Ed25519 key"
    return f"a {type(key).__name__.removeprefix('_')} key"


def _load_pem(data: bytes, algorithm: str) -> PrivateKeyTypes:
    # Errors are re-raised "from None": the message is ours and never quotes the input.
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ValueError(
            f"{algorithm} key file is encrypted with a passphrase; "
            "DKIM signers need an unencrypted key"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(f"{algorithm} key file is PEM but holds no readable private key") from None


def _rsa_info(data: bytes) -> PublicKeyInfo:
    if not data.lstrip().startswith(_PEM_BEGIN):
        hint = ""
        if _looks_like_seed(data):
            hint = " (it looks like a base64 Ed25519 seed)"
        raise ValueError(f"rsa key file is not a PEM private key{hint}")
    key = _load_pem(data, RSA)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"expected an RSA private key, but the file holds {_kind(key)}")
    if key.key_size < MIN_RSA_BITS:
        raise ValueError(
            f"RSA key has {key.key_size} bits; DKIM needs at least {MIN_RSA_BITS} (RFC 8301)"
        )
    der = key.public_key().public_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return _info(RSA, key.key_size, der)


def _looks_like_seed(data: bytes) -> bool:
    try:
        decoded = base64.b64decode(_WSP.sub("", data.decode("ascii")), validate=True)
    except (UnicodeDecodeError, binascii.Error):
        return False
    return len(decoded) == _ED25519_SEED_LEN


def _ed25519_info(data: bytes) -> PublicKeyInfo:
    if data.lstrip().startswith(_PEM_BEGIN):
        key = _load_pem(data, ED25519)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError(f"expected an Ed25519 private key, but the file holds {_kind(key)}")
        ed_key = key
    else:
        try:
            seed = base64.b64decode(_WSP.sub("", data.decode("ascii")), validate=True)
        except (UnicodeDecodeError, binascii.Error):
            raise ValueError(
                "ed25519 key file is neither base64 (a raw 32-byte seed) nor PEM"
            ) from None
        if len(seed) != _ED25519_SEED_LEN:
            raise ValueError(
                f"ed25519 key file decodes to {len(seed)} bytes; "
                f"expected the {_ED25519_SEED_LEN}-byte raw seed that dkimpy reads"
            )
        ed_key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    return _info(ED25519, ED25519_BITS, ed_key.public_key().public_bytes_raw())


def public_key_from_private(data: bytes, algorithm: str) -> PublicKeyInfo:
    """Derive the public facts from a private key file's content.

    This is how existing keys (e.g. from opendkim-genkey) are adopted and how the lock file
    is checked against the key store. RSA: PEM PKCS#1 or PKCS#8. Ed25519: base64 raw seed
    (dkimpy format) or PEM PKCS#8. Raises ValueError naming the problem, never the key.
    """
    _check_algorithm(algorithm)
    if algorithm == RSA:
        return _rsa_info(data)
    return _ed25519_info(data)


def make_key_dirs(directory: Path, dir_mode: int, uid: int | None, gid: int | None) -> list[Path]:
    """Create the missing directories down to ``directory``; return those we created.

    They get ``dir_mode`` and, when given, ``uid``/``gid``; existing ones are left alone.
    """
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    created: list[Path] = []
    for new_dir in reversed(missing):
        try:
            os.mkdir(new_dir, dir_mode)
        except FileExistsError:
            continue  # someone else made it meanwhile: it is theirs, leave its mode alone
        created.append(new_dir)
        os.chmod(new_dir, dir_mode)  # the umask may have taken bits away
        if uid is not None or gid is not None:
            # The signer must be able to traverse the store it owns (a root-owned 0700
            # directory would lock out OpenDKIM after it drops privileges).
            os.chown(new_dir, -1 if uid is None else uid, -1 if gid is None else gid)
    return created


def write_private_key(
    path: Path,
    data: bytes,
    *,
    uid: int | None = None,
    gid: int | None = None,
    dir_mode: int = 0o700,
) -> None:
    """Store a new private key atomically, mode 0600, never replacing an existing key.

    Missing parent directories are created with ``dir_mode`` (and ``uid``/``gid`` when
    given); existing directories are left exactly as they are. The key is written to a
    0600 temp file in the target directory, chowned and fsynced, then linked into place
    (``link`` fails if the name exists, so a key that appears meanwhile is not clobbered),
    and the directory is fsynced. Raises FileExistsError if ``path`` already exists.
    """
    path = Path(path)
    if os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, "refusing to overwrite an existing key", str(path))
    directory = path.parent
    created = make_key_dirs(directory, dir_mode, uid, gid)

    tmp = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # exact mode whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if uid is not None or gid is not None:
                os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
            os.fsync(fd)  # after fchown, so the owner is as durable as the data
        finally:
            os.close(fd)
        link_into_place(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)

    fsync_dir(directory)
    for new_dir in created:
        fsync_dir(new_dir.parent)


def link_into_place(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path``, failing with FileExistsError if that name exists."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST, "refusing to overwrite an existing key", str(path)
        ) from None
    except OSError as exc:
        # Filesystems without hard links: fall back to rename after a last check.
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
            raise
        if os.path.lexists(path):
            raise FileExistsError(
                errno.EEXIST, "refusing to overwrite an existing key", str(path)
            ) from None
        os.replace(tmp, path)


def _group_outsider(gid: int, my_uid: int, my_name: str | None) -> str | None:
    """Say why group ``gid`` holds someone besides the signer and root; None if it does not."""
    for entry in pwd.getpwall():
        if entry.pw_gid == gid and entry.pw_uid not in (my_uid, 0):
            return f"group {gid} also holds user {entry.pw_name}"
    try:
        members = grp.getgrgid(gid).gr_mem
    except KeyError:
        return f"group {gid} does not exist, so its members cannot be checked"
    for member in members:
        if member not in (my_name, "root"):
            return f"group {gid} also holds user {member}"
    return None


def check_key_path_safe(path: Path, *, uid: int | None = None) -> list[str]:
    """List the reasons OpenDKIM would call this key "not secure"; [] means it is safe.

    OpenDKIM (RequireSafeKeys, on by default) resolves the key path with realpath() and
    inspects every component from ``/`` down, as seen by the uid it runs as (its UserID;
    pass ``uid``, default: our effective uid):

    * the key file must be owned by that uid or root, and nobody else may read or write it:
      no "other" read/write bit, and group read/write only if nobody besides that user and
      root is in the file's group (as primary group or listed member);
    * no directory on the way may be writable by "other" users. The sticky bit does not
      help: ``/tmp`` (1777) is refused ("/tmp can be read or written by other users");
    * a group-writable directory is accepted only if its group holds nobody besides that
      user and root, and an owner-writable directory must be owned by that user or root.

    OpenDKIM stops at the first problem; this reports them all. A group that does not exist
    is reported too (OpenDKIM cannot vouch for it either). A missing path is a problem.
    """
    my_uid = os.geteuid() if uid is None else uid
    try:
        my_name: str | None = pwd.getpwuid(my_uid).pw_name
    except KeyError:
        my_name = None
    problems: list[str] = []

    real = Path(os.path.realpath(path))
    nodes = [*reversed(real.parents), real]
    for node in nodes:
        try:
            st = os.stat(node)
        except FileNotFoundError:
            problems.append(f"{node} does not exist")
            break
        except OSError as exc:
            problems.append(f"{node} cannot be examined ({exc.strerror})")
            break
        mode = st.st_mode
        if node == real:
            if not stat.S_ISREG(mode):
                problems.append(f"{node} is not a regular file")
                break
            if st.st_uid not in (0, my_uid):
                problems.append(f"{node} is owned by uid {st.st_uid}, not by uid {my_uid} or root")
            if mode & (stat.S_IRGRP | stat.S_IWGRP):
                outsider = _group_outsider(st.st_gid, my_uid, my_name)
                if outsider is not None:
                    problems.append(f"{node} is group-readable or -writable and {outsider}")
            if mode & (stat.S_IROTH | stat.S_IWOTH):
                problems.append(f"{node} can be read or written by other users")
        elif stat.S_ISDIR(mode):
            if mode & stat.S_IWOTH:
                sticky = " (the sticky bit does not count)" if mode & stat.S_ISVTX else ""
                problems.append(f"{node} is writable by other users{sticky}")
            if mode & stat.S_IWGRP:
                outsider = _group_outsider(st.st_gid, my_uid, my_name)
                if outsider is not None:
                    problems.append(f"{node} is group-writable and {outsider}")
            if mode & stat.S_IWUSR and st.st_uid not in (0, my_uid):
                problems.append(
                    f"{node} is writable by its owner uid {st.st_uid}, "
                    f"who is neither uid {my_uid} nor root"
                )
    return problems


def parse_dkim_txt(value: str) -> dict[str, str]:
    """Split a DKIM key record (RFC 6376 tag=value list) into a dict, in record order.

    Tolerates whitespace around tags, values and separators, and a trailing ``;``. Inside
    ``p=`` whitespace is dropped (it is base64, and long records are often wrapped).
    Duplicate tags, empty tag names or segments without ``=`` raise ValueError; messages
    name tags, never values.
    """
    tags: dict[str, str] = {}
    for index, segment in enumerate(value.split(";"), start=1):
        if not segment.strip():
            continue
        name, sep, tag_value = segment.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"DKIM record: segment {index} has no '=' (expected tag=value)")
        if not _TAG_NAME.match(name):
            raise ValueError(f"DKIM record: segment {index} has an invalid tag name")
        if name in tags:
            raise ValueError(f"DKIM record: tag {name!r} appears more than once")
        tag_value = tag_value.strip()
        if name == "p":
            tag_value = _WSP.sub("", tag_value)
        tags[name] = tag_value
    return tags
