"""Can labelme open a window here? A Qt probe in a subprocess, and the system packages a failure needs.

labelme is a PyQt5 application. On a machine without Qt's X11 libraries it dies inside Qt ("Could not load
the Qt platform plugin xcb") with an abort and no hint of what to install. ``blendaug label`` runs the same
start-up (a ``QApplication``) in a short-lived subprocess first; if that fails it runs ``ldd`` on the
platform plugin and names the missing libraries' Debian/Ubuntu packages.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PROBE_TIMEOUT_S = 30
# Prints the plugin folder first: if QApplication() aborts, the folder is still known.
_PROBE = """
import sys
from PyQt5 import QtCore
print(QtCore.QLibraryInfo.location(QtCore.QLibraryInfo.PluginsPath), flush=True)
from PyQt5 import QtWidgets
app = QtWidgets.QApplication(sys.argv[:1])
print("platform", app.platformName(), flush=True)
"""
# What Qt 5's xcb plugin loads that Debian's slim images lack (named when ldd cannot tell).
XCB_PACKAGES = ("libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0", "libxcb-render-util0",
                "libxcb-shape0", "libxcb-xinerama0", "libxcb-xkb1", "libxkbcommon-x11-0")


def debian_package(soname: str) -> str:
    """Debian's package name for a shared library: ``libxcb-icccm.so.4`` -> ``libxcb-icccm4``,
    ``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0`` (a dash when the name ends in a digit)."""
    m = re.fullmatch(r"(lib.+?)\.so\.(\d+)(?:\.\d+)*", soname)
    if m is None:
        return soname
    name, major = m.group(1).lower(), m.group(2)
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def missing_libraries(ldd_output: str) -> list[str]:
    """The sonames ``ldd`` reports as ``not found``, each once, in order."""
    return list(dict.fromkeys(re.findall(r"^\s*(\S+)\s+=>\s+not found", ldd_output, flags=re.MULTILINE)))


def _ldd_missing(plugins: Path) -> list[str]:
    plugin = plugins / "platforms" / "libqxcb.so"
    ldd = shutil.which("ldd")
    if ldd is None or not plugin.is_file():
        return []
    proc = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    return missing_libraries(proc.stdout + proc.stderr)


def window_problem(env: dict[str, str] | None = None) -> str | None:
    """None when a Qt application (labelme) can start with ``env``; otherwise one line saying why and what to do."""
    env = dict(os.environ if env is None else env)
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env,
                              timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"labelme cannot open a window: Qt did not start within {PROBE_TIMEOUT_S} s"
    if proc.returncode == 0:
        return None
    if "No module named 'PyQt5'" in proc.stderr:
        return "labelme cannot open a window: PyQt5 is not installed (pip install labelme)"
    plugins = Path(proc.stdout.splitlines()[0]) if proc.stdout.strip() else None
    missing = _ldd_missing(plugins) if plugins is not None else []
    platform = env.get("QT_QPA_PLATFORM", "xcb")
    if missing:
        packages = " ".join(dict.fromkeys(debian_package(s) for s in missing))
        return (f"labelme cannot open a window: Qt's xcb platform plugin needs {', '.join(missing)}; "
                f"on Debian/Ubuntu: sudo apt-get install {packages}")
    if platform.startswith("xcb") and not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return ("labelme cannot open a window: no display (DISPLAY is not set); run it on a machine with a "
                "screen, or over ssh -X")
    if "Could not load the Qt platform plugin" in proc.stderr:
        return (f"labelme cannot open a window: Qt's {platform} platform plugin did not load; on Debian/Ubuntu "
                f"it needs: sudo apt-get install {' '.join(XCB_PACKAGES)}")
    last = next((ln for ln in reversed(proc.stderr.strip().splitlines()) if ln.strip()), "no output")
    return f"labelme cannot open a window: Qt failed to start (exit {proc.returncode}): {last.strip()}"
