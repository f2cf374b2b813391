"""Power cuts: SIGKILL the device process at random points of every update phase.

After each cut the device powers on again with power kept on. Every boot,
including those before the cut, must start an app whose image matches the
measurement of the bundle it came from. The update must also finish: v2 is
confirmed, or v3 is rolled back to v1 and rejected (the device process
reports v3 as crashing at start).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openvisor.bundle import TrustStore
from openvisor.ota import OtaManager

WORKER = Path(__file__).with_name("powercut_worker.py")
# benchmarks/ota_powercut_soak.py raises this through the environment for a longer soak.
CUTS_PER_PHASE = int(os.environ.get("OPENVISOR_POWERCUT_CUTS", "20"))
UPDATE_PHASES = ("download", "verify", "install", "first-boot", "confirm")


class Worker:
    """The pre-started device process (see powercut_worker.py)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def power_on(self, command: dict[str, Any]) -> dict[str, int]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "power-cut worker exited"
        result: dict[str, int] = json.loads(line)
        return result

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def cut_dir(tmp_path: Path) -> Iterator[Path]:
    """A private folder for the device states, on tmpfs when the machine has one.

    A SIGKILL leaves the page cache intact, so fsync durability plays no part in
    these cuts, and tmpfs keeps each power cycle to a few milliseconds.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="openvisor-powercut-", dir=shm))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    started = Worker()
    yield started
    started.close()


def _template(tmp_path: Path, trust: TrustStore, v1: Any) -> Path:
    """A device state dir with v1 installed and the signing key trusted."""
    state = tmp_path / "template"
    trust.save(state / "trust.json")
    OtaManager(state, kernel_version=1, trust=trust).install_local(v1.bundle)
    return state


def _read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _check_boots(
    records: list[dict[str, Any]], versions: dict[str, Any], allowed: set[str]
) -> None:
    measurements = {v.app_id: v.measurement.hex() for v in versions.values()}
    for record in records:
        if "boot" not in record:
            continue
        assert record["boot"] is not None, "a power cut left no app to boot"
        assert record["app_id"] in allowed, record
        assert record["measurement"] == measurements[record["app_id"]], record


def _run_scenario(
    *,
    worker: Worker,
    tmp_path: Path,
    template: Path,
    target: Any,
    versions: dict[str, Any],
    url: str,
    phases: tuple[str, ...],
    cuts_per_phase: int,
    seed: int,
) -> dict[str, int]:
    crashing = [versions["v3"].app_id]
    allowed = {versions["v1"].app_id, target.app_id}
    rng = random.Random(seed)

    def command(state: Path, run: str, **cut: Any) -> dict[str, Any]:
        return {
            "state_dir": str(state),
            "records": str(state.parent / f"boots-{run}.jsonl"),
            "url": url,
            "deployment": f"DP-{target.name}",
            "app_id": target.app_id,
            "crashing_apps": crashing,
            **cut,
        }

    # One uncut run counts the cut points of each phase.
    calibration = tmp_path / "calibration" / "state"
    shutil.copytree(template, calibration)
    assert worker.power_on(command(calibration, "calibration")) == {"signal": 0, "exit": 0}
    counts = _read_records(calibration.parent / "boots-calibration.jsonl")[-1]["counts"]

    landed: dict[str, int] = {}
    for phase in phases:
        assert counts.get(phase, 0) > 0, f"phase {phase} has no cut points: {counts}"
        for cut in range(cuts_per_phase):
            run_dir = tmp_path / f"{phase}-{cut}"
            state = run_dir / "state"
            shutil.copytree(template, state)
            index = rng.randint(1, counts[phase])
            result = worker.power_on(command(state, "cut", cut_phase=phase, cut_index=index))
            assert result["signal"] == signal.SIGKILL, (phase, index, result)
            landed[phase] = landed.get(phase, 0) + 1

            recovery = worker.power_on(command(state, "recovery"))
            assert recovery == {"signal": 0, "exit": 0}, (phase, index)
            records = _read_records(run_dir / "boots-cut.jsonl")
            records += _read_records(run_dir / "boots-recovery.jsonl")
            _check_boots(records, versions, allowed)
            done = records[-1]
            assert done.get("done"), (phase, index, done)
            assert not done["update"], (phase, index, done)
            assert not done["trial"], (phase, index, done)
            if target.app_id in crashing:
                assert done["active"] == versions["v1"].app_id, (phase, index)
                assert target.app_id in done["rejected"], (phase, index)
            else:
                assert done["active"] == target.app_id, (phase, index, done)
            shutil.rmtree(run_dir)
    return landed


def test_power_cut_during_update(
    worker: Worker,
    cut_dir: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
) -> None:
    template = _template(cut_dir, trust, app_versions["v1"])
    url = bundle_server.add("/bundles/v2.zip", app_versions["v2"].bundle)
    landed = _run_scenario(
        worker=worker,
        tmp_path=cut_dir,
        template=template,
        target=app_versions["v2"],
        versions=app_versions,
        url=url,
        phases=UPDATE_PHASES,
        cuts_per_phase=CUTS_PER_PHASE,
        seed=4,
    )
    assert all(landed[phase] >= CUTS_PER_PHASE for phase in UPDATE_PHASES), landed


def test_power_cut_during_rollback(
    worker: Worker,
    cut_dir: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    trust: TrustStore,
) -> None:
    template = _template(cut_dir, trust, app_versions["v1"])
    url = bundle_server.add("/bundles/v3.zip", app_versions["v3"].bundle)
    landed = _run_scenario(
        worker=worker,
        tmp_path=cut_dir,
        template=template,
        target=app_versions["v3"],
        versions=app_versions,
        url=url,
        phases=("rollback",),
        cuts_per_phase=CUTS_PER_PHASE,
        seed=5,
    )
    assert landed["rollback"] >= CUTS_PER_PHASE
