"""The explorer page in a real browser (headless Chromium via Selenium), through its ARIA contract."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import torch

from graphanim import TorchGraph
from graphanim.frames import build_frames
from graphanim.explorer import plain_caption

pytestmark = pytest.mark.browser

_CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="session")
def browser():
    if not (_CHROMIUM and _DRIVER):
        pytest.skip("headless Chromium and chromedriver are not installed "
                    "(apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,900"):
        opts.add_argument(arg)
    opts.binary_location = _CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(_DRIVER), options=opts)
    yield driver
    driver.quit()


def _open(browser, path: Path):
    from selenium.webdriver.common.by import By

    browser.get(path.resolve().as_uri())
    deadline = time.monotonic() + 20
    while not browser.execute_script("return !!document.querySelector('[data-ready]')"):
        assert time.monotonic() < deadline, "the explorer never became interactive"
        time.sleep(0.02)
    browser.get_log("browser")  # start each test with an empty console
    return browser.find_element(By.CSS_SELECTOR, "[data-graphanim-explorer]")


def _errors(browser) -> list:
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


@pytest.fixture(scope="module")
def branches(tmp_path_factory):
    graph = TorchGraph(lambda a, b: (a + b) * (b + 1), [2.0, 1.0])
    path = tmp_path_factory.mktemp("explorer") / "branches.html"
    graph.explore().save(path)
    return graph, path


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    graph = TorchGraph(lambda x: model(x).sum(), [torch.randn(2, 3)])
    path = tmp_path_factory.mktemp("explorer") / "mlp.html"
    graph.explore().save(path)
    return graph, path


def _button(root, name: str):
    from selenium.webdriver.common.by import By

    return root.find_element(By.CSS_SELECTOR, f'button[aria-label="{name}"]')


def test_contract_elements_are_there(browser, branches):
    from selenium.webdriver.common.by import By

    graph, path = branches
    root = _open(browser, path)
    assert len(root.find_elements(By.TAG_NAME, "svg")) >= 1
    nodes = root.find_elements(By.CSS_SELECTOR, "[data-node][role=button]")
    assert sorted(n.get_attribute("data-node") for n in nodes) == sorted(n.id for n in graph.nodes)
    for el in nodes:
        node = graph.node(el.get_attribute("data-node"))
        assert el.get_attribute("aria-label").startswith(node.name)
        assert el.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    for name in ("first step", "step back", "play", "step forward", "last step"):
        assert _button(root, name).is_displayed()
    assert root.find_element(By.CSS_SELECTOR, 'input[type=search][aria-label="search nodes"]')
    assert root.find_element(By.CSS_SELECTOR, '[role=region][aria-label="inspector"]')
    assert _errors(browser) == []


def test_stepping_shows_each_frames_caption_and_numbers(browser, branches):
    from selenium.webdriver.common.by import By

    graph, path = branches
    frames = build_frames(graph, "both")
    root = _open(browser, path)
    status = root.find_element(By.CSS_SELECTOR, "[role=status]")
    counter = root.find_element(By.CSS_SELECTOR, ".ga-counter")
    for k, frame in enumerate(frames):
        want = plain_caption(frame.caption) + (f"\n{plain_caption(frame.note)}" if frame.note
                                                else "")
        assert status.get_attribute("textContent") == want, k
        assert counter.text == f"{k + 1} / {len(frames)}"
        for node in graph.nodes:
            el = root.find_element(By.CSS_SELECTOR, f'[data-node="{node.id}"]')
            classes = el.get_attribute("class").split()
            assert ("ga-nov" not in classes) == (node.id in frame.values), (k, node.id)
            assert ("ga-nog" not in classes) == (node.id in frame.grads), (k, node.id)
            assert ("ga-active" in classes) == (node.id in frame.active), (k, node.id)
        _button(root, "step forward").click()
    _button(root, "first step").click()
    assert counter.text == f"1 / {len(frames)}"
    _button(root, "last step").click()
    assert counter.text == f"{len(frames)} / {len(frames)}"
    _button(root, "step back").click()
    assert counter.text == f"{len(frames) - 1} / {len(frames)}"
    assert _errors(browser) == []


def test_play_turns_into_pause_and_runs_to_the_end(browser, branches):
    from selenium.webdriver.common.by import By

    graph, path = branches
    root = _open(browser, path)
    _button(root, "play").click()
    pause = _button(root, "pause")
    time.sleep(1.2)
    counter = root.find_element(By.CSS_SELECTOR, ".ga-counter").text
    assert not counter.startswith("1 /"), "playing moves on by itself"
    pause.click()
    assert _button(root, "play")
    assert _errors(browser) == []


def test_clicking_a_node_inspects_it_with_torchs_numbers(browser, mlp):
    from selenium.webdriver.common.by import By

    graph, path = mlp
    root = _open(browser, path)
    w = graph["model.0.weight"]
    el = root.find_element(By.CSS_SELECTOR, f'[data-node="{w.id}"]')
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))",
                           el)
    assert el.get_attribute("aria-current") == "true"
    region = root.find_element(By.CSS_SELECTOR, '[role=region][aria-label="inspector"]')
    text = region.get_attribute("textContent")
    assert w.name in text and "float32" in text and "4×3" in text
    cells = region.find_elements(By.CSS_SELECTOR, "table.ga-numbers")
    assert len(cells) == 2, "value and gradient, every number"
    grads = [[float(td.get_attribute("textContent")) for td in tr.find_elements(By.TAG_NAME, "td")]
             for tr in cells[1].find_elements(By.TAG_NAME, "tr")]
    assert torch.allclose(torch.tensor(grads, dtype=torch.float64), w.grad.double(), rtol=1e-4,
                          atol=1e-6)
    assert "chain rule" in text.lower()
    # keyboard: Enter on a focused node inspects it too
    other = next(n for n in graph.nodes if n.kind == "output")
    el2 = root.find_element(By.CSS_SELECTOR, f'[data-node="{other.id}"]')
    browser.execute_script("arguments[0].focus()", el2)
    from selenium.webdriver.common.keys import Keys

    el2.send_keys(Keys.ENTER)
    assert el2.get_attribute("aria-current") == "true"
    assert el.get_attribute("aria-current") is None
    assert _errors(browser) == []


def test_search_centres_and_selects_and_escape_clears(browser, mlp):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    graph, path = mlp
    root = _open(browser, path)
    box = root.find_element(By.CSS_SELECTOR, 'input[type=search][aria-label="search nodes"]')
    before = browser.execute_script("return arguments[0].getAttribute('viewBox')",
                                    root.find_element(By.TAG_NAME, "svg"))
    target = next(n for n in graph.nodes if n.name.endswith("2.bias") or n.name.endswith(".bias"))
    box.send_keys(target.name, Keys.ENTER)
    el = root.find_element(By.CSS_SELECTOR, f'[data-node="{target.id}"]')
    assert el.get_attribute("aria-current") == "true"
    after = browser.execute_script("return arguments[0].getAttribute('viewBox')",
                                   root.find_element(By.TAG_NAME, "svg"))
    assert after != before, "the view moved to the node"
    box.send_keys(Keys.ESCAPE)
    assert el.get_attribute("aria-current") is None
    box.send_keys("no such node", Keys.ENTER)
    assert box.get_attribute("aria-invalid") == "true"
    assert _errors(browser) == []


def test_keyboard_steps_and_zooms(browser, branches):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    graph, path = branches
    root = _open(browser, path)
    counter = root.find_element(By.CSS_SELECTOR, ".ga-counter")
    svg = root.find_element(By.TAG_NAME, "svg")
    browser.execute_script("arguments[0].focus()", root)
    root.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert counter.text.startswith("3 /")
    root.send_keys(Keys.END)
    n = len(build_frames(graph, "both"))
    assert counter.text == f"{n} / {n}"
    root.send_keys(Keys.HOME)
    assert counter.text.startswith("1 /")
    fit = svg.get_dom_attribute("viewBox")
    root.send_keys("+")
    zoomed = svg.get_dom_attribute("viewBox")
    assert float(zoomed.split()[2]) < float(fit.split()[2])
    root.send_keys("0")
    assert svg.get_dom_attribute("viewBox") == fit
    root.send_keys("/")
    assert browser.switch_to.active_element.get_attribute("type") == "search"


def test_modules_collapse_and_expand_in_place(browser, mlp):
    from selenium.webdriver.common.by import By

    graph, path = mlp
    root = _open(browser, path)
    buttons = root.find_elements(By.CSS_SELECTOR, "button[aria-expanded]")
    labels = [b.get_attribute("aria-label") for b in buttons]
    assert any(lab.startswith("collapse ") for lab in labels), labels
    button = next(b for b in buttons if b.get_attribute("aria-label").endswith(".0"))
    path0 = button.get_attribute("aria-label").removeprefix("collapse ")
    inner = [n for n in graph.nodes if (n.attrs.get("module") or "") == path0 and n.is_op]
    assert inner
    button.click()
    assert button.get_attribute("aria-expanded") == "false"
    assert button.get_attribute("aria-label") == f"expand {path0}"
    for n in inner:
        assert not root.find_element(By.CSS_SELECTOR, f'[data-node="{n.id}"]').is_displayed()
    button.click()
    assert button.get_attribute("aria-expanded") == "true"
    for n in inner:
        assert root.find_element(By.CSS_SELECTOR, f'[data-node="{n.id}"]').is_displayed()
    assert _errors(browser) == []


def test_saved_page_makes_no_network_request(browser, mlp):
    graph, path = mlp
    _open(browser, path)
    entries = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert entries == []


def test_labels_hide_under_six_pixels_and_return_on_zoom(browser, mlp):
    from selenium.webdriver.common.by import By

    graph, path = mlp
    root = _open(browser, path)
    svg = root.find_element(By.TAG_NAME, "svg")
    screen_px = """
        const svg = arguments[0], t = svg.querySelector('text[data-fs]');
        const r = svg.getBoundingClientRect(), vb = svg.viewBox.baseVal;
        const scale = Math.min(r.width / vb.width, r.height / vb.height);
        return [+t.getAttribute('data-fs') * scale, getComputedStyle(t).display];
    """
    px, display = browser.execute_script(screen_px, svg)
    assert (display == "none") == (px < 6), (px, display)
    for _ in range(12):
        root.send_keys("+")
    px, display = browser.execute_script(screen_px, svg)
    assert px >= 6 and display != "none"
    assert _errors(browser) == []
