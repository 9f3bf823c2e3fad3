"""The per-folder lock: one writer, its pid and host named, stale locks taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from dranet_keras.run_lock import LOCK_FILENAME, RunLockedError, run_lock

HOLD = "import sys, time; from dranet_keras.run_lock import run_lock\nwith run_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)"


def _holder(folder):
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "held\n"
    return process


def test_lock_records_pid_and_host_and_is_removed_at_the_end(tmp_path):
    with run_lock(tmp_path / "out"):
        owner = json.loads((tmp_path / "out" / LOCK_FILENAME).read_text())
        assert owner == {"pid": os.getpid(), "host": socket.gethostname()}
        with run_lock(tmp_path / "out"):  # re-entrant in one process
            pass
        assert (tmp_path / "out" / LOCK_FILENAME).exists()
    assert not (tmp_path / "out" / LOCK_FILENAME).exists()


def test_a_live_owner_is_refused_naming_its_pid_and_a_dead_one_taken_over(tmp_path, capfd):
    holder = _holder(tmp_path)
    try:
        with pytest.raises(RunLockedError, match=f"in use by pid {holder.pid} on {socket.gethostname()}"):
            with run_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert json.loads((tmp_path / LOCK_FILENAME).read_text())["pid"] == holder.pid  # a SIGKILL leaves it
    with run_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILENAME).read_text())["pid"] == os.getpid()
    assert f"taking over the lock of pid {holder.pid}" in capfd.readouterr().err


def test_a_lock_written_on_another_host_is_refused(tmp_path):
    (tmp_path / LOCK_FILENAME).write_text(json.dumps({"pid": 1, "host": "elsewhere.example"}))
    with pytest.raises(RunLockedError, match="pid 1 on host elsewhere.example.*delete"):
        with run_lock(tmp_path):
            pass
