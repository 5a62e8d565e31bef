"""A DDP training run of binary layers on the device's own backend: one
GPU over ``nccl`` (what a multi-GPU run uses), or the CPU over ``gloo``."""
import json
import math
import os
import os.path as osp
import subprocess
import sys

HERE = osp.dirname(osp.abspath(__file__))


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_ddp_run_on_the_devices_backend(device, tmp_path):
    """torchrun, one process: the model is wrapped in mmengine's DDP on the
    device, the process group uses ``nccl`` on CUDA and ``gloo`` on the CPU,
    the DTE schedule reaches stage 2 and the loss is finite."""
    out = tmp_path / 'result.json'
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(
                   [osp.dirname(HERE), osp.dirname(osp.dirname(HERE)),
                    os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=1',
         f'--master_port={_free_port()}', osp.join(HERE, 'ddp_toy.py'),
         '--device', device.type, '--work-dir', str(tmp_path / 'work'),
         '--out', str(out)],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got['wrapper'] == 'MMDistributedDataParallel'
    assert got['backend'] == ('nccl' if device.type == 'cuda' else 'gloo')
    assert got['world_size'] == 1
    assert got['devices'] == [device.type]
    assert got['stages'] == [2, 2]
    assert math.isfinite(got['loss'])
