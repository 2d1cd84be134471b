"""What a load phase measured (parsed from the wrk script's output) and the readable tables of a run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from benchmarks.allocation_audit import Audit
from benchmarks.allocation_raw import RawResult
from benchmarks.harness import percentile


@dataclass
class LoadPhase:
    name: str
    seconds: float
    requests: int
    socket_errors: int
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_us: Counter[int] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    cpu_server_s: float = 0.0  # user + system CPU of the server processes during the phase
    cpu_database_s: float = 0.0  # the same for every PostgreSQL process

    @classmethod
    def parse(cls, name: str, report: str) -> LoadPhase:
        phase = cls(name=name, seconds=0.0, requests=0, socket_errors=0)
        for line in report.splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "duration_us":
                phase.seconds = int(rest) / 1e6
            elif kind == "requests":
                phase.requests = int(rest)
            elif kind == "socket_errors":
                phase.socket_errors = int(rest)
            elif kind == "status":
                status, count = rest.split()
                phase.statuses[int(status)] += int(count)
            elif kind == "latency":
                value, count = rest.split()
                phase.latencies_us[int(float(value))] += int(float(count))
            elif kind == "sample":
                phase.samples.append(rest)
        return phase

    @property
    def created(self) -> int:
        return self.statuses[201]

    @property
    def not_2xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)

    @property
    def orders_per_s(self) -> float:
        return self.created / self.seconds if self.seconds else 0.0

    def cpu_ms_per_order(self, seconds: float) -> str:
        return f"{seconds * 1000 / self.created:.2f}" if self.created else "-"

    def latency_ms(self, p: float) -> float:
        return percentile(self.latencies_us, p) / 1000

    @staticmethod
    def merged_latency_ms(phases: Sequence[LoadPhase], p: float) -> float:
        merged: Counter[int] = Counter()
        for phase in phases:
            merged.update(phase.latencies_us)
        return percentile(merged, p) / 1000


def print_report(
    *,
    deployment: str,
    phases: Sequence[LoadPhase],
    raw: RawResult,
    audit: Audit,
    hot_units: int,
    warmup_orders: int,
    backlog: int,
    drained_in: float | None,
    elapsed: float,
) -> None:
    console = Console(width=max(Console().width, 110))
    load = Table(title="Orders through the API (POST /api/v1/orders, 3 lines each)", title_justify="left")
    for column in (
        "phase",
        "seconds",
        "201",
        "orders/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "non-2xx",
        "socket err",
        "server CPU ms/order",
        "PostgreSQL CPU ms/order",
    ):
        load.add_column(column, justify="left" if column == "phase" else "right")
    for phase in phases:
        load.add_row(
            phase.name,
            f"{phase.seconds:.1f}",
            str(phase.created),
            f"{phase.orders_per_s:.0f}",
            f"{phase.latency_ms(50):.1f}",
            f"{phase.latency_ms(99):.1f}",
            f"{phase.latency_ms(100):.1f}",
            str(phase.not_2xx),
            str(phase.socket_errors),
            phase.cpu_ms_per_order(phase.cpu_server_s),
            phase.cpu_ms_per_order(phase.cpu_database_s),
        )
    seconds = sum(p.seconds for p in phases)
    created = sum(p.created for p in phases)
    load.add_row(
        "all",
        f"{seconds:.1f}",
        str(created),
        f"{created / seconds:.0f}" if seconds else "-",
        f"{LoadPhase.merged_latency_ms(phases, 50):.1f}",
        f"{LoadPhase.merged_latency_ms(phases, 99):.1f}",
        f"{LoadPhase.merged_latency_ms(phases, 100):.1f}",
        str(sum(p.not_2xx for p in phases)),
        str(sum(p.socket_errors for p in phases)),
        f"{sum(p.cpu_server_s for p in phases) * 1000 / created:.2f}" if created else "-",
        f"{sum(p.cpu_database_s for p in phases) * 1000 / created:.2f}" if created else "-",
        style="bold",
    )
    console.print(load)
    for phase in phases:
        for sample in phase.samples:
            console.print(f"  [yellow]{phase.name} non-2xx sample:[/yellow] {sample}")

    raw_table = Table(
        title="Raw limit (pgbench: conditional stock UPDATE + INSERT per transaction)", title_justify="left"
    )
    for column in ("phase", "seconds", "transactions", "tx/s", "p50 ms", "p99 ms", "UPDATE ms", "END ms"):
        raw_table.add_column(column, justify="left" if column == "phase" else "right")
    for raw_phase in raw.phases:
        raw_table.add_row(
            raw_phase.name,
            f"{raw_phase.seconds:.0f}",
            str(raw_phase.transactions),
            f"{raw_phase.tps:.0f}",
            f"{percentile(raw_phase.latencies_us, 50) / 1000:.2f}",
            f"{percentile(raw_phase.latencies_us, 99) / 1000:.2f}",
            f"{raw_phase.statements_ms.get('UPDATE', 0):.2f}",
            f"{raw_phase.statements_ms.get('END', 0):.2f}",
        )
    raw_table.add_row(
        "all",
        f"{raw.seconds:.0f}",
        str(raw.transactions),
        f"{raw.tps:.0f}",
        f"{raw.latency_ms(50):.2f}",
        f"{raw.latency_ms(99):.2f}",
        "",
        "",
        style="bold",
    )
    console.print(raw_table)
    console.print(f"  raw hot rows: {raw.hot_units} units, {raw.hot_sold} sold, oversold {raw.oversold}")

    checks = Table(title="Stock audit and outbox", title_justify="left")
    checks.add_column("check")
    checks.add_column("value", justify="right")
    for label, value in (
        (
            "orders stored / 201 answers (with warm-up; in flight when a phase ended: not counted)",
            f"{audit.orders} / {created + warmup_orders}",
        ),
        ("allocated / backordered orders", f"{audit.allocated} / {audit.backordered}"),
        ("hot units put on sale", str(hot_units)),
        ("stock.sold_out events", str(audit.sold_out_events)),
        ("units oversold", str(audit.oversold)),
        ("stock rows reserved > on hand", str(audit.reserved_beyond_stock)),
        ("stock rows reserved ≠ allocation lines", str(audit.reserved_mismatch)),
        ("order lines not exactly allocated + backordered", str(audit.undecided_lines)),
        ("order audit events", str(audit.audit_events)),
        ("outbox events / delivered", f"{audit.outbox_events} / {audit.outbox_done}"),
        ("outbox backlog when the load stopped", str(backlog)),
        ("backlog delivered in", f"{drained_in:.1f}s" if drained_in is not None else "not within 60s"),
    ):
        checks.add_row(label, value)
    console.print(checks)

    orders_per_s = created / seconds if seconds else 0.0
    ratio = orders_per_s / raw.tps if raw.tps else 0.0
    p99, raw_p99 = LoadPhase.merged_latency_ms(phases, 99), raw.latency_ms(99)
    console.print(f"deployment: {deployment}")
    console.print(
        f"ratio orders/s ÷ raw tx/s = {orders_per_s:.0f} ÷ {raw.tps:.0f} = [bold]{ratio:.3f}[/bold] "
        f"(target ≥ 0.20: {'met' if ratio >= 0.2 else 'NOT met'}); "
        f"p99 {p99:.1f} ms vs 5 × raw p99 {5 * raw_p99:.1f} ms "
        f"({'met' if p99 <= 5 * raw_p99 else 'NOT met'}); "
        f"stock audit {'sound' if audit.sound else '[red]FAILED[/red]'}; run took {elapsed:.0f}s"
    )
