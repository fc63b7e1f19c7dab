"""`scopecount model ...`: install, receive, list, activate, rollback, sign, authorize-key."""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shlex
import stat
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from device import config
from device.cli.options import Subcommands, add_config_option, add_store_option
from device.config import DEFAULT_STORE
from device.core.errors import BadInput
from device.core.keys import parse_keys
from device.core.text import printable, printable_path
from device.measuring.meta_values import plain_number
from device.measuring.modelfile import FEW_ZOOM_IMAGES, not_learnt_sentence, sig_path
from device.models.checks import Limits
from device.models.signing import read_signature_beside
from device.models.store import ModelStore
from device.models.store_records import MAX_FIGURE
from device.models.store_results import ActiveModel, InstallRecord, ListedModel, Pruned

ACTIONS = ["install", "receive", "list", "activate", "rollback", "sign", "authorize-key"]


def register(sub: Subcommands) -> None:
    m = sub.add_parser(
        "model",
        help="the bench's model store: install, receive, list, activate, rollback, sign",
        description="install FILE | receive (stdin) | list [--json] | activate NAME_OR_SHA | "
        "rollback | sign FILE --key KEY | authorize-key PUBKEY_FILE [--install]",
    )
    m.add_argument("action", choices=ACTIONS)
    m.add_argument("target", nargs="?", metavar="FILE|NAME_OR_SHA|PUBKEY_FILE")
    add_store_option(m)
    add_config_option(m, "for limits and trusted keys")
    m.add_argument("--json", action="store_true")
    m.add_argument("--sig", help="detached signature (base64) for install/receive")
    m.add_argument(
        "--force",
        action="store_true",
        help="install: take a model that `train` marked as NOT learnt (its results mean nothing)",
    )
    m.add_argument(
        "--reinstall",
        action="store_true",
        help="install: take back a model this store held before and replaced "
        "(a signed-only store refuses that otherwise)",
    )
    m.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="receive: give up when standard input is idle this long (default 30)",
    )
    m.add_argument("--key", metavar="KEY", help="ed25519 private key, for sign")
    m.add_argument("--install", action="store_true", help="authorize-key: append it")
    m.add_argument("--authorized-keys", metavar="FILE", help="default ~/.ssh/authorized_keys")
    m.set_defaults(func=run)


def _store(a: argparse.Namespace) -> tuple[ModelStore, list]:
    cfg = config.load(a.config)
    m = cfg.model
    limits = Limits(max_bytes=m.max_mb * 1024 * 1024, smoke_budget_s=m.smoke_budget_s, keep=m.keep)
    trusted = parse_keys(m.trusted_keys)
    if a.store is not None and not a.store.strip():
        raise BadInput("--store: an empty path (give the model store's folder)")
    root = Path(a.store or m.store)
    shown = printable(str(root), 80)
    try:
        st = os.stat(root)
        exists, is_dir = True, stat.S_ISDIR(st.st_mode)
    except FileNotFoundError:
        if root.is_symlink():
            raise BadInput(f"--store {shown}: a link to nothing") from None
        exists = is_dir = False
    except OSError as e:  # a name too long for the filesystem, a loop of links
        raise BadInput(f"--store {shown}: not a usable path ({e.strerror})") from None
    if exists and not is_dir:
        raise BadInput(f"--store {shown}: is a file, not a model store folder")
    if a.action not in ("install", "receive") and not exists:
        raise BadInput(f"--store {shown}: no such model store (nothing was installed there)")
    return ModelStore(root, limits), trusted


def _signature(a: argparse.Namespace) -> str | None:
    """From --sig, or from the command the client asked for when a forced command runs us."""
    if getattr(a, "sig", None):
        return a.sig
    try:
        words = shlex.split(os.environ.get("SSH_ORIGINAL_COMMAND", ""))
    except ValueError as e:
        raise BadInput(f"SSH_ORIGINAL_COMMAND: cannot read the request ({e})") from None
    if "--sig" in words and words.index("--sig") + 1 < len(words):
        return words[words.index("--sig") + 1]
    return None


RECEIVE_IDLE_S = 30.0  # no byte for this long: the sender is gone or never started
RECEIVE_TOTAL_S = 900.0  # 32 MB at 300 kbit/s; a trickle cannot hold the bench's store for ever


def read_input(fd: int, limit: int, idle_s: float, total_s: float = RECEIVE_TOTAL_S) -> bytes:
    """All bytes up to end of input, or BadInput (one line) when too many, too slow or idle."""
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + total_s
    while True:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(0.0, min(idle_s, left)))
        if not ready:
            if left <= idle_s:
                raise BadInput(
                    f"refused standard input: not complete after {total_s:g} s ({size} bytes)"
                )
            raise BadInput(
                f"refused standard input: nothing arrived for {idle_s:g} s ({size} bytes "
                "so far; send the model's bytes, then close the input)"
            )
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise BadInput(f"refused standard input: more than the {limit} byte limit")
        chunks.append(chunk)


def _sig_beside(model: Path, required: bool) -> str | None:
    """The .sig beside a model file. A store that trusts no keys checks no signature, so a
    damaged one there is set aside with a warning instead of blocking the install."""
    try:
        return read_signature_beside(model)
    except BadInput as e:
        if required:
            raise
        why = str(e).replace(" (refused)", "").replace("; refused)", ")")
        print(
            f"scopecount: warning: {why}; installed without it (this store checks no signatures)",
            file=sys.stderr,
        )
        return None


def _warn_not_learnt(info: InstallRecord | ActiveModel, where: str) -> None:
    """`train` marks a model that did not learn to count; installing it is allowed (a person
    may want to look at it) but never silent."""
    if info.learnt is False:
        task = getattr(info, "task", "count")  # an active model's record names none: count
        print(
            f"scopecount: warning: {printable(where)}: {not_learnt_sentence(task, info.train_mae)}"
            ": its results are not to be trusted; train it longer or on more annotated images",
            file=sys.stderr,
        )


COST_W, TRAINING_W = 31, 60  # `model list` columns: "2.00 GMAC (Pi 4 ~0.66 s)", "train MAE ..."


def _figures(m: Mapping[str, object]) -> str:
    """Cost per 1280x960 frame and what `train` measured, in columns of fixed width (absent from
    older stores; the store's own files are checked like a model's: a hand-edited one may hold
    anything)."""
    gmac, pi4, mae = (plain_number(m.get(k), MAX_FIGURE) for k in ("gmac", "pi4_s", "train_mae"))
    cost = f"{gmac:.2f} GMAC" if gmac is not None else ""
    cost += f" (Pi 4 ~{pi4:.2f} s)" if pi4 is not None else ""
    training = f"train MAE {mae:.4g}" if mae is not None else ""
    share = plain_number(m.get("train_share_pp"), 100)
    if m.get("task") == "areas":
        training = "areas" + (f", train share error {share:.2f} pts" if share is not None else "")
    elif m.get("task") == "landmarks":
        px = plain_number(m.get("train_error_px"), MAX_FIGURE)
        training = "landmarks" + (f", train error {px:.2f} px" if px is not None else "")
    # first, so that a long figure never cuts it off
    training = ("NOT LEARNT, " if m.get("learnt") is False else "") + training
    zr = m.get("zoom_range")
    if isinstance(zr, list) and len(zr) == 2:
        lo, hi = (plain_number(v, 100) for v in zr)
        if lo is not None and hi is not None and 0 < lo <= 1 <= hi:  # else: not a range train made
            images = plain_number(m.get("zoom_images"), 1e6)
            how = "rule" if images is None else "noisy" if images < FEW_ZOOM_IMAGES else ""
            training += f", zoom {lo:.2f}-{hi:.2f}x" + (f" ({how})" if how else "")
    if len(cost) >= COST_W:  # a file may claim absurd figures: they keep to their column
        cost = cost[: COST_W - 4] + "..."
    return f"{cost:<{COST_W}}{training[: TRAINING_W - 1]:<{TRAINING_W}}"


def _to_the_second(stamp: object) -> str:
    """An install time as `model list` shows it (records keep microseconds for the order)."""
    text = str(stamp)
    return re.sub(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d+", r"\1", text)


def _say_pruned(pruned: tuple[Pruned, ...]) -> None:
    for p in pruned:
        print(
            f"pruned {printable(p.name)} {printable(p.sha256[:12])}: "
            f"removed {printable_path(p.path)}",
            file=sys.stderr,
        )


def run(a: argparse.Namespace) -> int:
    if a.action == "sign":
        return _sign(a)
    if a.action == "authorize-key":
        return _authorize(a)
    store, trusted = _store(a)
    if a.action in ("install", "receive"):
        return _install(a, store, trusted)
    if a.action == "list":
        return _list(store, a.json)
    if a.action == "activate":
        return _activate(a, store, trusted)
    if a.action == "rollback":
        return _rollback(store, trusted)
    raise BadInput(f"model {a.action}: unknown action")


def _from_file(
    a: argparse.Namespace, store: ModelStore, trusted: list
) -> tuple[bytes, str, str | None]:
    """install FILE: its bytes, how messages name it, and its signature (--sig or FILE.sig)."""
    if not a.target:
        raise BadInput("model install: FILE is required")
    p = Path(a.target)
    if not p.is_file():
        raise BadInput(f"{printable_path(p)}: no such model file")
    if p.stat().st_size > store.limits.max_bytes:
        shown = printable_path(p)
        raise BadInput(f"refused {shown}: {p.stat().st_size} bytes is over the limit")
    data, where = p.read_bytes(), printable_path(p)  # `where`: for messages
    return data, where, a.sig or _sig_beside(p, required=bool(trusted))


def _from_stdin(a: argparse.Namespace, store: ModelStore) -> tuple[bytes, str, str | None]:
    """receive: the bytes a push sends on standard input, within the size and time limits."""
    if a.reinstall:
        # receive is what a pushed key's forced command runs: only a person at the
        # bench may bring back a replaced model (install --reinstall).
        raise BadInput("model receive: --reinstall is for `model install FILE` only")
    if sys.stdin is None:
        raise BadInput("model receive: no standard input")
    if not 0 < a.timeout <= 3600:  # also refuses nan
        raise BadInput(f"--timeout {a.timeout:g}: must be in (0, 3600] seconds")
    data = read_input(sys.stdin.fileno(), store.limits.max_bytes, a.timeout)
    return data, "standard input", _signature(a)


def _install(a: argparse.Namespace, store: ModelStore, trusted: list) -> int:
    if a.action == "install":
        data, where, sig = _from_file(a, store, trusted)
    else:
        data, where, sig = _from_stdin(a, store)
    res = store.install(data, where, sig, trusted, reinstall=a.reinstall, force=a.force)
    _say_pruned(res.pruned)
    _warn_not_learnt(res.record, where)
    again = " (installed here before)" if res.again else ""
    if res.already_active:
        again = " (it was already: nothing changed)"
    rec = res.record
    print(f"installed {printable(rec.name)} {rec.sha256[:12]} ({rec.size} bytes): active{again}")
    return 0


def _list(store: ModelStore, as_json: bool) -> int:
    listing = store.list()
    if as_json:
        print(json.dumps(listing.as_dict()))
        return 0
    if listing.models:
        print(
            f"  {'sha256':<12}  {'name':<28} {'classes':<20} {'size':>10} "
            f"{'cost per 1280x960 frame':<{COST_W}}{'training':<{TRAINING_W}}"
            "installed  (* active)"
        )
    for m in listing.models:
        print(_list_line(m))
    if not listing.models:
        print(f"no models in {store.shown}")
    return 0


def _list_line(m: ListedModel) -> str:
    """One model of `model list`, in its columns."""
    r = m.record  # as read: a hand-edited record may hold anything
    mark = "*" if m.active else " "
    names = r.get("classes")
    names = ",".join(map(str, names)) if isinstance(names, list) else "?"
    if r.get("task") == "landmarks" and isinstance(r.get("classes"), list):
        names = f"{len(r['classes'])} landmarks"  # numbered names say little in a column
    classes = printable(names, 17)  # cut to its column ('...' included)
    size = plain_number(r.get("size"), 1e12) or 0.0
    role = f"  ({m.role})" if m.role not in ("", "active") else ""
    return (
        f"{mark} {m.sha256[:12]}  {printable(str(r.get('name')), 25):<28} "
        f"{classes:<20} {size / 1024:7.0f} KB {_figures(r)}"
        f"{printable(_to_the_second(r.get('installed')))}{role}"
    )


def _activate(a: argparse.Namespace, store: ModelStore, trusted: list) -> int:
    if not a.target:
        raise BadInput("model activate: NAME_OR_SHA is required")
    info = store.activate(a.target, trusted)
    _warn_not_learnt(info, f"model {info.sha256[:12]}")
    print(f"active: {printable(info.name)} {info.sha256[:12]}")
    by_name = info.name == a.target and not info.sha256.startswith(a.target)
    models = store.list().models if by_name else ()
    same = [m for m in models if m.record.get("name") == a.target]
    if len(same) > 1:  # several models carry the name: the newest was taken
        print(
            f"scopecount: note: {len(same)} models are named {printable(a.target)}; this is "
            "the newest installed (give a sha256 from `model list` for another)",
            file=sys.stderr,
        )
    return 0


def _rollback(store: ModelStore, trusted: list) -> int:
    info = store.rollback(trusted)
    _warn_not_learnt(info, f"model {info.sha256[:12]}")
    kept = f"; {info.left[:12]} stays in the store" if info.left else ""
    print(f"rolled back: active {printable(info.name)} {info.sha256[:12]}{kept}")
    return 0


def _sign(a: argparse.Namespace) -> int:
    from device.core.durable import replace_file
    from device.models.signing import load_private_key, sign

    if not a.target or not Path(a.target).is_file():
        raise BadInput(f"model sign: {a.target}: no such model file")
    if not a.key:
        raise BadInput("model sign: --key KEY (an ed25519 private key) is required")
    sig = sign(Path(a.target).read_bytes(), load_private_key(a.key))
    out = sig_path(a.target)
    replace_file(out, (sig + "\n").encode())
    print(f"wrote {out} (deploy sends it with the model)")
    return 0


def _authorize(a: argparse.Namespace) -> int:
    if not a.target:
        raise BadInput("model authorize-key: PUBKEY_FILE is required")
    p = Path(a.target)
    try:
        key = p.read_text().strip().splitlines()[0]
    except (OSError, IndexError):
        raise BadInput(f"{p}: cannot read a public key from it") from None
    if not key.startswith(("ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-")):
        raise BadInput(f"{p}: not an OpenSSH public key")
    exe = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).exists() else Path("scopecount")
    cmd = f"{exe} model receive --store {shlex.quote(a.store or DEFAULT_STORE)}"
    if a.config:
        cmd += f" --config {shlex.quote(a.config)}"
    line = f'restrict,command="{cmd}" {key}'
    if a.install:
        auth = Path(a.authorized_keys or Path.home() / ".ssh" / "authorized_keys")
        auth.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        existing = auth.read_text() if auth.exists() else ""
        if line not in existing:
            with open(auth, "a") as f:
                f.write(("" if existing.endswith("\n") or not existing else "\n") + line + "\n")
            os.chmod(auth, 0o600)
        print(f"added to {auth}: {line}")
    else:
        print(line)
    return 0
