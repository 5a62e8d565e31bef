"""Train-then-test runs through the command-line tools, for the demo and the
benchmark scripts (each run in its own process, as a user would run it)."""
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def stream(cmd: List[str], echo: bool = True) -> str:
    """Run a command from the repository root, echoing its output; return it."""
    if echo:
        print('$', ' '.join(cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        if echo:
            sys.stdout.write(line)
        lines.append(line)
    if proc.wait() != 0:
        tail = ''.join(lines[-30:])
        raise RuntimeError(f'command failed (exit {proc.returncode}): '
                           f'{" ".join(cmd)}\n{tail}')
    return ''.join(lines)


def train_and_test(config: str, work_dir: str, data_root: str,
                   cfg_options: Optional[List[str]] = None,
                   show_dir: Optional[str] = None, echo: bool = True,
                   metric: str = 'pascal_voc/mAP') -> Dict:
    """``tools/train.py`` then ``tools/test.py`` on the last checkpoint.

    Returns the metric, wall times, the checkpoint and where drawn
    detections went (with ``show_dir``).
    """
    common = ['--work-dir', work_dir, '--data-root', data_root]
    options = ['--cfg-options', *cfg_options] if cfg_options else []
    start = time.time()
    stream([sys.executable, osp.join('tools', 'train.py'), config, *common,
            *options], echo)
    train_s = time.time() - start
    with open(osp.join(ROOT, work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    extra = ['--show-dir', show_dir] if show_dir else []
    start = time.time()
    out = stream([sys.executable, osp.join('tools', 'test.py'), config,
                  checkpoint, *common, *extra, *options], echo)
    test_s = time.time() - start
    found = re.findall(rf'^{re.escape(metric)}: ([0-9.]+)$', out, re.M)
    drawn = re.findall(r'^drawn detections: (.+)$', out, re.M)
    return dict(metric=float(found[-1]) if found else float('nan'),
                train_s=train_s, test_s=test_s, checkpoint=checkpoint,
                drawn=drawn[-1] if drawn else None)


def fp_then_binary(runs: List[tuple], work_dir: str, data_root: str,
                   cfg_options: Optional[List[str]] = None,
                   show_dir: Optional[str] = None,
                   echo: bool = True) -> List[tuple]:
    """``train_and_test`` each ``(name, slug, config, options)`` of ``runs``
    in order under ``work_dir/slug``; the first is the full-precision model,
    and every later (binary) run starts from its checkpoint, as BNNs usually
    start from real-valued weights. ``show_dir`` draws the later runs'
    detections. Returns ``[(name, result)]``, printing a line per run.
    """
    results, init = [], []
    for name, slug, config, options in runs:
        if echo:
            print(f'\n### {name}: {config}', flush=True)
        result = train_and_test(
            config, osp.join(work_dir, slug), data_root,
            list(cfg_options or []) + list(options) + init,
            show_dir=show_dir if init else None, echo=echo)
        init = init or [f'load_from={result["checkpoint"]}']
        results.append((name, result))
        print(f'{name}: {result["metric"]:.4f} (train {result["train_s"]:.0f} s)',
              flush=True)
    return results
