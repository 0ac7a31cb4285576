"""The ``lifeline`` command: run the system, its broker and its services; mint tokens; demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx

from shared.auth import TokenService
from shared.observability import configure_logging
from shared.settings import Settings, get_settings

log = logging.getLogger("lifeline")
SERVICES = ("orders", "inventory", "routing")


def _tokens(settings: Settings) -> TokenService:
    return TokenService(settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer)


def _url(settings: Settings, service: str) -> str:
    return f"http://127.0.0.1:{settings.port(service)}"  # type: ignore[arg-type]


# --- broker --------------------------------------------------------------------------

def cmd_broker(args: argparse.Namespace) -> int:
    from shared.messaging.broker import EmbeddedBroker
    from shared.messaging.kafka import ensure_topics

    settings = get_settings()
    broker = EmbeddedBroker(port=args.port)
    broker.start()
    created = asyncio.run(ensure_topics(settings.model_copy(update={"broker_url": broker.url})))
    log.info("broker on %s with %d topics created; Ctrl-C stops it", broker.url, len(created))
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        broker.stop()
    return 0


# --- serve ---------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    port = args.port or settings.port(args.service)
    uvicorn.run(
        f"services.{args.service}.bootstrap:create_app", factory=True, host=args.host, port=port,
        log_level="warning", access_log=False, timeout_keep_alive=settings.http_keep_alive_s,
    )
    return 0


# --- migrate and topics: what a deployment runs once before the services ---------------

def cmd_migrate(args: argparse.Namespace) -> int:
    from shared.migrations import upgrade_to_head

    settings = get_settings()
    for service in SERVICES if args.service == "all" else (args.service,):
        heads = upgrade_to_head(service, settings)  # type: ignore[arg-type]
        log.info("%s database at %s", service, ", ".join(heads))
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from shared.messaging.kafka import ensure_topics, wait_for_broker

    settings = get_settings()
    replication = args.replication_factor or settings.kafka_replication_factor

    async def create() -> list[str]:
        await wait_for_broker(settings, timeout_s=args.wait)
        return await ensure_topics(settings, replication_factor=replication)

    created = asyncio.run(create())
    log.info("%d topics created (replication factor %d), the others existed", len(created), replication)
    return 0


# --- run: the whole system -----------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    from shared.messaging.broker import EmbeddedBroker
    from shared.messaging.kafka import ensure_topics

    # Ctrl-C (and a supervisor's SIGTERM) stop everything cleanly, also when the shell that
    # started us ignored SIGINT, as shells do for background jobs (Python then keeps it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    settings = get_settings()
    var = Path(settings.var_dir)
    if args.fresh and var.exists():
        # The embedded broker keeps nothing across restarts, so neither do the databases.
        shutil.rmtree(var)
    (var / "log").mkdir(parents=True, exist_ok=True)
    _operating_environment(args, settings)
    started = time.monotonic()
    broker = EmbeddedBroker(port=int(settings.broker_url.rsplit(":", 1)[1]), log_path=var / "log" / "broker.log")
    broker.start()
    asyncio.run(ensure_topics(settings))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for service in SERVICES:
            processes.append(_service_process(var, service, ["-m", "services.cli", "serve", service]))
        asyncio.run(_wait_healthy(settings, timeout_s=60))
        log.info("all services healthy after %.1fs", time.monotonic() - started)
        if not args.no_demo_city:
            loaded_at = time.monotonic()
            counts = asyncio.run(_load_demo_city(settings))
            log.info("demo city loaded in %.1fs: %s", time.monotonic() - loaded_at, counts)
        fleet_url = f"http://127.0.0.1:{args.fleet_port}"
        if not args.no_fleet:
            processes.append(_service_process(var, "fleet", [
                "-m", "services.simulation.fleet_main", "--port", str(args.fleet_port),
                "--routing-url", _url(settings, "routing")]))
        if not (args.no_live or args.no_demo_city):
            processes.append(_service_process(var, "live-orders", [
                "-m", "services.simulation.live", "--fleet-url", fleet_url]))
        _print_welcome(settings)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        log.error("a service exited; see %s", var / "log")
        return 1
    except KeyboardInterrupt:
        log.info("stopping")
        return 0
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        broker.stop()


def _service_process(var: Path, name: str, arguments: list[str]) -> subprocess.Popen[bytes]:
    log_file = open(var / "log" / f"{name}.log", "ab")  # noqa: SIM115  (the child owns it)
    return subprocess.Popen([sys.executable, *arguments], stdout=log_file, stderr=subprocess.STDOUT,
                            env=os.environ.copy())


def _operating_environment(args: argparse.Namespace, settings: Settings) -> None:
    """The living demo: the operations loop on, and unless told otherwise a service clock
    that starts at 07:00 local today and runs ``--speed`` times as fast, so a newcomer sees
    a lockdown morning whatever the hour (children inherit the environment)."""
    os.environ.setdefault("LIFELINE_OPERATIONS_ENABLED", "true")
    if args.wall_clock or os.environ.get("LIFELINE_CLOCK_START"):
        return
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.now(ZoneInfo(settings.city_timezone))
    start = local.replace(hour=7, minute=0, second=0, microsecond=0)
    os.environ.update({"LIFELINE_CLOCK_START": start.isoformat(), "LIFELINE_CLOCK_ANCHOR": repr(time.time()),
                       "LIFELINE_CLOCK_SPEED": repr(args.speed)})
    log.info("service clock: %s at %gx (lifeline run --wall-clock for real time)", start.isoformat(), args.speed)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


async def _load_demo_city(settings: Settings) -> dict[str, int]:
    from services.demo.city import build_city
    from services.demo.loader import load_city

    clients = {s: httpx.AsyncClient(base_url=_url(settings, s), timeout=60) for s in SERVICES}
    try:
        return await load_city(build_city(), clients, _tokens(settings))
    finally:
        for client in clients.values():
            await client.aclose()


async def _wait_healthy(settings: Settings, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        for service in SERVICES:
            while True:
                try:
                    if (await client.get(f"{_url(settings, service)}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{service} not healthy within {timeout_s}s")
                await asyncio.sleep(0.2)


def _print_welcome(settings: Settings) -> None:
    tokens = _tokens(settings)
    resident = tokens.mint("H-CY-01-0001", "resident")
    lines = [
        "",
        "Lifeline is running (Ctrl-C stops everything).",
        f"  orders    {_url(settings, 'orders')}/docs",
        f"  inventory {_url(settings, 'inventory')}/docs",
        f"  routing   {_url(settings, 'routing')}/docs",
        f"  console   {_url(settings, 'routing')}/console",
        f"  broker    {settings.broker_url}",
        "",
        "Order rice and milk as a resident of sealed community C-CY-01:",
        f"  curl -s -X POST {_url(settings, 'orders')}/v1/orders \\",
        f"    -H 'Authorization: Bearer {resident}' -H 'Content-Type: application/json' \\",
        '    -d \'{"items": [{"sku": "RICE-5KG", "quantity": 1}, {"sku": "MILK-1L", "quantity": 2}]}\'',
        "",
        "Then in another terminal: make demo",
        "",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


# --- tokens --------------------------------------------------------------------------

def cmd_token(args: argparse.Namespace) -> int:
    tokens = _tokens(get_settings())
    role = args.role.replace("-", "_")
    if role == "resident":
        token = tokens.mint(args.household, "resident")
    elif role == "community_worker":
        token = tokens.mint(args.subject, "community_worker", community_ids=args.community)
    elif role == "dispatcher":
        token = tokens.mint(args.subject, "dispatcher", depot_ids=args.depot)
    elif role == "inventory_system":
        token = tokens.mint(args.subject, "inventory_system", depot_ids=args.depot)
    else:
        token = tokens.mint(args.subject, "admin")
    sys.stdout.write(token + "\n")
    return 0


# --- demo and plan -------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from services.demo.driver import run_demo

    return asyncio.run(run_demo(get_settings(), household=args.household, time_limit_s=args.time_limit))


def cmd_plan(args: argparse.Namespace) -> int:
    from services.demo.plan_cli import run_plan

    return asyncio.run(run_plan(get_settings(), depot=args.depot, time_limit_s=args.time_limit,
                                date=args.date, svg=args.svg))


def cmd_simulate(args: argparse.Namespace) -> int:
    from services.simulation.report import write_report
    from services.simulation.run import SimulationOptions, simulate
    from services.simulation.scenario import ScenarioError

    policies = ("lifeline", "baseline") if args.policy == "both" else (args.policy,)
    options = SimulationOptions(
        scenario=args.scenario, policies=policies, scale=args.scale, speed=args.speed,  # type: ignore[arg-type]
        drain=timedelta(hours=args.drain_hours), planner_time_limit_s=args.planner_time_limit,
        out_dir=Path(args.out), lockstep=args.lockstep,
        **({} if args.planner_iterations is None else {"planner_iterations": args.planner_iterations}),
    )
    try:
        outcome = asyncio.run(simulate(options))
    except ScenarioError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    json_path, html_path = write_report(outcome, Path(args.out), stem=f"{args.scenario.rsplit('/', 1)[-1]}-report")
    for policy, run in outcome["runs"].items():
        figures = run["figures"]
        log.info("%s: medical within 6 h %s, vulnerable unserved > 24 h %s, fill ratio %s, lost %s, doubled %s, "
                 "wall %.0f s", policy, figures["medical_within_6h_share"], figures["vulnerable_unserved_over_24h"],
                 figures["fill_rate_worst_best_ratio"], figures["orders_lost"], figures["orders_doubled"],
                 run["wall_seconds"])
    log.info("report: %s (and %s)", html_path, json_path)
    return 0


def cmd_fleet(args: argparse.Namespace) -> int:
    from services.simulation.fleet_main import main as fleet_main

    return fleet_main(["--port", str(args.port), "--routing-url", args.routing_url])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    broker = sub.add_parser("broker", help="start the embedded Tansu broker and create topics")
    broker.add_argument("--port", type=int, default=9092)
    broker.set_defaults(func=cmd_broker)

    serve = sub.add_parser("serve", help="serve one service over HTTP")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="migrate service databases to this release's schema")
    migrate.add_argument("--service", choices=[*SERVICES, "all"], default="all")
    migrate.set_defaults(func=cmd_migrate)

    topics = sub.add_parser("topics", help="create missing Kafka topics (and their DLQs)")
    topics.add_argument("--replication-factor", type=int, default=None,
                        help="default: LIFELINE_KAFKA_REPLICATION_FACTOR")
    topics.add_argument("--wait", type=float, default=60, help="seconds to wait for the broker")
    topics.set_defaults(func=cmd_topics)

    run = sub.add_parser("run", help="broker + all services + demo city, in the foreground")
    run.add_argument("--keep", dest="fresh", action="store_false", help="keep ./var databases")
    run.add_argument("--no-demo-city", action="store_true")
    run.add_argument("--no-fleet", action="store_true", help="no fleet simulator driving the routes")
    run.add_argument("--no-live", action="store_true", help="no live stream of residents' orders")
    run.add_argument("--fleet-port", type=int, default=8004)
    run.add_argument("--wall-clock", action="store_true", help="real time instead of a fast lockdown day")
    run.add_argument("--speed", type=float, default=10.0, help="service clock speed of the living demo")
    run.set_defaults(func=cmd_run)

    token = sub.add_parser("token", help="print a development token")
    token.add_argument("role", choices=["resident", "community-worker", "dispatcher", "admin",
                                        "inventory-system"])
    token.add_argument("--household", default="H-CY-01-0001")
    token.add_argument("--community", action="append", default=[])
    token.add_argument("--depot", action="append", default=[])
    token.add_argument("--subject", default="dev")
    token.set_defaults(func=cmd_token)

    demo = sub.add_parser("demo", help="drive one order from placed to scheduled")
    demo.add_argument("--household", default="H-CY-08-0001")
    demo.add_argument("--time-limit", type=float, default=5)
    demo.set_defaults(func=cmd_demo)

    simulate = sub.add_parser("simulate", help="replay a lockdown scenario through the real system; "
                              "writes a JSON and an HTML report")
    simulate.add_argument("--scenario", default="lockdown-day",
                          help="a shipped scenario (smoke, lockdown-day, lockdown-week) or a YAML/JSON file")
    simulate.add_argument("--policy", choices=["both", "lifeline", "baseline"], default="both")
    simulate.add_argument("--scale", type=float, default=1.0, help="multiplies the order rate")
    simulate.add_argument("--speed", type=float, default=240.0, help="simulated seconds per wall second")
    simulate.add_argument("--drain-hours", type=float, default=6.0,
                          help="simulated hours the system keeps running after the scenario's end")
    simulate.add_argument("--planner-time-limit", type=float, default=1.0,
                          help="seconds of solver time per operations cycle")
    simulate.add_argument("--lockstep", action="store_true",
                          help="reproducible: time moves only when the whole system is at rest, plans are "
                               "bounded by solver iterations; same seed, same figures (slower; --speed unused)")
    simulate.add_argument("--planner-iterations", type=int, default=None,
                          help="with --lockstep: solver iterations per plan (default: run.LOCKSTEP_ITERATIONS)")
    simulate.add_argument("--out", default="var/simulation")
    simulate.set_defaults(func=cmd_simulate)

    fleet = sub.add_parser("fleet", help="the fleet simulator: drives dispatched routes on the service clock")
    fleet.add_argument("--port", type=int, default=8004)
    fleet.add_argument("--routing-url", default="http://127.0.0.1:8003")
    fleet.set_defaults(func=cmd_fleet)

    plan = sub.add_parser("plan", help="request a plan and print its routes")
    plan.add_argument("--depot", action="append", required=True)
    plan.add_argument("--time-limit", type=float, default=30)
    plan.add_argument("--date", default=None)
    plan.add_argument("--svg", default=None, help="where to write the map")
    plan.set_defaults(func=cmd_plan)
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
