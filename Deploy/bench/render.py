#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the JSON lines the `auditpipe-tools bench` subcommands print.

    render.py RESULTS.jsonl --command "Deploy/bench/run" --output BENCHMARKS.md

Each line: {"benchmark","figure","value","unit","peer","peer_value","ratio","target","met","notes"}.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        swift = subprocess.run(["swift", "--version"], capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        swift = "swift (version unknown)"
    return f"{os.cpu_count()} cores ({cpu}), {memory}, Linux {platform.release()}, {swift}"


def number(value, unit=""):
    if value is None:
        return "–"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--command", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--failed", action="append", default=[], help="a benchmark that could not run, with why")
    args = parser.parse_args()

    rows = []
    with open(args.results) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# AuditPipe benchmarks",
        "",
        f"Measured {now} on {machine()}.",
        f"Command: `{args.command}` (release build; the dev stack of `Deploy/dev/up`: ClickHouse, Redis and",
        "the 3-broker mock Kafka cluster, all on this one machine).",
        "",
        "Every figure is measured side by side with its peer or ceiling in the same run, so the ratio",
        "holds even on a noisy machine; the absolute numbers are this machine's. `ratio` is our value",
        "divided by the peer's (for latencies and rows read, lower is better).",
        "",
        "| benchmark | figure | AuditPipe | compared with | its value | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = {True: "yes", False: "**no**", None: "–"}[r.get("met")]
        ratio = "–" if r.get("ratio") is None else f"{r['ratio']:.2f}"
        out.append(
            f"| {r['benchmark']} | {r['figure']} | {number(r['value'], r['unit'])} | {r.get('peer') or '–'} | "
            f"{number(r.get('peer_value'), r['unit'])} | {ratio} | {r.get('target') or '–'} | {met} |"
        )
    notes = [r for r in rows if r.get("notes")]
    if notes:
        out += ["", "## Notes", ""]
        for r in notes:
            out.append(f"- **{r['benchmark']} / {r['figure']}**: {r['notes']}")
    if args.failed:
        out += ["", "## Did not run", ""]
        out += [f"- {line}" for line in args.failed]
    missed = [r for r in rows if r.get("met") is False]
    out += ["", f"{len(rows)} figures; {len(missed)} missed their target."]
    with open(args.output, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
