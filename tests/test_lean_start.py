"""A bot that nobody is writing to stays small: `assessbot run` polling Telegram has not loaded the
libraries only other set-ups or later work need (the HTTP server, the other database's dialect,
the YAML parser, charts, Slack, migrations).

The process is started for real against the fake Bot API, as a restart (the first start installs
the bundled instruments, and reads their YAML); once it polls, it is asked (SIGUSR1)
to write down the modules it has loaded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.runtime import Runtime
from tests.assessbot_process import ROOT, terminate
from tests.fakes.telegram_api import FakeTelegramAPI

# Each is loaded where it is needed: the HTTP server with a webhook or Slack, a dialect with its
# database, YAML when an instrument file is read, matplotlib with the first chart.
NOT_WHILE_IDLE = (
    "aiohttp.web",
    "adapters.http_server",
    "yaml",
    "matplotlib",
    "slack_sdk",
    "slack_bolt",
    "alembic",
)
OTHER_DIALECT = {"sqlite": "sqlalchemy.dialects.postgresql", "postgresql": "sqlalchemy.dialects.sqlite"}

# Writes the loaded modules to the file named in argv[1] on SIGUSR1, then runs `assessbot run`.
CHILD = """
import os, signal, sys
def dump(_signum, _frame):
    with open(sys.argv[1] + ".part", "w") as out:
        out.write("\\n".join(sorted(sys.modules)))
    os.replace(sys.argv[1] + ".part", sys.argv[1])
signal.signal(signal.SIGUSR1, dump)
from bot.cli import main
sys.exit(main(["run"]))
"""


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _idle_modules(db_url: str, tmp_path: Path, fake: FakeTelegramAPI) -> set[str]:
    listing = tmp_path / "modules.txt"
    env = {key: value for key, value in os.environ.items() if not key.startswith("ASSESSBOT_")}
    env.update(
        ASSESSBOT_DATABASE_URL=make_url(db_url).render_as_string(hide_password=False),
        ASSESSBOT_OUTPUT_DIR=str(tmp_path / "out"),
        ASSESSBOT_TELEGRAM_TOKEN=fake.token,
        ASSESSBOT_TELEGRAM_API_URL=f"http://127.0.0.1:{fake.port}",
        ASSESSBOT_LOG_LEVEL="INFO",
    )
    log_path = tmp_path / "bot.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(listing)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(lambda: b"receiving updates by long polling" in log_path.read_bytes(), "the first poll")
            time.sleep(1.0)  # the background work's first rounds, as an idle bot does them
            process.send_signal(signal.SIGUSR1)
            _wait_for(listing.exists, "the list of modules")
        finally:
            assert terminate(process) == 0, log_path.read_text()
    return set(listing.read_text().splitlines())


def test_a_restarted_bot_polling_telegram_has_not_loaded_what_only_other_set_ups_need(
    runtime: Runtime, tmp_path: Path
) -> None:
    db_url = runtime.config.database_url  # started once before: the bundled instruments are in
    with FakeTelegramAPI() as fake:
        loaded = _idle_modules(db_url, tmp_path, fake)
    assert {"telegram", "bot.engine"} <= loaded  # it is the running bot
    dialect = make_url(db_url).get_backend_name()
    unexpected = sorted(name for name in (*NOT_WHILE_IDLE, OTHER_DIALECT[dialect]) if name in loaded)
    assert unexpected == []
