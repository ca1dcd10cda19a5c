"""The HTML view in a real browser: `maskner tag --format html`, `maskner fill-mask --format
html` and the demo page of `maskner serve`, driven through Debian's chromium and
chromium-driver with Selenium. Every page's screenshot is saved in the test's temp directory.

Skips when chromium, chromedriver or selenium is missing, except under CI (CI=true), where that
is a failure: `.ci/run` installs them."""

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, model_args, jsonl

CHROMIUM = os.environ.get("MASKNER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("MASKNER_CHROMEDRIVER") or shutil.which("chromedriver")

HOSTILE = [
    {"id": "xss-script", "text": "Aspirin:__entity__ helps <script>alert(1)</script> & \"quotes\" 'too' ."},
    {"id": "xss-attr", "text": "<img src=x onerror=alert(1)> treats headache in Boston ."},
    {"id": "rtl", "text": "The patient שלום received insulin in Cairo ‏مرحبا‏ ."},
    {"id": "combining", "text": "Nai\u0308ve T cells and α-synuclein 😀 in Zoë Müller ."},
    {"id": "plain", "text": "Imatinib:__entity__ mesylate:__entity__ is used to treat CML:__entity__ ."},
    {"id": "bad-spans", "text": "short", "spans": [[3, 99]]},
]


def _missing():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    if not CHROMIUM:
        return "chromium is not installed (apt install chromium)"
    if not CHROMEDRIVER:
        return "chromedriver is not installed (apt install chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser():
    why = _missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests need chromium: {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900"):
        opts.add_argument(a)
    # the driver and browser are Debian's: Selenium Manager must not try to download either
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def by_css(driver, css):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, css)


def wait_for(driver, predicate, what, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def open_page(driver, path, shot):
    driver.get(Path(path).as_uri() if not str(path).startswith("http") else path)
    wait_for(driver, lambda: driver.execute_script("return document.body.dataset.ready") == "1", "the page to render")
    driver.save_screenshot(str(shot))


def assert_no_alert(driver):
    from selenium.common.exceptions import NoAlertPresentException

    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return
    pytest.fail(f"a script from the input ran: alert({text!r})")


def tag_page(cli, tmp_path, records, *extra, name="page"):
    src = tmp_path / f"{name}.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    page = tmp_path / f"{name}.html"
    proc = cli("tag", *model_args(), "--input", str(src), "--format", "html", *extra, check=False)
    assert proc.returncode in (0, 2), proc.stderr
    page.write_text(proc.stdout, encoding="utf-8")
    json_proc = cli("tag", *model_args(), "--input", str(src), "--format", "jsonl", *extra, check=False)
    return page, jsonl(json_proc.stdout)


def marks_of(driver):
    return driver.execute_script(
        """return Array.from(document.querySelectorAll('mark.ent')).map(m => ({
             group: m.dataset.group, subtype: m.dataset.subtype, start: +m.dataset.start,
             end: +m.dataset.end, second: m.dataset.second || null,
             word: m.querySelector('.word').textContent}));"""
    )


def expected_marks(records):
    out = []
    for r in records:
        text = r.get("text")
        for e in r.get("entities", []):
            out.append({"group": e["group"], "subtype": e["subtype"], "start": e["start"], "end": e["end"],
                        "second": (e.get("second") or {}).get("group"), "word": "".join(list(text)[e["start"]:e["end"]])})
    return out


def test_tag_page_marks_equal_the_json_output_and_no_input_script_runs(cli, browser, tmp_path):
    page, records = tag_page(cli, tmp_path, HOSTILE, "--explain")
    html = page.read_text(encoding="utf-8")
    # the input's markup never reaches the page as markup, not even inside the data element
    assert "<script>alert" not in html and "<img" not in html
    assert html.count("<script") == 2
    open_page(browser, page, tmp_path / "tag.png")
    assert_no_alert(browser)
    assert by_css(browser, "#app img") == [] and len(by_css(browser, "script")) == 2
    want = expected_marks(records)
    assert len(want) > 5
    assert marks_of(browser) == want
    # the hostile texts are shown as text, character for character
    shown = [t.get_attribute("textContent") for t in by_css(browser, "details.record .text")]
    assert shown == [r["text"] for r in records if "error" not in r]
    # the error record is shown as a message, in its place
    errors = by_css(browser, ".record.error")
    assert len(errors) == 1 and "span 3..99" in errors[0].text and "bad-spans" in errors[0].text
    # dual predictions are marked as such
    duals = [m for m in want if m["second"]]
    assert len(by_css(browser, "mark.ent.dual")) == len(duals)
    # legend counts per group
    legend = {b.get_attribute("data-group"): b.text for b in by_css(browser, ".legend button")}
    for g in {m["group"] for m in want}:
        assert legend[g] == f"{g} {sum(1 for m in want if m['group'] == g)}"


def panel_descriptors(driver, member):
    return driver.execute_script(
        """const sec = document.querySelector(`#panel section[data-member="${arguments[0]}"]`);
           const rows = Array.from(sec.querySelectorAll('tr.desc'));
           return rows.map(r => [r.dataset.at, r.querySelector('.token').textContent,
                                 +r.querySelector('.num').textContent, r.dataset.labels]);""",
        member,
    )


def test_clicking_an_entity_lists_its_explain_descriptors(cli, browser, tmp_path):
    page, records = tag_page(cli, tmp_path, HOSTILE, "--explain")
    open_page(browser, page, tmp_path / "before-click.png")
    ents = [(r, e) for r in records for e in r.get("entities", [])]
    marks = by_css(browser, "mark.ent")
    assert len(marks) == len(ents)
    for k in (0, len(ents) - 1):
        record, ent = ents[k]
        marks[k].click()
        wait_for(browser, lambda: by_css(browser, "#panel:not([hidden])"), "the panel")
        browser.save_screenshot(str(tmp_path / f"panel-{k}.png"))
        assert by_css(browser, "#panel-title")[0].text == ent["word"]
        assert by_css(browser, "#panel .decided")[0].text == ent["member"]
        for member, ex in ent["explanation"].items():
            want = [["mask", d["token"], round(d["logit"], 4), d["labels"]] for d in ex["cs_descriptors"]]
            ci = ex["ci_descriptors"]
            assert {d["at"] for d in ci} <= {"cls", "mask"}
            want += [[d["at"], d["token"], round(d["logit"], 4), d["labels"]] for d in ci if d["at"] == "cls"]
            want += [[d["at"], d["token"], round(d["logit"], 4), d["labels"]] for d in ci if d["at"] == "mask"]
            got = panel_descriptors(browser, member)
            assert got == want
            other = [m for m in ent["explanation"] if m != ent["member"]]
            for m in other:
                assert f"{m} voted" in by_css(browser, "#panel .kv")[0].text
        by_css(browser, "#panel .close")[0].click()
        wait_for(browser, lambda: by_css(browser, "#panel[hidden]"), "the panel to close")


def test_keyboard_opens_the_panel(cli, browser, tmp_path):
    from selenium.webdriver.common.keys import Keys

    page, records = tag_page(cli, tmp_path, HOSTILE[4:5])
    open_page(browser, page, tmp_path / "keyboard.png")
    mark = by_css(browser, "mark.ent")[0]
    mark.send_keys(Keys.ENTER)
    wait_for(browser, lambda: by_css(browser, "#panel:not([hidden])"), "the panel")
    # without --explain the panel says how to get descriptors
    assert "--explain" in by_css(browser, "#panel")[0].text
    by_css(browser, "#panel .close")[0].send_keys(Keys.ESCAPE)
    wait_for(browser, lambda: by_css(browser, "#panel[hidden]"), "Escape to close the panel")


def test_group_filter_hides_records_without_the_group(cli, browser, tmp_path):
    page, records = tag_page(cli, tmp_path, HOSTILE[:5])
    open_page(browser, page, tmp_path / "filter.png")
    groups = sorted({e["group"] for r in records for e in r.get("entities", [])})
    g = groups[0]
    by_css(browser, f'.legend button[data-group="{g}"]')[0].click()
    visible = browser.execute_script(
        "return Array.from(document.querySelectorAll('details.record')).filter(d => getComputedStyle(d).display !== 'none').length"
    )
    assert visible == sum(1 for r in records if any(e["group"] == g for e in r.get("entities", [])))


def test_thousand_records_page_size_and_load(cli, browser, tmp_path):
    words = ["aspirin", "insulin", "Boston", "leukemia", "tumour", "patients", "kinase", "fever", "liver", "Paris"]
    records = [{"id": i, "text": f"The {words[i % 10]} of {words[(i * 3) % 10]} was seen with {words[(i * 7) % 10]} in case {i} ."}
               for i in range(1000)]
    page, json_records = tag_page(cli, tmp_path, records)
    size = page.stat().st_size
    assert size < 3_000_000, f"1,000 records without --explain: {size} bytes"
    explained, _ = tag_page(cli, tmp_path, records, "--explain", name="explained")
    started = time.monotonic()
    open_page(browser, explained, tmp_path / "thousand.png")
    took = time.monotonic() - started
    assert len(by_css(browser, "mark.ent")) == sum(len(r["entities"]) for r in json_records)
    assert len(by_css(browser, "details.record:not([open])")) == 1000  # collapsed
    print(f"1,000 records: {size} bytes, with --explain {explained.stat().st_size} bytes, opened in {took:.2f} s")


def test_fill_mask_page_shows_mask_and_cls_side_by_side(cli, browser, tmp_path):
    texts = ["Paris is the [MASK] of [MASK] .", "<b>bold</b> [MASK] & more"]
    want = jsonl(cli("fill-mask", "--model", str(ROOT / "data/fixtures/tiny-bert-cased"), "--format", "json", *texts).stdout)
    assert want == jsonl(cli("fill-mask", "--model", str(ROOT / "data/fixtures/tiny-bert-cased"), "--json", *texts).stdout)
    page = tmp_path / "fill.html"
    page.write_text(cli("fill-mask", "--model", str(ROOT / "data/fixtures/tiny-bert-cased"), "--format", "html", *texts).stdout, encoding="utf-8")
    open_page(browser, page, tmp_path / "fill.png")
    assert_no_alert(browser)
    sections = by_css(browser, "section.fill")
    assert len(sections) == 2
    for sec, rec in zip(sections, want):
        cols = browser.execute_script(
            "return Array.from(arguments[0].querySelectorAll('.col')).map(c => Array.from(c.querySelectorAll('tr')).map(r => r.dataset.token));",
            sec,
        )
        assert cols == [[p["token"] for p in m["predictions"]] for m in rec["masks"]] + [[p["token"] for p in rec["cls"]]]
    assert by_css(browser, "section.fill .text")[1].get_attribute("textContent") == texts[1]


class Server:
    def __init__(self, cli_path, *extra, env=None):
        self.proc = subprocess.Popen([cli_path, "serve", "--port", "0", *model_args(), *extra], cwd=ROOT,
                                     stderr=subprocess.PIPE, text=True, env=env)
        line = ""
        end = time.monotonic() + 120
        while time.monotonic() < end:
            line = self.proc.stderr.readline()
            m = re.search(r"on (http://[0-9.:]+)", line)
            if m:
                self.url = m.group(1)
                return
            if not line and self.proc.poll() is not None:
                break
        self.proc.kill()
        raise AssertionError(f"maskner serve did not start: {line}")

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def server(cli):
    from conftest import _find_cli

    s = Server(_find_cli(), "--max-chars", "120")
    yield s
    s.stop()


def test_demo_page_tags_typed_text_and_shows_server_errors(server, browser, tmp_path):
    open_page(browser, server.url + "/", tmp_path / "demo-empty.png")
    wait_for(browser, lambda: "bio (masked-lm" in by_css(browser, "#members")[0].text, "the members from /v1/info")
    text = "Imatinib:__entity__ treats leukemia:__entity__ in <img src=x onerror=alert(1)> Boston:__entity__ ."
    box = by_css(browser, "#text")[0]
    box.clear()
    box.send_keys(text)
    by_css(browser, "#tag")[0].click()
    wait_for(browser, lambda: by_css(browser, "#result mark.ent"), "the marks")
    browser.save_screenshot(str(tmp_path / "demo.png"))
    assert_no_alert(browser)
    status, record = server.post("/v1/ner", {"text": text, "explain": True})
    assert status == 200
    assert marks_of(browser) == expected_marks([record])
    by_css(browser, "#result mark.ent")[0].click()
    wait_for(browser, lambda: by_css(browser, "#panel section[data-member]"), "the descriptors panel")
    ent = record["entities"][0]
    got = panel_descriptors(browser, ent["member"])
    assert [g[1] for g in got[: len(ent["explanation"][ent["member"]]["cs_descriptors"])]] == [
        d["token"] for d in ent["explanation"][ent["member"]]["cs_descriptors"]]
    by_css(browser, "#panel .close")[0].click()
    # a text over --max-chars: the server's 422 is shown as a readable message
    box.clear()
    box.send_keys("word " * 40)
    by_css(browser, "#tag")[0].click()
    msg = wait_for(browser, lambda: [m for m in by_css(browser, "#message.error") if m.text], "the error message")[0].text
    browser.save_screenshot(str(tmp_path / "demo-422.png"))
    assert msg.startswith("The server answered 422") and "120" in msg, msg
    assert by_css(browser, "#result mark.ent") == []


def test_serve_without_ui_has_no_demo_page(cli):
    from conftest import _find_cli

    s = Server(_find_cli(), "--no-ui")
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(s.url + "/")
        assert err.value.code == 404
        with urllib.request.urlopen(s.url + "/health") as r:
            assert r.status == 200
    finally:
        s.stop()


def test_demo_page_asks_for_the_api_key_and_sends_it(cli, browser, tmp_path):
    from conftest import _find_cli

    key = "browser-test-key-0123456789abcdef"
    s = Server(_find_cli(), env={**os.environ, "MASKNER_API_KEY": key})
    try:
        # the page itself loads without a key; the members need one
        open_page(browser, s.url + "/", tmp_path / "key-empty.png")
        members = wait_for(browser, lambda: [m for m in by_css(browser, "#members") if "unavailable" in m.text], "the 401 on /v1/info")[0]
        assert "requires an API key" in members.text, members.text
        assert by_css(browser, "#key-box")[0].is_displayed()
        box = by_css(browser, "#api-key")[0]
        box.send_keys("wrong-key-0123456789abcdef")
        by_css(browser, "#tag")[0].click()
        msg = wait_for(browser, lambda: [m for m in by_css(browser, "#message.error") if "did not accept" in m.text], "the invalid-key message")
        assert msg[0].text.startswith("The server did not accept this API key"), msg[0].text
        assert by_css(browser, "#result mark.ent") == []
        box.clear()
        box.send_keys(key)
        by_css(browser, "#tag")[0].click()
        wait_for(browser, lambda: by_css(browser, "#result mark.ent"), "the marks, tagged with the key")
        wait_for(browser, lambda: "bio (masked-lm" in by_css(browser, "#members")[0].text, "the members, reloaded with the key")
        browser.save_screenshot(str(tmp_path / "key-tagged.png"))
        # and the server really wants the key: the same request without it is refused
        status, body = s.post("/v1/ner", {"text": "Imatinib treats leukemia ."})
        assert status == 401 and body["error"].startswith("missing API key"), body
    finally:
        s.stop()
