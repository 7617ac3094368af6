"""Hot reload: save-to-active latency through the watcher (p50/p95), and RSS before/after
1,000 reloads (each a new Host + C ruleset, the old one freed)."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import _rules_common  # noqa: F401  (sys.path)
from _rules_common import rss_mb

from connectors.files.rules_files import read_rules_dir
from connectors.loops.rules_watcher import RulesWatcher
from engine.rules.compiler import content_hash
from engine.rules.registry import RulesRegistry
from engine.rules.samples import typical_long
from tests.rules_support import RULES_DIR, case_files, config, rule_files


def save_to_active() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rules_dir = Path(tmp) / "rules"
        shutil.copytree(RULES_DIR, rules_dir)
        reg = RulesRegistry(lambda: read_rules_dir(rules_dir), config)
        reg.reload("startup")
        watcher = RulesWatcher(reg, [rules_dir], debounce_ms=50, step_ms=10).start()
        time.sleep(0.5)
        base = (rules_dir / "risk.yaml").read_text()
        latencies = []
        for i in range(40):
            text = base.replace("why: analytics says risk off", f"why: analytics says risk off ({i})")
            tmpf = rules_dir / ".risk.yaml.swp"
            tmpf.write_text(text)
            expected = content_hash({**rule_files(rules_dir), "risk.yaml": text})
            t = time.perf_counter()
            tmpf.replace(rules_dir / "risk.yaml")          # editor save: temp file + rename
            while reg.active.version != expected:          # type: ignore[union-attr]
                if time.perf_counter() - t > 5:
                    raise SystemExit("reload did not happen within 5 s")
                time.sleep(0.002)
            latencies.append(time.perf_counter() - t)
            reg.decide(typical_long())
            time.sleep(0.2)
        watcher.stop()
        reg.close()
    q = statistics.quantiles(latencies, n=20)
    print(f"save-to-active over {len(latencies)} saves: p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {q[18] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms (watch debounce 50 ms, as showdown analyze uses)")


def reload_memory(n: int = 1000) -> None:
    files = rule_files()
    alt = {**files, "risk.yaml": files["risk.yaml"] + "\n# alternate\n"}
    state = {"i": 0}

    def reader() -> tuple[dict[str, str], dict[str, str]]:
        state["i"] += 1
        return (files if state["i"] % 2 else alt), case_files()

    reg = RulesRegistry(reader, config)
    for _ in range(50):
        assert reg.reload("bench").ok
        reg.decide(typical_long())
    before = rss_mb()
    t = time.perf_counter()
    for _ in range(n):
        assert reg.reload("bench").ok
        reg.decide(typical_long())
    dt = time.perf_counter() - t
    after = rss_mb()
    reg.close()
    print(f"{n} reloads (compile + new Host + rule tests + swap) in {dt:.1f} s ({dt / n * 1000:.0f} ms each): "
          f"RSS before {before:.1f} MB, after {after:.1f} MB (delta {after - before:+.1f} MB)")


if __name__ == "__main__":
    save_to_active()
    reload_memory()
