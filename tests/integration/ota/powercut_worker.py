"""A pre-started device process for the power-cut tests.

It reads one JSON command per line on standard input and forks a child
for each. The child powers the device on until the update is finished: it
resumes the journaled update, boots, runs trials and accepts the deployment
the cloud offers. It SIGKILLs itself at the requested step of the requested
phase. The worker writes one JSON line per command with the child's exit
status. Forking from a warm process keeps each power cycle to milliseconds.

NOTE: this process does not run the emulator. It reports the v3 app as
crashing at start, which is what the demo v3 firmware does on the device.

Boot records go to ``<state dir>/../boots-<run>.jsonl`` through unbuffered
appends, so the records written before a kill survive it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx

from openvisor.bundle import TrustStore
from openvisor.ota import DeployRequest, OtaManager

PHASE_OF_STEP = {
    "deploy": "download",
    "download": "download",
    "verify": "verify",
    "install": "install",
    "staged": "install",
    "apply": "first-boot",
    "trial-boot": "first-boot",
    "boot": "first-boot",
    "confirm": "confirm",
    "rollback": "rollback",
}
MAX_BOOTS = 8


class PowerCut:
    """Counts steps per phase and SIGKILLs this process at the chosen one."""

    def __init__(self, phase: str | None, index: int) -> None:
        self.phase = phase
        self.index = index
        self.current = "other"
        self.counts: dict[str, int] = {}

    def step(self, name: str) -> None:
        phase = PHASE_OF_STEP.get(name.split(".")[0])
        if phase is not None:
            self.current = phase
        count = self.counts.get(self.current, 0) + 1
        self.counts[self.current] = count
        if self.current == self.phase and count == self.index:
            os.kill(os.getpid(), signal.SIGKILL)

    def patch_io(self) -> None:
        """Add a cut point before every fsync and rename, inside atomic writes too."""
        fsync, replace = os.fsync, os.replace

        def cut_fsync(fd: int) -> None:
            self.step(f"{self.current}.io")
            fsync(fd)

        def cut_replace(src: Any, dst: Any) -> None:
            self.step(f"{self.current}.io")
            replace(src, dst)

        os.fsync = cut_fsync  # type: ignore[assignment]
        os.replace = cut_replace  # type: ignore[assignment]


def power_on(command: dict[str, Any], client: httpx.Client) -> None:
    """Run one power cycle of the device described by ``command`` (in the forked child)."""
    cut = PowerCut(command.get("cut_phase"), int(command.get("cut_index", 0)))
    cut.patch_io()
    records = os.open(command["records"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def record(value: dict[str, Any]) -> None:
        os.write(records, (json.dumps(value) + "\n").encode())

    state_dir = Path(command["state_dir"])
    ota = OtaManager(
        state_dir,
        kernel_version=1,
        trust=TrustStore.load(state_dir / "trust.json"),
        background=False,
        http_client=client,
        on_step=cut.step,
    )
    ota.resume()
    offered = False
    for _ in range(MAX_BOOTS):
        boot = ota.select_boot()
        if boot is None:
            record({"boot": None})
            break
        record(
            {
                "boot": boot.slot,
                "app_id": boot.app_id,
                "measurement": hashlib.sha256(boot.image).hexdigest(),
                "trial": boot.trial,
                "wake_reason": boot.wake_reason,
            }
        )
        ota.app_started(0)
        if boot.app_id in command["crashing_apps"]:
            ota.app_crashed(5_000)
            continue
        if ota.service(11_000_000) is not None:
            continue
        if not offered:
            # The cloud offers the deployment again at every check-in.
            offered = True
            ota.deploy(DeployRequest(command["deployment"], command["url"], command["app_id"]))
            if ota.service(12_000_000) is not None:
                continue
        journal = ota.journal()
        if journal.update is None and journal.trial is None:
            break
    journal = ota.journal()
    record(
        {
            "done": True,
            "active": ota.slots.app_id(journal.active) if journal.active else None,
            "rejected": journal.rejected,
            "update": journal.update is not None,
            "trial": journal.trial is not None,
            "counts": cut.counts,
        }
    )


def main() -> None:
    """Serve commands until standard input closes."""
    # Built once before forking: creating a client (and its TLS context) costs more
    # than a whole power cycle. No connection is open at fork time.
    client = httpx.Client(timeout=10)
    for line in sys.stdin:
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                power_on(command, client)
            except BaseException as exc:  # noqa: BLE001  (report anything, then leave the fork)
                sys.stderr.write(f"power_on failed: {exc!r}\n")
                code = 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        result = {
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0,
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1,
        }
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
