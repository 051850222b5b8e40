"""`chipreg`: the operator's command-line agent for the chipreg registry.

Commands (each has --help):

  keygen           create a signing key (PKCS8 PEM, mode 0600), print its public key and keyid
  register-key     register the public key with the registry (POST /api/v1/keys/)
  inventory        list this host's accelerators (NVML) or those in nvidia-smi -q -x files
  sample           record NVML energy/utilization/power samples into a local SQLite file
  attest location  sign and submit a location statement built from the inventory
  attest usage     sign and submit a usage statement built from the recorded samples
  flush            send the statements queued in the outbox, fetch missing receipts
  verify-receipt   verify a receipt offline against the pinned log key (and an envelope)
  verify-evidence  verify an alert's evidence bundle offline against the pinned log key
  monitor          check the log's latest checkpoint is consistent with the last one seen

Configuration: flags override the environment (CHIPREG_URL, CHIPREG_TOKEN,
CHIPREG_KEY, CHIPREG_STATE_DIR, ...), which overrides the config file
(~/.config/chipreg/agent.toml or --config); see agent/config.py.

Exit codes:
  0  success
  1  unexpected error
  2  usage or configuration error (arguments, config file, key file, input file)
  3  the registry refused the request (4xx problem details)
  4  the registry is unreachable or answered 5xx (signed statements stay queued)
  5  verification failure (receipt, evidence bundle, checkpoint signature, split view of the log)

Every signed statement is stored in the outbox before it is sent: nothing that
was signed is lost, and nothing is signed twice.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from agent import inventory as inv
from agent.config import Config, default_config_path, load_config
from agent.errors import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    AgentError,
    RefusedError,
    UnreachableError,
    UsageError,
)
from agent.util import parse_duration, parse_instant, utcnow, whole_seconds
from protocol.statements import MAX_USAGE_PERIOD

PROG = "chipreg"
KEYS_PATH = "/api/v1/keys/"


def _epilog() -> str:
    return "exit codes: 0 ok, 1 error, 2 usage/config, 3 refused (4xx), 4 unreachable/5xx (queued), 5 verification"


# --- output helpers ------------------------------------------------------------------


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def info(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# --- configuration --------------------------------------------------------------------


def _config(args: argparse.Namespace) -> Config:
    flags = {
        "url": getattr(args, "url", None),
        "key": getattr(args, "key", None),
        "state_dir": getattr(args, "state_dir", None),
        "passphrase_env": getattr(args, "passphrase_env", None),
        "timeout": getattr(args, "timeout", None),
        "operator": getattr(args, "operator", None),
        "facility": getattr(args, "facility", None),
        "cluster": getattr(args, "cluster", None),
        "log_key": getattr(args, "log_key", None),
    }
    return load_config(flags, config_path=getattr(args, "config", None))


def _registry(cfg: Config, with_token: bool = True):
    from agent.client import Registry

    return Registry(cfg.require_url(), cfg.require_token() if with_token else None, cfg.timeout, cfg.ca_file)


def _signing_key(cfg: Config):
    from agent.keys import load_signing_key

    return load_signing_key(cfg.require_key(), cfg.passphrase_env)


# --- keygen / register-key ---------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace) -> int:
    from agent.keys import generate_private_key, passphrase_from_env, write_private_key
    from protocol.dsse import public_key_from_object

    cfg = _config(args)
    out = Path(args.out).expanduser() if args.out else cfg.key
    if out is None:
        out = default_config_path(dict(os.environ)).parent / "signing-key.pem"
    passphrase = passphrase_from_env(args.passphrase_env) if args.passphrase_env else None
    private_key = generate_private_key(args.algorithm)
    public = public_key_from_object(private_key.public_key())
    write_private_key(out, private_key, passphrase)
    sys.stdout.write(public.pem if public.pem.endswith("\n") else public.pem + "\n")
    sys.stdout.write(f"keyid: {public.keyid}\n")
    info(f"private key written to {out} (mode 0600{', encrypted' if passphrase else ''}); set CHIPREG_KEY={out}")
    return EXIT_OK


def cmd_register_key(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.public_key:
        from agent.keys import load_public_pem

        public = load_public_pem(Path(args.public_key))
    else:
        public = _signing_key(cfg).public
    registry = _registry(cfg)
    name = args.name or f"{socket.gethostname()} {public.keyid[:12]}"
    body = json.dumps({"public_key": public.pem, "name": name}).encode("utf-8")
    resp = registry.post_json(KEYS_PATH, body)
    if resp.status >= 500:
        raise UnreachableError(f"registry answered {resp.describe()}")
    if resp.status not in (200, 201):
        raise RefusedError(f"registry refused the key: {resp.describe()}", resp.code, resp.status)
    data = resp.json() if isinstance(resp.json(), dict) else {}
    remote = data.get("keyid")
    if remote is not None and remote != public.keyid:
        from agent.errors import VerificationError

        raise VerificationError(f"the registry registered keyid {remote}, but this key's keyid is {public.keyid}")
    if args.json:
        _print_json(data)
    else:
        sys.stdout.write(f"registered key {public.keyid} as {name!r}\n")
    return EXIT_OK


# --- inventory -----------------------------------------------------------------------


def _collect(args: argparse.Namespace, cfg: Config) -> list[inv.Gpu]:
    gpus = inv.collect(args.from_xml, args.manufacturer, cfg.models)
    for gpu in gpus:
        for w in gpu.warnings:
            warn(w)
    return gpus


INVENTORY_COLUMNS = ("source", "#", "product", "chip", "model", "uuid", "board part", "power limit")


def _columns(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Plain columns, as the README shows them: each as wide as its widest cell, two spaces apart, one space
    before the first, nothing after the last. Never folded to the terminal's width, so `awk`, `grep` and a
    narrow terminal read the same lines (a boxed table wrapped them, and its box drawing was in every line)."""
    # A cell is read from an XML file or the driver: a control character in it (a newline, a carriage return, a
    # terminal escape) would break its row or drive the terminal, so it prints as "?".
    rows = [tuple("".join(ch if ch.isprintable() else "?" for ch in cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return "".join(
        " " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in (header, *rows)
    )


def _inventory_row(g: inv.Gpu) -> tuple[str, ...]:
    return (
        g.source if g.source == "nvml" else Path(g.source).name,
        str(g.index),
        g.name or "?",
        g.chip or "none",  # no serial: the warning on stderr says why
        g.model or "unknown",  # a product the agent has no slug for (the [models] table of the config adds one)
        g.uuid or "",
        g.board_part_number or "",
        f"{g.power_limit_w:g} W" if g.power_limit_w is not None else "",
    )


def cmd_inventory(args: argparse.Namespace) -> int:
    cfg = _config(args)
    gpus = _collect(args, cfg)
    if args.json:
        _print_json([g.as_json() for g in gpus])
        return EXIT_OK
    sys.stdout.write(_columns(INVENTORY_COLUMNS, [_inventory_row(g) for g in gpus]))
    return EXIT_OK


# --- sample --------------------------------------------------------------------------


def cmd_sample(args: argparse.Namespace) -> int:
    from agent.samples import Collector, SampleStore

    cfg = _config(args)
    interval = parse_duration(args.interval)
    duration = parse_duration(args.duration) if args.duration else None
    db = Path(args.db).expanduser() if args.db else cfg.samples_path
    with SampleStore(db) as store:
        collector = Collector(store, interval, warn=warn)
        n = collector.run(once=args.once, duration_s=duration)
        total = store.count()
    info(f"recorded {n} sample(s) into {db} ({total} in all)")
    return EXIT_OK


# --- attest --------------------------------------------------------------------------


def _need(value: str | None, what: str, flag: str, env: str) -> str:
    if not value:
        raise UsageError(f"no {what}: pass {flag}, set {env}, or set it in the config file")
    return value


def _report(outcome: Any, as_json: bool) -> None:
    for w in outcome.warnings:
        warn(w)
    if as_json:
        _print_json(outcome.as_json())
        return
    if outcome.status in ("accepted", "already_accepted"):
        r = outcome.remote or {}
        line = f"{outcome.status.replace('_', ' ')}: id {r.get('id')}"
        if r.get("log_index") is not None:
            line += f", log index {r.get('log_index')}"
        if isinstance(r.get("chips"), (int, list)):
            line += f", {r['chips'] if isinstance(r['chips'], int) else len(r['chips'])} chip(s)"
        flags = r.get("flags")
        if flags:
            line += f", {len(flags) if isinstance(flags, list) else flags} flag(s)"
        sys.stdout.write(line + "\n")
        if outcome.receipt_path:
            sys.stdout.write(f"receipt: {outcome.receipt_path}\n")
        if isinstance(flags, list):
            for f in flags[:50]:
                sys.stdout.write(f"  flag: {json.dumps(f, ensure_ascii=False) if not isinstance(f, str) else f}\n")
    elif outcome.exit_code:
        print(f"{PROG}: {outcome.message}", file=sys.stderr)
    else:
        sys.stdout.write(outcome.message + "\n")


def _attest(args: argparse.Namespace, cfg: Config, kind: str, build: Any) -> int:
    """Sign, store, flush the outbox, send; `build(nonce)` returns the statement bytes."""
    from agent.outbox import Outbox
    from agent.submit import Deliverer

    if args.dry_run:
        import secrets

        if cfg.key is not None:
            # Loaded, not used: a key the real run would refuse (open to others, a wrong passphrase) fails the dry
            # run too. With none configured yet, the statement is still shown.
            _signing_key(cfg)
        sys.stdout.write(build(secrets.token_hex(16)).decode("utf-8") + "\n")
        info("dry run: nothing was signed or sent")
        return EXIT_OK
    key = _signing_key(cfg)
    registry = _registry(cfg)
    log_key = _pinned_log_key(cfg, required=False)
    with Outbox(cfg.outbox_path) as outbox:
        deliverer = Deliverer(registry, outbox, cfg.receipts_dir, log_key)
        unreachable = None
        if outbox.pending() or outbox.receipts_pending():
            for o in deliverer.flush():
                for w in o.warnings:
                    warn(f"outbox entry {o.entry_id}: {w}")
                if o.status not in ("accepted", "already_accepted") or o.exit_code:
                    warn(f"outbox entry {o.entry_id}: {o.message}")
                if o.exit_code == EXIT_UNREACHABLE:
                    unreachable = o.message
        entry = outbox.sign_and_store(key, kind, build)
        if unreachable is None:
            outcome = deliverer.deliver(entry)
        else:  # do not wait for a second timeout: queue it with the reason just seen
            from agent.submit import Outcome

            outbox.note_attempt(entry.id, unreachable)
            outcome = Outcome(entry.id, "queued", unreachable, EXIT_UNREACHABLE)
        _report(outcome, args.json)
        if outcome.status == "queued":
            info(f"{len(outbox.pending())} statement(s) queued in {cfg.outbox_path}; run `chipreg flush` later")
        return outcome.exit_code


def cmd_attest_location(args: argparse.Namespace) -> int:
    from agent import statements

    cfg = _config(args)
    operator = _need(cfg.operator, "operator", "--operator", "CHIPREG_OPERATOR")
    facility = _need(cfg.facility, "facility", "--facility", "CHIPREG_FACILITY")
    gpus = _collect(args, cfg)
    observed_at = whole_seconds(utcnow())
    chips = inv.chip_entries(gpus)
    if not chips and not args.allow_empty:
        raise UsageError("no chips found; pass --allow-empty --scope complete to state that the facility is empty")

    def build(nonce: str) -> bytes:
        return statements.serialize(
            statements.location(
                operator=operator,
                facility=facility,
                chips=chips,
                scope=args.scope,
                observed_at=observed_at,
                issued_at=max(observed_at, whole_seconds(utcnow())),
                nonce=nonce,
                cluster=cfg.cluster,
            )
        )

    return _attest(args, cfg, "location", build)


def cmd_attest_usage(args: argparse.Namespace) -> int:
    from agent import statements
    from agent.samples import SampleStore

    cfg = _config(args)
    operator = _need(cfg.operator, "operator", "--operator", "CHIPREG_OPERATOR")
    facility = _need(cfg.facility, "facility", "--facility", "CHIPREG_FACILITY")
    now = whole_seconds(utcnow())
    since = parse_instant(args.since, now)
    until = parse_instant(args.until, now) if args.until else now
    if until > now:
        raise UsageError("--until is in the future")
    if until <= since:
        raise UsageError("--until must be after --since")
    if until - since > MAX_USAGE_PERIOD:
        raise UsageError("a usage period may be at most 31 days long")
    dbs = [Path(p).expanduser() for p in args.db] if args.db else [cfg.samples_path]
    usages = []
    for db in dbs:
        if not db.exists():
            raise UsageError(f"no sample database at {db} (record samples with `chipreg sample`)")
        with SampleStore(db) as store:
            usages.extend(store.usage(since.timestamp(), until.timestamp()))
    usages = _chip_usages(usages)
    if not usages:
        raise UsageError(f"no samples of a named chip between {since.isoformat()} and {until.isoformat()}")

    def build(nonce: str) -> bytes:
        return statements.serialize(
            statements.usage(
                operator=operator,
                facility=facility,
                period_start=since,
                period_end=until,
                usages=usages,
                issued_at=max(until, whole_seconds(utcnow())),
                nonce=nonce,
                workload=args.workload,
                run=args.run,
            )
        )

    return _attest(args, cfg, "usage", build)


CHALLENGES_PATH = "/api/v1/challenges/"
CHALLENGE_CHARS = set("0123456789abcdef")


def _challenge(args: argparse.Namespace, cfg: Config) -> str:
    """--challenge, or a fresh one from the registry (HARDWARE.md 1)."""
    if args.challenge:
        challenge = args.challenge.strip().lower()
        if len(challenge) != 64 or not set(challenge) <= CHALLENGE_CHARS:
            raise UsageError("--challenge must be 64 hex characters")
        return challenge
    if args.dry_run:
        return "0" * 64
    resp = _registry(cfg).post_json(CHALLENGES_PATH, b"", label="asking for a challenge")
    if resp.status >= 500:
        raise UnreachableError(f"registry answered {resp.describe()} to the challenge request")
    data = resp.json() if resp.status == 201 else None
    nonce = data.get("nonce") if isinstance(data, dict) else None
    if not isinstance(nonce, str) or len(nonce) != 64 or not set(nonce) <= CHALLENGE_CHARS:
        raise RefusedError(f"the registry gave no challenge: {resp.describe()}", resp.code, resp.status)
    return nonce


def cmd_attest_evidence(args: argparse.Namespace) -> int:
    from agent import hardware, statements

    cfg = _config(args)
    operator = _need(cfg.operator, "operator", "--operator", "CHIPREG_OPERATOR")
    facility = _need(cfg.facility, "facility", "--facility", "CHIPREG_FACILITY")
    if args.from_files and not args.challenge:
        raise UsageError("--from-files needs --challenge: the nonce the recorded reports were made over")
    challenge = _challenge(args, cfg)
    if args.from_files:
        collected = hardware.from_files(args.from_files)
    else:
        gpus = inv.collect(None, args.manufacturer, cfg.models, instead=hardware.FROM_FILES)
        collected = hardware.from_nvml(challenge, {g.serial: g.chip for g in gpus if g.serial and g.chip})
    for line in collected.problems:
        warn(line)
    if not collected.evidence:
        raise UsageError("no GPU produced evidence; nothing to send")
    observed_at = whole_seconds(utcnow())
    roots = Path(args.roots).expanduser() if args.roots else None
    for line in hardware.check_locally(collected, challenge, observed_at, roots):
        warn(line)

    def build(nonce: str) -> bytes:
        return statements.serialize(
            statements.evidence(
                operator=operator,
                facility=facility,
                challenge=challenge,
                items=collected.evidence,
                observed_at=observed_at,
                issued_at=max(observed_at, whole_seconds(utcnow())),
                nonce=nonce,
            )
        )

    return _attest(args, cfg, "evidence", build)


def _chip_usages(usages: list[Any]) -> list[Any]:
    out, seen = [], {}
    for u in usages:
        if u.chip is None:
            warn(f"GPU {u.gpu} has no registry serial; left out of the usage statement")
            continue
        if u.chip in seen:
            raise UsageError(f"chip {u.chip} has samples under two GPU identities ({seen[u.chip]} and {u.gpu})")
        seen[u.chip] = u.gpu
        if u.gap_s > 0:
            warn(f"{u.chip}: {u.gap_s:.0f} s of the period were not covered by samples (not counted as active)")
        if u.resets:
            warn(f"{u.chip}: the energy counter restarted {u.resets} time(s) in the period (driver reload or reboot)")
        out.append(u)
    return out


# --- flush ----------------------------------------------------------------------------


def cmd_flush(args: argparse.Namespace) -> int:
    from agent.outbox import Outbox
    from agent.submit import Deliverer, worst

    cfg = _config(args)
    if args.list:
        with Outbox(cfg.outbox_path) as outbox:
            rows = [
                {
                    "outbox_id": e.id,
                    "created_at": e.created_at,
                    "kind": e.kind,
                    "status": e.status,
                    "attempts": e.attempts,
                    "id": e.remote_id,
                    "log_index": e.log_index,
                    "receipt": e.receipt_path or e.receipt_status,
                    "last_error": e.last_error,
                }
                for e in outbox.entries()
            ]
        if args.json:
            _print_json(rows)
        else:
            for r in rows:
                sys.stdout.write(
                    f"{r['outbox_id']:>5} {r['created_at']} {r['kind']:<8} {r['status']:<8} id={r['id']} "
                    f"receipt={r['receipt']}" + (f" error={r['last_error']}" if r["last_error"] else "") + "\n"
                )
        return EXIT_OK
    registry = _registry(cfg)
    with Outbox(cfg.outbox_path) as outbox:
        outcomes = Deliverer(registry, outbox, cfg.receipts_dir, _pinned_log_key(cfg, required=False)).flush()
        left = len(outbox.pending())
    for o in outcomes:
        _report(o, args.json)
    info(f"{len(outcomes)} delivery/receipt attempt(s); {left} statement(s) still queued")
    return worst([o.exit_code for o in outcomes])


# --- verify-receipt / monitor -----------------------------------------------------------


def _pinned_log_key(cfg: Config, required: bool = True) -> str | None:
    from agent.receipts import load_log_key

    if not cfg.log_key and not required:
        return None
    return load_log_key(cfg.log_key)


def cmd_verify_receipt(args: argparse.Namespace) -> int:
    from agent.receipts import load_json_file, verify_receipt

    cfg = _config(args)
    log_key = _pinned_log_key(cfg)
    receipt = load_json_file(args.receipt, "receipt")
    envelope = None
    if args.envelope:
        try:
            envelope = Path(args.envelope).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read envelope {args.envelope}: {exc.strerror or exc}") from None
    verified = verify_receipt(receipt, log_key, envelope)
    if args.json:
        _print_json({"ok": True, **verified.summary()})
    else:
        what = " and matches the envelope" if envelope is not None else ""
        sys.stdout.write(f"OK: leaf {verified.log_index} is in {verified.origin} at tree size {verified.size}{what}\n")
    return EXIT_OK


def cmd_verify_evidence(args: argparse.Namespace) -> int:
    from agent.evidence import verify_evidence_files

    cfg = _config(args)
    verified = verify_evidence_files(args.bundle, _pinned_log_key(cfg), args.chips, args.envelope)
    if args.json:
        _print_json({"ok": True, **verified.summary()})
        return EXIT_OK
    with_data = sum(1 for e in verified.entries if e.data_checked)
    extra = "".join(
        [
            f", {with_data} event(s) with their data" if with_data else "",
            ", the chip list" if verified.chips_checked else "",
            f", {sum(e.envelope_checked for e in verified.entries)} envelope(s)" if args.envelope else "",
        ]
    )
    sys.stdout.write(
        f"OK: {len(verified.entries)} log entr{'y' if len(verified.entries) == 1 else 'ies'} of the evidence "
        f"are in {verified.origin} at tree size {verified.size}{extra}\n"
    )
    return EXIT_OK


def cmd_monitor(args: argparse.Namespace) -> int:
    from agent import monitor

    cfg = _config(args)
    log_key = _pinned_log_key(cfg, required=False)
    state = Path(args.state).expanduser() if args.state else cfg.monitor_path
    result = monitor.check(_registry(cfg, with_token=False), log_key, state)
    if args.json:
        _print_json(result.summary())
    elif result.status == "first":
        sys.stdout.write(f"OK: first checkpoint, tree size {result.size}, stored in {state}\n")
    elif result.status == "unchanged":
        sys.stdout.write(f"OK: tree size {result.size} unchanged\n")
    else:
        sys.stdout.write(f"OK: tree size {result.size} is consistent with {result.previous_size} seen before\n")
    return EXIT_OK


# --- parser ----------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, top: bool = False) -> None:
    d = None if top else argparse.SUPPRESS
    g = parser.add_argument_group("configuration")
    g.add_argument("--config", default=d, metavar="PATH", help="config file (default ~/.config/chipreg/agent.toml)")
    g.add_argument("--url", default=d, help="registry base URL (env CHIPREG_URL)")
    g.add_argument("--key", default=d, metavar="PATH", help="private signing key (env CHIPREG_KEY)")
    g.add_argument("--state-dir", default=d, metavar="DIR", help="outbox, samples, receipts (env CHIPREG_STATE_DIR)")
    g.add_argument("--timeout", default=d, type=float, metavar="S", help="HTTP timeout in seconds (default 30)")
    g.add_argument("--debug", default=False if top else d, action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Operator agent for the chipreg registry of AI accelerators.",
        epilog=_epilog(),
    )
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_: str, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, epilog=_epilog(), **kw)
        _common(p)
        return p

    p = command("keygen", "create a signing key and print its public key and keyid")
    p.add_argument("--algorithm", choices=("ed25519", "p256", "p384"), default="ed25519")
    p.add_argument("--out", metavar="PATH", help="where to write the private key (default: CHIPREG_KEY or config)")
    p.add_argument("--passphrase-env", metavar="VAR", help="encrypt the key with the passphrase in env var VAR")
    p.set_defaults(func=cmd_keygen)

    p = command("register-key", "register the signing key's public key with the registry")
    p.add_argument("--name", help="a label for the key (default: host name and keyid prefix)")
    p.add_argument("--public-key", metavar="PEM", help="register this public key file instead of the signing key's")
    p.add_argument("--passphrase-env", metavar="VAR", help="env var with the signing key's passphrase")
    p.add_argument("--json", action="store_true", help="print the registry's answer as JSON")
    p.set_defaults(func=cmd_register_key)

    def inventory_source(p: argparse.ArgumentParser) -> None:
        p.add_argument("--from-xml", nargs="+", metavar="FILE", help="read `nvidia-smi -q -x` files instead of NVML")
        p.add_argument("--manufacturer", default="nvidia", help="chip manufacturer (only nvidia for now)")

    p = command("inventory", "list the accelerators on this host (NVML) or in nvidia-smi XML files")
    inventory_source(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_inventory)

    p = command("sample", "record NVML energy, utilization and power samples into a local SQLite file")
    p.add_argument("--interval", default="10s", help="time between samples (default 10s)")
    p.add_argument("--db", metavar="PATH", help="sample database (default STATE_DIR/samples.sqlite3)")
    p.add_argument("--once", action="store_true", help="take one sample of every GPU and exit")
    p.add_argument("--duration", help="stop after this long (default: until SIGTERM/SIGINT)")
    p.set_defaults(func=cmd_sample)

    attest_parser = command("attest", "sign and submit a statement")
    attest = attest_parser.add_subparsers(dest="attest_kind", metavar="KIND")
    attest_parser.set_defaults(func=lambda a: _missing_subcommand(attest_parser))

    def statement_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--operator", help="registry code of the operator that speaks (env CHIPREG_OPERATOR)")
        p.add_argument("--facility", help="registry code of the facility (env CHIPREG_FACILITY)")
        p.add_argument("--passphrase-env", metavar="VAR", help="env var with the signing key's passphrase")
        p.add_argument("--log-key", metavar="KEYLINE", help="pinned log verifier key to check the receipt")
        p.add_argument("--dry-run", action="store_true", help="print the statement; sign and send nothing")
        p.add_argument("--json", action="store_true", help="print the result as JSON")

    def attest_command(name: str, help_: str) -> argparse.ArgumentParser:
        q = attest.add_parser(name, help=help_, description=help_, epilog=_epilog())
        _common(q)
        statement_options(q)
        return q

    q = attest_command("location", "state which chips are in a facility (from the inventory)")
    inventory_source(q)
    q.add_argument("--scope", choices=("complete", "partial"), default="partial", help="default partial")
    q.add_argument("--cluster", help="registry code of the cluster the chips belong to")
    q.add_argument("--allow-empty", action="store_true", help="allow a statement that lists no chip")
    q.set_defaults(func=cmd_attest_location)

    q = attest_command("usage", "report what the chips did over a period (from the samples)")
    q.add_argument(
        "--since", required=True, help="period start: RFC 3339, or relative: --since=-24h, --since '24h ago'"
    )
    q.add_argument("--until", help="period end (default now)")
    q.add_argument("--db", action="append", metavar="PATH", help="sample database(s) (default STATE_DIR's)")
    q.add_argument("--workload", choices=("training", "inference", "mixed", "idle", "other"))
    q.add_argument("--run", metavar="CODE", help="the declared training run the chips worked for (its registry id)")
    q.set_defaults(func=cmd_attest_usage)

    q = attest_command("evidence", "send each GPU's signed hardware evidence over a registry challenge")
    q.add_argument("--manufacturer", default="nvidia", help="chip manufacturer (only nvidia for now)")
    q.add_argument(
        "--from-files",
        nargs=3,
        action="append",
        metavar=("CHIP", "REPORT", "CHAIN"),
        help="recorded evidence instead of NVML: a chip id, its report (binary or hex) and its PEM chain; repeat",
    )
    q.add_argument("--challenge", metavar="HEX", help="the challenge's nonce (default: ask the registry for one)")
    q.add_argument("--roots", metavar="DIR", help="pinned vendor roots for the local check (default: chipreg's)")
    q.set_defaults(func=cmd_attest_evidence)

    p = command("flush", "send the queued statements and fetch missing receipts")
    p.add_argument("--list", action="store_true", help="list the outbox instead of sending")
    p.add_argument("--log-key", metavar="KEYLINE", help="pinned log verifier key to check receipts")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_flush)

    p = command("verify-receipt", "verify a receipt offline: checkpoint signature, inclusion, envelope")
    p.add_argument("receipt", metavar="RECEIPT", help="receipt JSON file")
    p.add_argument("--log-key", metavar="KEYLINE", help="the log's verifier key line, or @FILE (env CHIPREG_LOG_KEY)")
    p.add_argument("--envelope", metavar="FILE", help="the DSSE envelope the receipt is for")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_verify_receipt)

    p = command(
        "verify-evidence",
        "verify an alert's evidence bundle offline: checkpoint signature, coverage, inclusion, entries",
    )
    p.add_argument("bundle", metavar="BUNDLE", help="evidence bundle JSON file (alerts/{id}/bundle/)")
    p.add_argument("--log-key", metavar="KEYLINE", help="the log's verifier key line, or @FILE (env CHIPREG_LOG_KEY)")
    p.add_argument("--chips", metavar="FILE", help="the evidence's chip list (alerts/{id}/chips/), checked too")
    p.add_argument(
        "--envelope",
        action="append",
        metavar="INDEX=FILE",
        help="the DSSE envelope of the attestation at log index INDEX, checked against its entry (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_verify_evidence)

    p = command("monitor", "check the latest checkpoint against the last one seen (split-view detection)")
    p.add_argument("--state", metavar="FILE", help="state file (default STATE_DIR/monitor.json)")
    p.add_argument(
        "--log-key",
        metavar="KEYLINE",
        help="the log's verifier key line, or @FILE (env CHIPREG_LOG_KEY; default: the key pinned in the state)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_monitor)
    return parser


def _missing_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False)) or bool(os.environ.get("CHIPREG_DEBUG"))
    try:
        return int(args.func(args) or 0)
    except AgentError as exc:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, unless --debug
        if debug:
            traceback.print_exc()
        print(f"{PROG}: unexpected error: {type(exc).__name__}: {exc} (rerun with --debug)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
