"""tools/slurm_train.sh and slurm_test.sh (through slurm_run.sh): the srun
command they build (a stand-in srun on PATH records it) and their usage
message."""
import os
import os.path as osp
import shlex
import subprocess

from conftest import ROOT

FAKE_SRUN = """#!/usr/bin/env bash
for a in "$@"; do printf '%s\\n' "$a"; done > "$SRUN_RECORD"
"""


def _run(script, args, tmp_path, **env):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(0o755)
    record = tmp_path / 'srun_args'
    full_env = dict(os.environ, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
                    SRUN_RECORD=str(record), **env)
    result = subprocess.run(['bash', osp.join(ROOT, 'tools', script), *args],
                            env=full_env, capture_output=True, text=True,
                            timeout=60)
    argv = record.read_text().splitlines() if record.exists() else None
    return result, argv


def test_slurm_train_runs_one_task_per_gpu_across_nodes(tmp_path):
    result, argv = _run('slurm_train.sh', ['gpu', 'bnn', 'configs/bnn_ssd300_voc.py',
                                           'work_dirs/bnn', '--amp',
                                           '--cfg-options', 'a=1'],
                        tmp_path, GPUS='16', SRUN_ARGS='--quotatype=auto')
    assert result.returncode == 0, result.stderr
    assert argv[:2] == ['-p', 'gpu']
    for option in ('--job-name=bnn', '--gres=gpu:8', '--ntasks=16',
                   '--ntasks-per-node=8', '--cpus-per-task=5',
                   '--kill-on-bad-exit=1', '--quotatype=auto'):
        assert option in argv, (option, argv)
    program = argv[argv.index('-u') - 1:]
    assert program[1:] == ['-u', osp.join(ROOT, 'tools', 'train.py'),
                           'configs/bnn_ssd300_voc.py', '--work-dir=work_dirs/bnn',
                           '--amp', '--cfg-options', 'a=1', '--launcher=slurm']


def test_slurm_test_runs_test_py_with_the_checkpoint(tmp_path):
    result, argv = _run('slurm_test.sh', ['gpu', 'eval', 'cfg.py', 'ckpt.pth'],
                        tmp_path, GPUS='2')
    assert result.returncode == 0, result.stderr
    # Fewer GPUs than a node holds: one node, GPUS tasks on it.
    assert '--gres=gpu:2' in argv and '--ntasks-per-node=2' in argv
    assert argv[-5:] == ['-u', osp.join(ROOT, 'tools', 'test.py'), 'cfg.py',
                         'ckpt.pth', '--launcher=slurm']


def test_slurm_scripts_print_their_usage_without_arguments(tmp_path):
    for script in ('slurm_train.sh', 'slurm_test.sh'):
        result, argv = _run(script, ['gpu'], tmp_path)
        assert result.returncode == 2 and argv is None
        assert result.stderr.startswith(f'# Usage: tools/{script} PARTITION'), \
            shlex.quote(result.stderr)
