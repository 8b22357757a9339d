"""A single-node Slurm on loopback (Debian's slurm-wlm + munge) for tests.

Starts munged, slurmctld and slurmd with a generated slurm.conf in a temporary folder, so
`adlab submit --slurm` is tested against the real scheduler. Needs root (slurmd runs jobs as
their users); callers skip with the reason when it cannot start.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from testservers.postgres import free_port


class SlurmUnavailable(RuntimeError):
    pass


@dataclass
class TempSlurm:
    root: Path
    conf: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def start_temp_slurm() -> TempSlurm:
    for tool in ("munged", "slurmctld", "slurmd", "sbatch", "squeue"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise SlurmUnavailable(f"{tool} not found (apt-get install slurm-wlm)")
    if os.geteuid() != 0:
        raise SlurmUnavailable("a local slurmd needs root")
    root = Path(tempfile.mkdtemp(prefix="adlab-slurm-"))
    os.chmod(root, 0o755)
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    conf = root / "slurm.conf"
    conf.write_text(f"""ClusterName=adlabtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge.socket
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SchedulerType=sched/backfill
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
    (root / "state").mkdir()
    (root / "spool").mkdir()
    cluster = TempSlurm(root=root, conf=conf)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    try:
        sock = root / "munge.socket"
        cluster.procs.append(subprocess.Popen(
            ["munged", "-F", "--force", f"--socket={sock}", f"--pid-file={root}/munged.pid",
             f"--seed-file={root}/munge.seed", f"--log-file={root}/munged.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait_for(lambda: sock.exists(), 15, "munged did not start")
        cluster.procs.append(subprocess.Popen(["slurmctld", "-D", "-i", "-f", str(conf)], env=env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        cluster.procs.append(subprocess.Popen(["slurmd", "-D", "-f", str(conf)], env=env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def node_idle() -> bool:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            return out.returncode == 0 and "idle" in out.stdout

        _wait_for(node_idle, 45, "the Slurm node did not become idle")
    except SlurmUnavailable as exc:
        logs = " | ".join(p.read_text(errors="replace")[-200:] for p in root.glob("*.log"))
        cluster.stop()
        raise SlurmUnavailable(f"{exc}: {logs}") from None
    return cluster


def _wait_for(pred, timeout: float, message: str) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.3)
    raise SlurmUnavailable(message)
