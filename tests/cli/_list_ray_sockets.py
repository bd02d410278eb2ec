"""Run by test_cli_local_ray.py in a fresh interpreter: start Ray the way ncsweep does, use it
(a task, an actor, a 2-worker TorchTrainer whose workers record their own sockets while the
process group is up), then print every listening socket of this process and its children."""

from __future__ import annotations

import json
import os
import sys

import psutil
import ray  # imported before ensure_ray, as a library user would
import ray.train
from ray.train.torch import TorchTrainer

from ncsweep.runtime.trainer import ensure_ray


def listening(pid: int) -> list[dict]:
    proc = psutil.Process(pid)
    return [
        {"pid": pid, "name": proc.name(), "ip": c.laddr.ip, "port": c.laddr.port}
        for c in proc.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]


def record_worker_sockets(config: dict) -> None:
    import torch.distributed as dist

    assert dist.is_initialized() and dist.get_world_size() == 2
    dist.barrier()
    path = os.path.join(config["out"], f"worker-{dist.get_rank()}.json")
    sockets = listening(os.getpid())
    for entry in sockets:  # torch's TCPStore server of the process group (rank 0)
        entry["tcpstore"] = entry["port"] == int(os.environ["MASTER_PORT"])
    with open(path, "w") as fh:
        json.dump(sockets, fh)
    dist.barrier()


def main(out: str) -> None:
    ensure_ray()

    @ray.remote
    def task() -> int:
        return os.getpid()

    @ray.remote
    class Actor:
        def pid(self) -> int:
            return os.getpid()

    ray.get(task.remote())
    actor = Actor.remote()
    ray.get(actor.pid.remote())
    TorchTrainer(
        record_worker_sockets,
        train_loop_config={"out": out},
        scaling_config=ray.train.ScalingConfig(num_workers=2, resources_per_worker={"CPU": 0.5}),
        run_config=ray.train.RunConfig(storage_path=os.path.join(out, "results"), name="sockets"),
    ).fit()
    me = psutil.Process()
    sockets = []
    for proc in [me, *me.children(recursive=True)]:
        try:
            sockets += listening(proc.pid)
        except psutil.Error:
            pass
    for name in sorted(os.listdir(out)):
        if name.startswith("worker-"):
            with open(os.path.join(out, name)) as fh:
                sockets += json.load(fh)
    print("SOCKETS " + json.dumps(sockets))
    ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
