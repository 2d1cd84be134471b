"""What `make bench-assistant` prints: the tables of each phase, where the reply time went, the verdicts on
the targets, and the summary that becomes the last line (JSON)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from benchmarks import chat
from benchmarks.assistant_load import ConversationResult
from benchmarks.assistant_seed import TURNS
from benchmarks.harness import percentile

if TYPE_CHECKING:  # the runner imports this module
    from benchmarks.assistant import ReplyPhase

CPUS = os.cpu_count() or 1
TARGETS = {"classify_per_s": (2_000.0, "≥"), "first_reply_p99_ms": (100.0, "≤")}
BUSY_MACHINE = 0.10  # others' share of all CPUs above which the reply phase is flagged as disturbed


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def ms(histogram: list[tuple[int, int]] | None, p: float) -> float | None:
    return percentile(histogram, p) / 1000 if histogram else None


def every_message_us(load: ConversationResult) -> list[tuple[int, int]]:
    """Reply latencies of every measured message, an unanswered one counted as the timeout (so a
    percentile that reaches them is a lower bound): a server that answers only the easy half must not
    show a good p99."""
    timeout_us = round(load.reply_timeout_s * 1e6)
    answered = [(int(value), int(count)) for value, count in load.reply_us]  # lists, once through JSON
    return sorted([*answered, *([(timeout_us, load.unanswered)] if load.unanswered else [])])


def summary_of(
    classified: dict[str, Any], echo: chat.Phase | None, phase: ReplyPhase | None
) -> dict[str, Any]:
    """The last line's figures: the targets' first, then what explains them."""
    sizes = classified.get("sizes") or {}
    batch = classified.get("batch")
    load = phase.load if phase is not None else None
    every = every_message_us(load) if load is not None else []
    p50, p99, echo_p99 = ms(every, 50), ms(every, 99), echo.ms(99) if echo is not None else None
    turns = phase.window_turns if phase is not None else 0

    def rounded(value: float | None, digits: int = 2) -> float | None:
        return None if value is None else round(value, digits)

    summary: dict[str, Any] = {
        "classify_per_s": (sizes.get(str(batch)) or {}).get("per_s"),
        "classify_single_per_s": (sizes.get("1") or {}).get("per_s"),
        "first_reply_p50_ms": rounded(p50),
        "first_reply_p99_ms": rounded(p99),
        "echo_p99_ms": rounded(echo_p99, 3),
        "ratio": round(p99 / echo_p99, 1) if p99 is not None and echo_p99 else None,
        "replies": load.answered if load is not None else None,
        "unanswered": load.unanswered if load is not None else None,
        "sent": load.sent if load is not None else None,
        "dropped_sockets": sum(load.dropped.values()) if load is not None else None,
        "first_reply_p99_lower_bound": bool(load is not None and load.unanswered > 0.01 * load.sent),
        "first_reply_p99_answered_ms": rounded(ms(load.reply_us, 99)) if load is not None else None,
        "stored_p99_ms": rounded(ms(load.ack_us, 99)) if load is not None else None,
        "turns_per_s": round(turns / load.window_s, 1) if load is not None and load.window_s else None,
        "server_cpu_ms_per_turn": round(1000 * phase.server_cpu_s / turns, 2) if phase and turns else None,
        "assistant_job_size": (
            round(sum(size * n for size, n in phase.job_sizes.items()) / sum(phase.job_sizes.values()), 2)
            if phase is not None and phase.job_sizes
            else None
        ),
        "classify_batch": batch,
        "intent_accuracy": classified.get("intent_accuracy"),
        "language_accuracy": classified.get("language_accuracy"),
    }
    errors = []
    if "error" in classified:
        errors.append(f"classify: {str(classified['error']).splitlines()[0]}")
    if echo is not None:
        errors += [f"echo: {error.splitlines()[0]}" for error in echo.errors]
    if phase is not None:
        errors += [f"replies: {error.splitlines()[0]}" for error in phase.errors]
    if errors:
        summary["error"] = "; ".join(errors)
    return summary


def print_report(
    args: argparse.Namespace,
    classified: dict[str, Any],
    echo: chat.Phase | None,
    phase: ReplyPhase | None,
    summary: dict[str, Any],
    elapsed: float,
) -> None:
    console = Console(width=max(Console().width, 160))
    if classified.get("sizes"):
        _classification(console, classified)
    if echo is not None or phase is not None:
        _replies(console, args, echo, phase)
    if phase is not None:
        _where_the_time_went(console, args, phase)
    for key, (limit, sense) in TARGETS.items():
        value = summary.get(key)
        met = isinstance(value, float) and (value >= limit if sense == "≥" else value <= limit)
        verdict = "-" if not isinstance(value, float) else ("met" if met else "[red]missed[/red]")
        console.print(f"{key} = {value} (target {sense} {limit:g}): {verdict}")
    bound = " (a lower bound: over 1 % unanswered, counted as the timeout)"
    console.print(
        f"ratio = {summary.get('ratio')} (first reply p99 ÷ bare echo p99)"
        f"{bound if summary.get('first_reply_p99_lower_bound') else ''}; unanswered = "
        f"{summary.get('unanswered')}; run took {elapsed:.0f} s"
    )
    for name, problems in (("echo", echo.errors if echo else []), ("replies", phase.errors if phase else [])):
        for error in problems:
            console.print(f"[red]{name}:[/red] {error}", highlight=False)
    if "error" in classified:
        console.print(f"[red]classify:[/red] {classified['error']}", highlight=False)
    if phase is not None and phase.load.dropped:
        codes = ", ".join(f"{code} ×{n}" for code, n in phase.load.dropped.items())
        console.print(
            f"[red]replies: the server closed {sum(phase.load.dropped.values())} buyer sockets in the run "
            f"({codes})[/red]: their messages count as unanswered",
            highlight=False,
        )
    for warning in phase.warnings if phase is not None else []:
        console.print(f"[yellow]server log:[/yellow] {warning}", highlight=False)


def _classification(console: Console, classified: dict[str, Any]) -> None:
    console.print(
        f"[bold]classify[/bold]: classify_many (intent, confidence, language; no hints) on CPU "
        f"{classified['cpu']} alone, over {classified['texts']:,} held-out texts in "
        f"{classified['languages']} languages; model trained in {classified.get('train_s', '?')} s, "
        f"loaded in {classified['model_load_s']} s; held-out accuracy of these calls: intent "
        f"{classified['intent_accuracy']:.3f}, language {classified['language_accuracy']:.3f}"
    )
    table = Table(title="Classification on one core", title_justify="left")
    for column in ("batch", "msg/s", "each round msg/s", "CPU µs/msg", "msg per CPU-second", "CPU share"):
        table.add_column(column, justify="right")
    for size, row in sorted(classified["sizes"].items(), key=lambda item: int(item[0])):
        headline = " ←" if int(size) == classified.get("batch") else ""
        table.add_row(
            f"{size}{headline}",
            fmt(row["per_s"], 0),
            " / ".join(fmt(rate, 0) for rate in row["rounds_per_s"]),
            fmt(row["cpu_us_per_message"], 0),
            fmt(1e6 / row["cpu_us_per_message"], 0),
            f"{100 * row['cpu_share']:.0f} %",
        )
    console.print(table)
    console.print(
        "CPU share below 100 %: other processes ran on the pinned CPU for the rest (msg per CPU-second "
        "leaves that out; a busy machine still raises the CPU time per message: shared caches, the host)."
    )


def _replies(
    console: Console, args: argparse.Namespace, echo: chat.Phase | None, phase: ReplyPhase | None
) -> None:
    if echo is not None:
        console.print(f"[bold]echo[/bold]: {echo.deployment}")
    if phase is not None:
        console.print(f"[bold]replies[/bold]: {phase.deployment}")
        console.print(
            f"load: {args.buyers} buyer sockets, each: send, wait for the assistant's reply (timeout "
            f"{args.reply_timeout:g} s), think {args.think:g} s, send the next; starts spread over the first "
            f"second; {args.warmup:g} s warm-up + {args.seconds:g} s measured; one generator process "
            f"({phase.load.loop or '?'}, websockets client)"
        )
    table = Table(
        title="First reply: buyer send → the assistant's message on the buyer's socket (echo: round trip)",
        title_justify="left",
    )
    columns = (
        "phase", "conns", "sent", "answered", "unanswered", "stray", "answers/s", "p50 ms", "p90 ms",
        "p99 ms", "max ms", "stored p50 ms", "stored p99 ms", "server CPU s", "loadgen CPU s",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "phase" else "right")
    if echo is not None:
        bare = echo.load
        table.add_row(
            "echo", str(bare.buyers), str(bare.sent), str(bare.delivered), str(bare.lost), "-",
            fmt(bare.delivered / bare.window_s if bare.window_s else None, 0),
            *(fmt(echo.ms(p), 2) for p in (50, 90, 99, 100)), "-", "-",
            fmt(echo.server_cpu_s, 2), fmt(bare.cpu_s, 2),
        )  # fmt: skip
    if phase is not None:
        load = phase.load
        table.add_row(
            "replies", f"{load.buyers}+{load.agents}" if load.agents else str(load.buyers), str(load.sent),
            str(load.answered), str(load.unanswered), str(load.stray_answers),
            fmt(load.answered / load.window_s if load.window_s else None, 0),
            *(fmt(ms(every_message_us(load), p), 2) for p in (50, 90, 99, 100)),
            fmt(ms(load.ack_us, 50), 2), fmt(ms(load.ack_us, 99), 2),
            fmt(phase.server_cpu_s, 2), fmt(load.cpu_s, 2),
        )  # fmt: skip
    console.print(table)
    console.print(
        "Percentiles over every measured message, an unanswered one counted as the timeout (then a lower "
        "bound). stored: send → the server's ack (the message is stored). stray: an answer when the buyer "
        "waited for none (late, or a second one). answers/s over the measured window and the drain."
    )


def _where_the_time_went(console: Console, args: argparse.Namespace, phase: ReplyPhase) -> None:
    load = phase.load

    def per_turn(cpu_s: float) -> str:
        return fmt(1000 * cpu_s / phase.window_turns if phase.window_turns else None, 2)

    detail = Table(title="Where the reply time went (server's clock, buyer messages received in the window)")
    for column in ("segment", "p50 ms", "p90 ms", "p99 ms", "max ms"):
        detail.add_column(column, justify="left" if column == "segment" else "right")
    for name, histogram in phase.server_side.items():
        detail.add_row(name, *(fmt(ms(histogram, p), 2) for p in (50, 90, 99, 100)))
    detail.add_row("send → stored ack (client)", *(fmt(ms(load.ack_us, p), 2) for p in (50, 90, 99, 100)))
    detail.add_row(
        "send → reply (client, answered)", *(fmt(ms(load.reply_us, p), 2) for p in (50, 90, 99, 100))
    )
    console.print(detail)
    by_turn = Table(title="First reply by line (each buyer's lines in turn; its language's wording)")
    for column in ("line", "answered", "p50 ms", "p99 ms"):
        by_turn.add_column(column, justify="left" if column == "line" else "right")
    for turn, histogram in sorted(load.reply_by_turn_us.items(), key=lambda item: int(item[0])):
        by_turn.add_row(
            TURNS["en"][int(turn)], str(sum(n for _, n in histogram)), fmt(ms(histogram, 50), 2),
            fmt(ms(histogram, 99), 2),
        )  # fmt: skip
    console.print(by_turn)
    window = load.window_s or None
    sizes = ", ".join(f"{size}: {n}" for size, n in sorted(phase.job_sizes.items())[:8]) or "-"
    backlog = (
        f"{phase.backlog_turns} seeded first messages answered before the load in {phase.backlog_s:.1f} s "
        f"({phase.backlog_turns / phase.backlog_s:.0f} turns/s, one message a job)"
        if phase.backlog_s
        else "backlog: -"
    )
    lines = [
        f"{phase.window_turns} turns decided by the assistant in the window ("
        f"{fmt(phase.window_turns / window if window else None, 1)}/s): server CPU "
        f"{per_turn(phase.server_cpu_s)} ms a turn (its buyer message stored, understood, answered, "
        "pushed), PostgreSQL "
        f"{per_turn(phase.database_cpu_s)} ms, generator {per_turn(load.cpu_s)} ms; machine busy "
        f"{fmt(100 * phase.machine_cpu_s / (window * CPUS) if window else None, 0)} % of {CPUS} CPUs, "
        f"others' CPU {phase.others_cpu_s:.2f} s",
        f"assistant jobs (buyer messages per job: messages): {sizes}; {backlog}",
        f"the {sum(phase.decisions.values())} buyer messages the server received in the window (of "
        f"{load.sent} sent): {', '.join(f'{key} {n}' for key, n in phase.decisions.most_common()) or '-'}",
        f"think lag p99 (generator sending late) {fmt(ms(load.think_lag_us, 99), 2)} ms; console frames "
        f"{load.console_frames}; late acks {load.late_acks}; error frames "
        f"{', '.join(f'{code} {n}' for code, n in load.error_frames.items()) or '0'}; outbox due after "
        f"{phase.outbox_after}",
    ]
    for line in lines:
        console.print(line, highlight=False)
    capacity = (load.window_s or 0) * CPUS
    if capacity and phase.others_cpu_s > BUSY_MACHINE * capacity:
        console.print(
            f"[yellow]other processes took {100 * phase.others_cpu_s / capacity:.0f}% of the machine's CPU "
            "during the window: its figures are not comparable with a quiet run[/yellow]"
        )
