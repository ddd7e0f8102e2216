"""Shared by the benchmarks: the machine, summary statistics, and the results files.

Every figure is a comparison made in one run on one machine (these machines are noisy):
each benchmark writes its section into bench/results.json and the Markdown table beside it.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.json"
TABLE = RESULTS.with_suffix(".md")


def machine() -> dict:
    cpu = "unknown"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def spread(values: list[float], digits: int = 2) -> dict:
    """Median with min and max over the repeats."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "repeats": len(values),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def machine_line(m: dict, date: str) -> str:
    """results.md's first line (bench/docs.py puts it on docs/performance.md)."""
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"Python {m['python']}, {m['system']}. Date: {date}. Command: `make bench`."
    )


def save(section: str, body: dict, markdown: str) -> None:
    """Merge one benchmark's section into results.json and rewrite the Markdown file."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["machine"] = machine()
    results["date"] = datetime.date.today().isoformat()  # of the latest section written
    results.setdefault("sections", {})[section] = {"data": body, "markdown": markdown}
    RESULTS.write_text(json.dumps(results, indent=2))
    head = machine_line(results["machine"], results["date"]) + "\n"
    parts = [head] + [s["markdown"] for s in results["sections"].values()]
    TABLE.write_text("\n".join(parts))
