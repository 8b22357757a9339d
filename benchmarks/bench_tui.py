"""Benchmark: `adlab tui` in a real terminal (tmux) on 10,000 runs that have metric rows.

What a person sees, not what the app thinks it did: the real `adlab --db LAB tui` process runs
in a tmux pane; keys go in with `tmux send-keys` and the time is taken when `tmux capture-pane`
first shows the expected screen. Measured:
- launch: `tmux new-session` until the first runs are on screen, and until every run is counted
  ("N of N runs");
- filter: one key typed into the filter box until the row count it implies is on screen;
- sort: `s` until the status line names another sort column;
- scroll: `pagedown` / `G` / `g` until the first visible row changes as it must;
- detail: Enter until the run's detail title is drawn (and Escape back);
- compare: `c` until the grouped comparison of the 10,000 runs is drawn (and Escape back); the
  first open apart from the next ones (a comparison reopened on the same scope is remembered).
Each wall figure includes capture-pane polling (~2-5 ms per poll), so it is an upper bound, and
it moves with the machine's load. Beside it, the app's own CPU time for the step (user + system
of the TUI process, from /proc): what the step costs the app, far less sensitive to other
processes competing for the cores. ``idle CPU per s`` is what the 1 s refresh costs when nothing
happens.

``--launches N`` (default 5): the app is launched N times on the same lab; the first launch
measures every step, each further one measures the launch and the compare screen's first open
again (pressed 1 s after the table is complete, as in the first launch the idle pause precedes
the other steps), so those rows have n=N. With several trees the launches alternate between them.

``--app-root DIR`` (repeatable) measures the app from another source tree on the same lab, in
turn (e.g. a `git archive` of an older commit for a before/after table in one run).

Usage: python benchmarks/bench_tui.py [--runs 10000] [--size 160x45] [--repeat 10] [--launches 5]
       [--app-root DIR]
Targets (issue 18): launch <= 1.0 s, filter/sort/scroll <= 50 ms p95, detail/compare <= 200 ms.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]


CATEGORIES = ("bottle", "cable", "capsule")


def build_lab(url: str, n: int) -> None:
    """``n`` runs (90% succeeded) over 120 groups, each succeeded run with a run-level
    image_auroc and per-category image_auroc/pixel_auroc metric rows, plus 8 workers."""
    from sqlalchemy import insert, select

    from adlab.db.engine import get_engine
    from adlab.db.models import Metric, Run, Worker

    rng = random.Random(0)
    now = dt.datetime.now(dt.timezone.utc)
    statuses = ["succeeded"] * 90 + ["failed"] * 5 + ["cancelled"] * 3 + ["queued"] * 1 + ["running"] * 1
    rows = []
    for i in range(n):
        status = rng.choice(statuses)
        started = now - dt.timedelta(seconds=rng.uniform(600, 86400 * 30))
        finished = started + dt.timedelta(seconds=rng.uniform(5, 3600))
        total = rng.choice([None, 15, 100, 480])
        done = total if status == "succeeded" and total else (rng.randint(0, total) if total else 0)
        rows.append(dict(
            name=f"{rng.choice(['patchcore', 'padim', 'efficientad', 'mmad_qwen'])}_{i:05d}",
            study=f"study{i % 17}", pipeline=rng.choice(["anomalib", "mmad", "read", "diag"]),
            status=status, config_json="{}", config_hash=f"{i:064d}",
            partition_hash=f"{i % 40:064d}", group_hash=f"{i % 120:064x}", group_keys_json="[]",
            created_at=started - dt.timedelta(seconds=30),
            started_at=None if status == "queued" else started,
            finished_at=finished if status in ("succeeded", "failed", "cancelled") else None,
            heartbeat_at=now if status == "running" else None,
            progress_done=done or 0, progress_total=total,
            headline_metric="image_auroc" if status == "succeeded" else None,
            headline_value=round(rng.random(), 4) if status == "succeeded" else None,
            worker=f"gpu-{i % 8}" if status != "queued" else None,
            device=f"cuda:{i % 8}" if status != "queued" else None,
            error="CUDA out of memory" if status == "failed" else None,
        ))
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(Run), rows)
        done_runs = conn.execute(select(Run.id, Run.headline_value)
                                 .where(Run.status == "succeeded")).all()
        metrics = []
        for run_id, value in done_runs:
            metrics.append(dict(run_id=run_id, key="image_auroc", scope="", value=value,
                                created_at=now))
            for cat in CATEGORIES:
                for key in ("image_auroc", "pixel_auroc"):
                    metrics.append(dict(run_id=run_id, key=key, scope=cat,
                                        value=round(rng.random(), 4), created_at=now))
        conn.execute(insert(Metric), metrics)
        conn.execute(insert(Worker), [dict(name=f"gpu-{k}", host="node", pid=k, device=f"cuda:{k}",
                                           status="busy", started_at=now, heartbeat_at=now)
                                      for k in range(8)])
    print(f"lab: {n} runs, {len(done_runs)} succeeded, {len(metrics)} metric rows")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and every process below it (threads included)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()  # after "(comm)": state, ppid, ...
        ppid = int(fields[1])
        children.setdefault(ppid, []).append(int(entry))
        stats[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += stats.get(p, 0.0)
        todo += children.get(p, [])
    return total


class Pane:
    """One tmux session running the app; ``until`` polls the visible screen."""

    def __init__(self, name: str, size: tuple[int, int]) -> None:
        self.name, self.size = name, size
        self.pid = 0

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout

    def start(self, command: str) -> float:
        for attempt in range(3):  # a tmux server still exiting (its last session ended) refuses
            t0 = time.perf_counter()
            try:
                self.tmux("new-session", "-d", "-s", self.name, "-x", str(self.size[0]),
                          "-y", str(self.size[1]), command)
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
                time.sleep(0.5)
        self.pid = int(self.tmux("display-message", "-p", "-t", self.name, "#{pane_pid}"))
        return t0

    def cpu(self) -> float:
        return process_cpu_s(self.pid)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> float:
        t0 = time.perf_counter()
        self.tmux("send-keys", "-t", self.name, *keys)
        return t0

    def until(self, ok: Callable[[str], bool], what: str, timeout: float = 30.0) -> float:
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            if ok(self.screen()):
                return time.perf_counter()
            time.sleep(0.002)
        raise SystemExit(f"timed out waiting for {what}; screen:\n{self.screen()}")

    def stop(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@dataclass
class Step:
    """Wall seconds (keypress to screen) and the app's CPU seconds, one pair per repetition."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


class Session:
    """A measured app: each :meth:`timed` sends keys, waits for the screen, records both times."""

    def __init__(self, pane: Pane) -> None:
        self.pane = pane
        self.steps: dict[str, Step] = {}
        self.loads: list[str] = []

    def timed(self, step: str, send: Callable[[], float], ok: Callable[[str], bool],
              what: str, timeout: float = 30.0) -> str:
        c0 = self.pane.cpu()
        t0 = send()
        t1 = self.pane.until(ok, what, timeout)
        rec = self.steps.setdefault(step, Step())
        rec.wall.append(t1 - t0)
        rec.cpu.append(self.pane.cpu() - c0)
        return self.pane.screen()


def counts_for(url: str, texts: list[str]) -> dict[str, int]:
    """Rows the runs table shows for each filter text (the app's own filter rule)."""
    from adlab.db.engine import get_engine
    from adlab.db.tui_queries import fetch_run_rows
    from adlab.tui.runs_model import RunFilter

    rows = fetch_run_rows(get_engine(url)).rows
    return {t: sum(1 for r in rows if RunFilter(text=t).matches(r)) for t in texts}


STATUS = re.compile(r"(\d+) of (\d+) runs")
SORTED = re.compile(r"sorted by (.+?) [▲▼]")


def shown_count(screen: str) -> int | None:
    m = STATUS.search(screen)
    return int(m.group(1)) if m else None


def all_counted(screen: str, n: int) -> bool:
    return f"{n} of {n} runs" in screen and "loading" not in screen


def sort_label(screen: str) -> str | None:
    m = SORTED.search(screen)
    return m.group(1) if m else None


def first_row_id(screen: str) -> str | None:
    """The id of the first run line under the table header."""
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        if " Status " in line and "Name" in line:
            for nxt in lines[i + 1:]:
                m = re.match(r"^\s*[●]?\s*(\d+)\s", nxt)
                return m.group(1) if m else None
    return None


def settled_first_row(pane: Pane, quiet_s: float = 0.6, timeout: float = 30.0) -> str | None:
    """The first visible row once it has stopped changing for ``quiet_s`` (a re-sort may still
    be on its way to the screen)."""
    end = time.perf_counter() + timeout
    last, since = first_row_id(pane.screen()), time.perf_counter()
    while time.perf_counter() < end:
        time.sleep(0.1)
        now = first_row_id(pane.screen())
        if now != last:
            last, since = now, time.perf_counter()
        elif last is not None and time.perf_counter() - since >= quiet_s:
            return last
    raise SystemExit(f"the first row never settled; screen:\n{pane.screen()}")


def p95(values: list[float]) -> float:
    ms = sorted(values)
    return ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]


def terminal_floor(size: tuple[int, int], repeat: int) -> list[float]:
    """The same send-keys → capture-pane loop against `cat` in a pane: what the method itself
    costs on this machine (process spawns under load), to read the app's figures against."""
    pane = Pane(f"floor{os.getpid()}", size)
    times = []
    try:
        pane.start("cat")
        time.sleep(0.5)
        for i in range(repeat):
            mark = f"k{i}z"
            t = pane.keys("-l", mark)
            times.append(pane.until(lambda s, m=mark: m in s, "echo") - t)
    finally:
        pane.stop()
    return times


FILTER_WORD = "padim_00"


def prepare_lab(url: str, n: int, root: Path, counts_file: Path) -> None:
    """Build the lab, and count the rows each filter prefix leaves, with the adlab of ``root``
    (in a process of its own): the oldest tree measured must find a schema it knows, and any
    newer one upgrades the lab when it opens it."""
    code = ("import json, sys; from bench_tui import build_lab, counts_for; "
            f"build_lab({url!r}, {n}); "
            f"word = {FILTER_WORD!r}; "
            "counts = counts_for(" + repr(url) + ", [word[:k] for k in range(1, len(word) + 1)]); "
            f"open({str(counts_file)!r}, 'w').write(json.dumps(counts))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(ROOT / "benchmarks")])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def app_command(db: Path, app_root: Path) -> str:
    adlab = Path(sys.executable).with_name("adlab")
    # the app from ``app_root`` (PYTHONPATH wins over the editable install)
    return (f"env PYTHONPATH={shlex.quote(str(app_root))} {shlex.quote(str(adlab))} "
            f"--db {shlex.quote(str(db))} tui")


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0]


def timed_launch(pane: Pane, run: Session, command: str, n: int) -> None:
    """Start the app; record launch-to-first-rows and launch-to-all-counted (wall, and the
    app's CPU time since its start)."""
    t0 = pane.start(command)
    t1 = pane.until(lambda s: first_row_id(s) is not None, "first rows", timeout=60)
    c1 = pane.cpu()
    t2 = pane.until(lambda s: all_counted(s, n), "every run counted", timeout=60)
    c2 = pane.cpu()
    for name, wall, cpu in (("launch to first rows", t1 - t0, c1),
                            ("launch to all runs counted", t2 - t0, c2)):
        rec = run.steps.setdefault(name, Step())
        rec.wall.append(wall)
        rec.cpu.append(cpu)


def timed_compare(pane: Pane, run: Session, step: str, n: int) -> None:
    """`c` until the grouped comparison of the runs in view is drawn, then Escape back."""
    run.timed(step, lambda: pane.keys("c"),
              lambda s: "run(s) with image_auroc in" in s, "compare", timeout=60)
    pane.keys("Escape")
    pane.until(lambda s: shown_count(s) == n, "back to runs")


SETTLE_S = 1.0  # after the table is complete, before `c` on a fresh launch


def measure_launch(db: Path, n: int, size: tuple[int, int], app_root: Path, run: Session,
                   index: int) -> None:
    """One more fresh launch on the same lab: launch to first rows / all counted, and the
    compare screen's first open (pressed ``SETTLE_S`` after the table is complete)."""
    pane = Pane(f"bench{os.getpid()}l{index}", size)
    run.pane = pane
    run.loads.append(load_average())
    try:
        timed_launch(pane, run, app_command(db, app_root), n)
        time.sleep(SETTLE_S)
        timed_compare(pane, run, "compare (c) first open", n)
        pane.keys("q")
    finally:
        pane.stop()
    run.loads.append(load_average())


def measure(db: Path, url: str, n: int, size: tuple[int, int], repeat: int,
            app_root: Path, expect: dict[str, int], run: Session | None = None) -> Session:
    """The first launch of ``app_root``: launch, idle CPU, then every interactive step."""
    pane = Pane(f"bench{os.getpid()}", size)
    run = run or Session(pane)
    run.pane = pane
    run.loads.append(load_average())
    try:
        timed_launch(pane, run, app_command(db, app_root), n)
        time.sleep(SETTLE_S)
        c0 = pane.cpu()
        time.sleep(3.0)
        run.steps["idle CPU per s"] = Step([0.0], [(pane.cpu() - c0) / 3.0])

        # filter: type a word into the box one key at a time
        word = FILTER_WORD
        prefixes = [word[:k] for k in range(1, len(word) + 1)]
        pane.keys("/")
        pane.until(lambda s: "filter" in s, "filter focus")
        prev = n
        for _ in range(max(1, repeat // 4)):
            for text in prefixes:
                want = expect[text]
                if want == prev:
                    pane.keys("-l", text[-1])
                    time.sleep(0.05)
                    continue
                run.timed("filter (one key)", lambda c=text[-1]: pane.keys("-l", c),
                          lambda s, w=want: shown_count(s) == w, f"filter {text}")
                prev = want
            for _ in prefixes:  # clear it again, key by key
                pane.keys("BSpace")
            pane.until(lambda s: shown_count(s) == n, "filter cleared")
            prev = n
        pane.keys("Escape")
        time.sleep(0.3)

        # sort: `s` cycles columns; the status line names the new one
        first = sort_label(pane.screen())
        label = first
        for _ in range(repeat):
            screen = run.timed("sort (s)", lambda: pane.keys("s"),
                               lambda s, old=label: sort_label(s) not in (None, old),
                               f"sort after {label}")
            label = sort_label(screen)
        for _ in range(40):  # back to the order the app opened with
            if label == first:
                break
            pane.keys("s")
            pane.until(lambda s, old=label: sort_label(s) not in (None, old), "next sort")
            label = sort_label(pane.screen())

        # scroll: page down (the first visible row changes), then G / g
        pane.keys("g")
        top = settled_first_row(pane)
        pane.keys("PageDown")  # the first press moves the cursor to the page's end
        time.sleep(0.3)
        for _ in range(repeat):
            before = first_row_id(pane.screen())
            run.timed("scroll (PageDown, G, g)", lambda: pane.keys("PageDown"),
                      lambda s, b=before: first_row_id(s) not in (None, b), "page down")
        for _ in range(max(1, repeat // 2)):
            before = first_row_id(pane.screen())
            run.timed("scroll (PageDown, G, g)", lambda: pane.keys("G"),
                      lambda s, b=before: first_row_id(s) not in (None, b), "end")
            run.timed("scroll (PageDown, G, g)", lambda: pane.keys("g"),
                      lambda s: first_row_id(s) == top, "home")

        # detail: Enter on the top run, Escape back
        for _ in range(max(1, repeat // 2)):
            run.timed("open detail (Enter)", lambda: pane.keys("Enter"),
                      lambda s: f" #{top} " in s and "Overview" in s, "detail")
            pane.keys("Escape")
            pane.until(lambda s: shown_count(s) == n, "back to runs")

        # compare: every run in view, grouped and ranked
        for i in range(max(2, repeat // 2)):  # the first open apart: nothing is remembered yet
            timed_compare(pane, run, "compare (c) first open" if i == 0 else
                          "compare (c) reopened", n)
        pane.keys("q")
    finally:
        pane.stop()
    run.loads.append(load_average())
    return run


TARGETS = {"launch to first rows": 1.0, "filter (one key)": 0.05, "sort (s)": 0.05,
           "scroll (PageDown, G, g)": 0.05, "open detail (Enter)": 0.2,
           "compare (c) first open": 0.2, "compare (c) reopened": 0.2}


def report(label: str, run: Session) -> list[str]:
    loads = run.loads if len(run.loads) <= 2 else [
        run.loads[0], f"max {max(run.loads, key=float)}", run.loads[-1]]
    print(f"\n== {label}   (load average {' -> '.join(loads)} on {os.cpu_count()} CPU(s))")
    missed = []
    for name, step in run.steps.items():
        wall = [v * 1000 for v in step.wall]
        cpu = [v * 1000 for v in step.cpu]
        if name == "idle CPU per s":
            print(f"{name:<28} {'':44} cpu {cpu[0]:7.1f} ms")
            continue
        print(f"{name:<28} median {statistics.median(wall):7.1f} ms   p95 {p95(wall):7.1f} ms   "
              f"cpu median {statistics.median(cpu):7.1f} ms   (n={len(wall)})")
        limit = TARGETS.get(name)
        if limit is not None and p95(step.wall) > limit:
            missed.append(f"{name} p95 {p95(wall):.0f} ms > {limit * 1000:.0f} ms")
    print("targets:", "met" if not missed else "NOT met: " + "; ".join(missed))
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--size", default="160x45")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--launches", type=int, default=5,
                        help="fresh launches per app tree (launch and compare first open n=N)")
    parser.add_argument("--app-root", action="append", type=Path, default=[],
                        help="source tree of the app to measure (repeatable; default: this one)")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is needed (apt-get install -y tmux)", file=sys.stderr)
        return 2
    size = tuple(int(x) for x in args.size.split("x"))
    roots = [r.resolve() for r in args.app_root] or [ROOT]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        url = f"sqlite:///{db}"
        os.environ["ADLAB_ARTIFACTS"] = str(Path(tmp) / "exports")
        t0 = time.perf_counter()
        counts_file = Path(tmp) / "counts.json"
        prepare_lab(url, args.runs, roots[0], counts_file)
        expect = json.loads(counts_file.read_text())
        print(f"built in {time.perf_counter() - t0:.1f} s; terminal {args.size} (tmux), "
              f"{os.cpu_count()} CPU(s)")
        floor = terminal_floor(size, args.repeat)  # type: ignore[arg-type]
        fl = [v * 1000 for v in floor]
        print(f"floor: key echoed by cat      median {statistics.median(fl):7.1f} ms   "
              f"p95 {p95(fl):7.1f} ms")
        runs = {root: Session(Pane("", size)) for root in roots}  # type: ignore[arg-type]
        for i in range(max(1, args.launches)):
            for root in roots:  # interleaved: a change of load hits every tree alike
                if i == 0:
                    measure(db, url, args.runs, size, args.repeat, root,  # type: ignore[arg-type]
                            expect, runs[root])
                else:
                    measure_launch(db, args.runs, size, root, runs[root], i)  # type: ignore[arg-type]
        results = list(runs.items())
    for root, run in results:
        report(str(root), run)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
