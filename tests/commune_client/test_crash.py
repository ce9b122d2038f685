"""kill -9 at random moments: every receive that printed its code survives, codes are never
duplicated, the ledger verifies and the projections rebuild identically.

The child runs the same service function as `commune receive`, in a loop, printing each code
only after `receive` returned (i.e. after the officer would have been told it is saved). The
parent kills it with SIGKILL after a random delay. `make test` runs 100 trials; `make soak`
(COMMUNE_SOAK=1) runs 1,000. A few trials kill the real `commune receive` command too.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stationkit import PASS, make_station

from commune_client.queries import rebuild_and_compare
from commune_client.station import Station
from ledger.verify import verify_ledger

TRIALS = 1000 if os.environ.get("COMMUNE_SOAK") else 100
CHILD = """
import sys, itertools
from datetime import datetime, timedelta
from pathlib import Path
from commune_client.station import Station
from commune_client.desk import receive
st = Station.open(Path(sys.argv[1]))
s = st.sign_in(None, sys.argv[2])
t0 = datetime.fromisoformat("2026-11-23T07:30:00+07:00") + timedelta(hours=int(sys.argv[3]))
print("ready", flush=True)
for i in itertools.count():
    r = receive(s, procedure="1.001193", now=t0 + timedelta(seconds=i),
                applicant={"name": "Nguyễn Văn Đức", "id_number": "001088012345"})
    print(r["code"], flush=True)
"""


def _acknowledged(proc: subprocess.Popen[str]) -> list[str]:
    out = proc.stdout.read() if proc.stdout else ""
    return [line for line in out.splitlines() if line and line != "ready"]


@pytest.mark.soak
@pytest.mark.timeout(900)
def test_kill_minus_nine_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "station"
    make_station(data).close()
    rng = random.Random(20261123)
    acknowledged: list[str] = []
    for trial in range(TRIALS):
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(data), PASS, str(trial // 10)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        acknowledged += _acknowledged(proc)
    _check(data, acknowledged)


def test_kill_minus_nine_of_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "station"
    make_station(data).close()
    exe = str(Path(sys.executable).with_name("commune"))
    env = {
        **os.environ,
        "COMMUNE_DATA_DIR": str(data),
        "COMMUNE_PASSPHRASE": PASS,
        "COMMUNE_NOW": "2026-11-23T09:00:00+07:00",
    }
    rng = random.Random(7)
    acknowledged: list[str] = []
    for _ in range(10):
        proc = subprocess.Popen(
            [
                exe,
                "--json",
                "receive",
                "--procedure",
                "1.001193",
                "--applicant-name",
                "Lê Thị Hồng",
                "--applicant-id",
                "001088012345",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        time.sleep(rng.uniform(0.2, 0.9))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        if proc.returncode == 0 and out:
            import json

            acknowledged.append(json.loads(out)["code"])
    _check(data, acknowledged)


def _check(data: Path, acknowledged: list[str]) -> None:
    st = Station.open(data)
    codes = [
        r[0] for r in st.store.conn.execute("SELECT dossier FROM entries WHERE action = 'receive'")
    ]
    assert len(codes) == len(set(codes)), "a dossier code was issued twice"
    missing = set(acknowledged) - set(codes)
    assert not missing, f"acknowledged but lost: {sorted(missing)[:5]}"
    latest = st.store.latest_checkpoint()
    assert latest is not None
    report = verify_ledger(
        st.store.leaves(),
        station_cert=st.info.station_cert,
        origin=st.info.origin,
        checkpoints=[latest[1]],
    )
    assert report.ok, report.findings[:3]
    assert rebuild_and_compare(st)["identical"]
    # A checkpoint may lag the log after a kill between commit and checkpoint; the next
    # sign-in signs it (no entry is lost, only its checkpoint is late).
    st.sign_in(None, PASS).sign_checkpoint()
    assert st.store.latest_checkpoint()[0] == st.store.size()
