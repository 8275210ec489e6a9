"""Log lines escape control characters (issue 17): a name with a newline cannot split or forge a
line. The end-to-end check (the runtime's, the supervisor's and the handler's logs for a dropped
file with such a name) is in test_runtime.py's folder-mode test; the OSCAR handler's own line is
checked below through the real ``python -m herbmorph.oscar.handler``."""
from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import time

from conftest import REPO
from herbmorph import logsafe

NAME = "sheet\n2026-01-01 INFO herbmorph: forged.jpg done\tx.jpg"


def _logger(stream: io.StringIO) -> logging.Logger:
    log = logging.getLogger("herbmorph.test_logsafe")
    log.handlers[:] = [logsafe.one_line_handler(stream, fmt="%(levelname)s %(name)s: %(message)s")]
    log.propagate = False
    return log


def test_a_name_with_a_newline_and_a_tab_is_one_escaped_line():
    out = io.StringIO()
    _logger(out).warning("measured %s", NAME)
    assert out.getvalue() == ("WARNING herbmorph.test_logsafe: measured "
                              "sheet\\n2026-01-01 INFO herbmorph: forged.jpg done\\tx.jpg\n")


def test_a_traceback_stays_on_its_records_line():
    out = io.StringIO()
    try:
        raise ValueError(f"cannot read {NAME}")
    except ValueError:
        _logger(out).exception("failed on %s", NAME)
    (line,) = out.getvalue().splitlines()
    assert line.startswith("ERROR herbmorph.test_logsafe: failed on sheet\\n2026") and "Traceback" in line
    assert "ValueError: cannot read sheet\\n2026-01-01 INFO herbmorph: forged.jpg done\\tx.jpg" in line


def test_every_control_character_is_escaped_and_nothing_else():
    text = "".join(map(chr, range(0x20))) + "\x7f\x85\x9b\u2028\u2029\u202e\u2066 Quercus robur – ½ \\ é"
    escaped = logsafe.escape_controls(text)
    assert escaped.isprintable()
    assert escaped.startswith("\\x00\\x01") and "\\t\\n\\x0b\\x0c\\r" in escaped
    assert escaped.endswith("\\x7f\\x85\\x9b\\u2028\\u2029\\u202e\\u2066 Quercus robur – ½ \\ é")


def test_escaping_is_linear():
    big = ("\n\x1b" * 500_000) + "x" * 1_000_000
    t0 = time.perf_counter()
    assert len(logsafe.escape_controls(big)) == 500_000 * 6 + 1_000_000
    assert time.perf_counter() - t0 < 5


def test_a_foreign_handler_gets_the_filter():
    """deepaas-run's handlers are not ours: protect_handlers escapes what reaches them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("herbmorph.test_logsafe.foreign")
    log.handlers[:] = [handler]
    log.propagate = False
    logsafe.protect_handlers(log)
    logsafe.protect_handlers(log)  # once only
    assert sum(isinstance(f, logsafe.EscapeFilter) for f in handler.filters) == 1
    try:
        raise KeyError(NAME)
    except KeyError:
        log.exception("upload %s", NAME)
    first, traceback = out.getvalue().splitlines()  # the formatter's own separator, then one line
    assert first == "upload sheet\\n2026-01-01 INFO herbmorph: forged.jpg done\\tx.jpg"
    assert traceback.startswith("Traceback") and "KeyError" in traceback


def test_the_oscar_handler_prints_a_hostile_key_on_one_line(tmp_path):
    junk = tmp_path / "x.jpg"
    junk.write_bytes(b"<html>not an image</html>")
    key = f"in/{NAME}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HERBMORPH_", "MINIO_", "FUNCTION_CONFIG", "EVENT", "STORAGE_", "INPUT_FILE"))}
    env.update({"TMP_OUTPUT_DIR": str(tmp_path / "out"), "INPUT_FILE_PATH": str(junk), "STORAGE_OBJECT_KEY": key,
                "PYTHONPATH": os.pathsep.join([str(REPO / "functions"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                "OMP_NUM_THREADS": "1"})
    (tmp_path / "out").mkdir()
    proc = subprocess.run([sys.executable, "-m", "herbmorph.oscar.handler", "segment"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # an error document for a non-image
    lines = (proc.stdout + proc.stderr).splitlines()
    (line,) = [ln for ln in lines if "forged" in ln]
    assert line.startswith("herbmorph segment: in/sheet\\n2026-01-01 INFO herbmorph: forged.jpg done\\tx.jpg -> ")
    assert not any(ln.startswith("2026-01-01") for ln in lines)
