"""Benchmark the explorer page: file sizes, and open / step / zoom times in headless Chromium.

Run by hand: ``python bench/explorer.py`` (``--quick`` skips the 20,000-op chain). Needs
Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package. Prints one table:
for each graph the HTML size, the time to build it in Python, the time from opening the saved
file to an interactive page, the mean time of one step forward and of one zoom frame (wheel
event to the next painted frame), each against its target.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dags import lecture_graphs, random_dag

from graphanim import TorchGraph
from graphanim.explorer import Explorer

_STEP_JS = """
const done = arguments[arguments.length - 1];
const root = document.querySelector('[data-graphanim-explorer]');
const fwd = root.querySelector('[data-do=forward]'), view = root.querySelector('.ga-view');
function frame() { return new Promise(r => requestAnimationFrame(() => setTimeout(r, 0))); }
(async () => {
  const steps = [], zooms = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now(); fwd.click(); await frame(); steps.push(performance.now() - t);
  }
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    view.dispatchEvent(new WheelEvent('wheel', {deltaY: i % 2 ? 120 : -120, clientX: 400,
      clientY: 300, bubbles: true, cancelable: true}));
    await frame(); zooms.push(performance.now() - t);
  }
  const mean = a => a.reduce((x, y) => x + y, 0) / a.length;
  done([mean(steps), mean(zooms)]);
})();
"""


def _chain(n: int) -> TorchGraph:
    """A captured chain of ``n`` ops (sin and mul in turn)."""
    def f(x):
        for _ in range(n // 2):
            x = torch.sin(x) * 1.01
        return x

    return TorchGraph(f, [0.3])




def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,900"):
        opts.add_argument(arg)
    opts.binary_location = shutil.which("chromium") or "chromium"
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"),
                            options=opts)


def _measure(driver, path: Path) -> tuple[float, float, float]:
    start = time.perf_counter()
    driver.get(path.resolve().as_uri())
    while not driver.execute_script("return !!document.querySelector('[data-ready]')"):
        time.sleep(0.005)
    opened = time.perf_counter() - start
    driver.set_script_timeout(120)
    step, zoom = driver.execute_async_script(_STEP_JS)
    return opened, step, zoom


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 20,000-op chain")
    args = parser.parse_args(argv)
    cases = [("lecture ((x²+y)·z)²", lambda: lecture_graphs()["chain_rule"], 150e3),
             ("1000-op DAG", lambda: random_dag(1000, values=True), 1.5e6)]
    if not args.quick:
        cases.append(("20,000-op chain", lambda: _chain(20000), None))
    driver = _driver()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, make, size_target in cases:
            graph = make()
            t = time.perf_counter()
            path = Explorer(graph).save(Path(tmp) / "page.html")
            build = time.perf_counter() - t
            size = path.stat().st_size
            opened, step, zoom = _measure(driver, path)
            rows.append((name, len(graph.nodes), size, size_target, build, opened, step, zoom))
    driver.quit()
    head = (f"{'graph':<22}{'nodes':>7}{'size':>11}{'target':>9}{'build s':>9}{'open s':>8}"
            f"{'≤3':>5}{'step ms':>9}{'≤100':>6}{'zoom ms':>9}{'≤100':>6}")
    print(head)
    for name, nodes, size, target, build, opened, step, zoom in rows:
        tgt = "—" if target is None else f"{target / 1e6:.2f}MB"
        print(f"{name:<22}{nodes:>7}{size / 1e6:>9.3f}MB{tgt:>9}{build:>9.2f}{opened:>8.2f}"
              f"{opened / 3:>5.2f}{step:>9.1f}{step / 100:>6.2f}{zoom:>9.1f}{zoom / 100:>6.2f}")
    print("ratio columns: measured ÷ target (≤ 1 meets it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
