"""Open a page in a real headless Chromium, offline, and measure it from inside the page.

`chromium --headless --dump-dom` loads a copy of the page with two tiny scripts added: one
first in <head> that records script and resource-load errors, one last in <body> that
measures the laid-out page (scroll width, each figure) and writes the result into the DOM,
which --dump-dom prints. The network is closed: no proxy, and every host name resolves to
nothing, so a page that needs a CDN shows it as an error or a fetched resource.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 1000
RESULT_ID = "__kubetfx_check"
HEAD = (
    "<script>window.__errors=[];window.addEventListener('error',function(e){"
    "window.__errors.push(e.message||('resource: '+((e.target&&(e.target.src||e.target.href))"
    "||'?')))},true);</script>"
)
TAIL = (
    "<script>(function(){var d=document.documentElement;var figs=[].map.call("
    "document.querySelectorAll('svg[id]'),function(s){var r=s.getBoundingClientRect();"
    "var t=s.querySelector('title');return {id:s.id,title:t?t.textContent:'',"
    "viewBox:s.getAttribute('viewBox'),width:r.width,right:r.right,"
    "curves:s.querySelectorAll('polyline.curve').length,"
    "cells:s.querySelectorAll('rect.cell').length,bars:s.querySelectorAll('rect.bar').length,"
    "whiskers:s.querySelectorAll('line.ci').length,"
    "blanks:s.querySelectorAll('text.undefined').length}});"
    "var p=document.createElement('pre');p.id='" + RESULT_ID + "';"
    "p.textContent=JSON.stringify({scrollWidth:d.scrollWidth,clientWidth:d.clientWidth,"
    "bodyScrollWidth:document.body.scrollWidth,svgs:document.querySelectorAll('svg').length,"
    "figures:figs,errors:window.__errors,"
    "resources:performance.getEntriesByType('resource').map(function(e){return e.name})});"
    "document.body.appendChild(p);})();</script>"
)
EXTERNAL = re.compile(
    r"<script|<link|<iframe|@import|url\(|(?:src|href)=[\"']?(?:https?:)?//", re.IGNORECASE
)


def chromium() -> str | None:
    """The browser: $KUBETFX_CHROMIUM, else chromium on PATH, else installed from Debian's
    packages by infra/browser.sh when this is Debian and root (None: it cannot be had)."""
    found = os.environ.get("KUBETFX_CHROMIUM") or shutil.which("chromium")
    found = found or shutil.which("chromium-browser")
    if found:
        return found
    done = subprocess.run(["bash", str(ROOT / "infra" / "browser.sh"), "install"], check=False)
    return shutil.which("chromium") if done.returncode == 0 else None


def external_references(page: str) -> list[str]:
    """Anything that would make the page load something: scripts, links, frames, URLs."""
    return EXTERNAL.findall(page)


def measure(browser: str, page: str, workdir: Path, name: str) -> dict:
    """Load `page` (HTML text) at a 1,000 px wide window; what the in-page check saw."""
    head = page.find("<head>")
    at = head + len("<head>") if head >= 0 else 0
    checked = page[:at] + HEAD + page[at:]
    end = checked.rfind("</body>")
    checked = checked[:end] + TAIL + checked[end:] if end >= 0 else checked + TAIL
    path = workdir / f"{name}.html"
    path.write_text(checked, encoding="utf-8")
    profile = workdir / f"{name}-profile"
    command = [
        browser,
        "--headless",
        "--no-sandbox",  # as root (CI) Chromium refuses to start sandboxed
        "--disable-gpu",
        "--no-first-run",
        "--no-proxy-server",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--hide-scrollbars",
        f"--window-size={WIDTH},900",
        f"--user-data-dir={profile}",
        "--dump-dom",
        path.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(f'<pre id="{RESULT_ID}">(.*?)</pre>', done.stdout, re.S)
    if not found:
        raise AssertionError(
            f"{name}: the in-page check did not run (exit {done.returncode}): {done.stderr[-2000:]}"
        )
    import html

    return json.loads(html.unescape(found.group(1)))
