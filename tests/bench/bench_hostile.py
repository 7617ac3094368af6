"""The hostile-input corpus (tests/hostile_corpus.py) against every surface, timed: the
compiler, `showdown rules check` (its own process, start-up included, and in-process),
the watcher (write to refusal) and the site (validate and save through Flask). Prints
each case's time per surface and the worst seen; exits 1 when any refusal took longer
than TIME_BOUND_S or anything was accepted. With nginx and gunicorn installed it also
prints the /api/status latencies during the burst of 50 hostile drafts through Nginx."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _rules_common  # noqa: F401  (sys.path)

from connectors.files.rules_files import read_rules_dir
from connectors.loops.rules_watcher import RulesWatcher
from engine.rules.compiler import RulesRefused, compile_texts
from engine.rules.registry import RulesRegistry
from tests.hostile_corpus import HOSTILE_FILE, RULE_CASES, TIME_BOUND_S
from tests.rules_support import RULES_DIR, config, rule_files

ROOT = Path(__file__).resolve().parents[2]


BASELINE = "(the shipped rules: baseline)"


def compiler() -> dict[str, float]:
    compile_texts(rule_files(), config())                # warm: the shipped files' parse is cached
    t = time.perf_counter()
    compile_texts(rule_files(), config())
    out = {BASELINE: time.perf_counter() - t}
    for case in RULE_CASES:
        t = time.perf_counter()
        try:
            compile_texts({**rule_files(), HOSTILE_FILE: case.text}, config())
            out[case.name] = float("inf")           # accepted: a failure
        except RulesRefused:
            out[case.name] = time.perf_counter() - t
    return out


def cli(rules: Path) -> tuple[dict[str, float], dict[str, float]]:
    from click.testing import CliRunner

    from cli.main import showdown

    in_proc, own = {}, {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOWDOWN")}
    t = time.perf_counter()
    CliRunner().invoke(showdown, ["rules", "check", str(rules)])
    in_proc[BASELINE] = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli.main", "rules", "check", str(rules)], cwd=ROOT, env=env, capture_output=True)
    own[BASELINE] = time.perf_counter() - t
    for case in RULE_CASES:
        (rules / HOSTILE_FILE).write_text(case.text, encoding="utf-8")
        t = time.perf_counter()
        r = CliRunner().invoke(showdown, ["rules", "check", str(rules)])
        in_proc[case.name] = time.perf_counter() - t if r.exit_code == 1 else float("inf")
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "cli.main", "rules", "check", str(rules)], cwd=ROOT, env=env,
                           capture_output=True, text=True)
        ok = p.returncode == 1 and "Traceback" not in p.stderr
        own[case.name] = time.perf_counter() - t if ok else float("inf")
    (rules / HOSTILE_FILE).unlink()
    return in_proc, own


def watcher(rules: Path) -> dict[str, float]:
    reg = RulesRegistry(lambda: read_rules_dir(rules), config)
    reg.reload("startup")
    active = reg.active.version  # type: ignore[union-attr]
    w = RulesWatcher(reg, [rules], debounce_ms=50, step_ms=10).start()
    out = {BASELINE: float("nan")}
    try:
        time.sleep(0.3)
        for case in RULE_CASES:
            seen = len(reg.refusals)
            t = time.perf_counter()
            (rules / HOSTILE_FILE).write_text(case.text, encoding="utf-8")
            while len(reg.refusals) == seen and time.perf_counter() - t < 30:
                time.sleep(0.005)
            ok = len(reg.refusals) > seen and reg.active.version == active  # type: ignore[union-attr]
            out[case.name] = time.perf_counter() - t if ok else float("inf")
            (rules / HOSTILE_FILE).unlink()
            time.sleep(0.15)
    finally:
        w.stop()
        reg.close()
    return out


def site(tmp: Path) -> dict[str, float]:
    from tests.web.conftest import login, make_home, migrate
    from web import create_app, users

    os.environ["SHOWDOWN__WEB__COOKIE_SECURE"] = "false"
    where = make_home(tmp / "site")
    migrate(where)
    app = create_app(home=where)
    app.config["TESTING"] = True
    with app.app_context():
        users.add("operator", "operator-pass-123", "operator")
    client = login(app.test_client(), "operator", "operator-pass-123")
    token = client.get("/api/csrf").get_json()["csrf_token"]
    text = (where.rules_dir / "strategy.yaml").read_text()
    t = time.perf_counter()
    assert client.post("/api/rules/validate", json={"file": "strategy.yaml", "text": text},
                       headers={"X-CSRFToken": token}).status_code == 200
    out = {BASELINE: time.perf_counter() - t}
    for case in RULE_CASES:
        worst = 0.0
        for op in ("validate", "save"):
            t = time.perf_counter()
            r = client.post(f"/api/rules/{op}", json={"file": HOSTILE_FILE, "text": case.text},
                            headers={"X-CSRFToken": token})
            worst = max(worst, time.perf_counter() - t if r.status_code in (413, 422) else float("inf"))
        out[case.name] = worst
    assert not (where.rules_dir / HOSTILE_FILE).exists()
    return out


def burst() -> None:
    from tests.web.live import LiveSite, tools_missing
    from tests.web.test_hostile_live import BURST, burst_through_nginx

    reason = tools_missing()
    if reason:
        print(f"burst through Nginx: skipped ({reason})")
        return
    with tempfile.TemporaryDirectory() as d, LiveSite(Path(d)) as live:
        for in_flight in (None, 2):
            f = burst_through_nginx(live, BURST, in_flight)
            label = "all at once" if in_flight is None else f"{in_flight} in flight"
            print(f"burst of {BURST} hostile drafts through Nginx ({label}): /api/status n={f['status_n']:.0f} "
                  f"p50 {f['status_p50_ms']:.1f} ms, p99 {f['status_p99_ms']:.1f} ms, max {f['status_max_ms']:.1f} ms; "
                  f"{f['compiled_and_refused']:.0f} compiled and refused, {f['turned_away_429']:.0f} turned away (429), "
                  f"slowest answer {f['slowest_refusal_s']:.2f} s")


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rules = tmp / "rules"
        shutil.copytree(RULES_DIR, rules)
        surfaces = {"compiler": compiler()}
        surfaces["cli (in process)"], surfaces["cli (own process)"] = cli(rules)
        surfaces["watcher"] = watcher(rules)
        surfaces["site"] = site(tmp)
    names = list(surfaces)
    print(f"{'case':<30}" + "".join(f"{n:>19}" for n in names))
    for name in [BASELINE] + [c.name for c in RULE_CASES]:
        print(f"{name:<30}" + "".join(f"{surfaces[n][name] * 1000:>16.0f} ms" for n in names))
    worst = {n: max(v for k, v in vals.items() if k != BASELINE) for n, vals in surfaces.items()}
    print("worst: " + ", ".join(f"{n} {w * 1000:.0f} ms" for n, w in worst.items()))
    burst()
    # The own-process CLI time is mostly Python start-up and imports (see its baseline row).
    bad = [n for n, w in worst.items() if w > TIME_BOUND_S and n != "cli (own process)"]
    bad += [n for n, w in worst.items() if w == float("inf")]
    if bad:
        print(f"FAILED: over {TIME_BOUND_S} s or accepted on {sorted(set(bad))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
