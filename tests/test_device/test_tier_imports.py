"""The device tier's promise to a bare GPU machine (PyTorch, mmengine,
mmcv's Python part, mmpretrain): what it imports works with mmdet and
mmcv's compiled ops absent (tools/misc/device_tier.sh runs it so)."""
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

PROBE = """
import importlib.abc
import sys


class Absent(importlib.abc.MetaPathFinder):
    # As on the GPU machine: no mmdet, no compiled mmcv op.
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] == 'mmdet' or name.startswith(('mmcv.ops',
                                                             'mmcv._ext')):
            raise ModuleNotFoundError(f'absent here: {name}')


sys.meta_path.insert(0, Absent())
try:
    import mmdet  # noqa: F401
    sys.exit('the stand-in for a missing mmdet did not hold')
except ModuleNotFoundError:
    pass
import mmbnn.engine, mmbnn.models, mmbnn.ops, mmpretrain.models
from mmbnn.utils.compat import apply_engine_fixes
apply_engine_fixes()
from mmbnn.models import build_model
from mmengine.config import Config
cfg = Config.fromfile('configs/demo/bnn_vgg16-w0.25_synthimagenet.py',
                      import_custom_modules=False)
build_model(cfg)
import tools.benchmarks.train_step
"""


def test_the_tier_needs_no_mmdet_and_no_compiled_mmcv_op():
    result = subprocess.run([sys.executable, '-c', PROBE], cwd=ROOT,
                            capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                                [ROOT, os.environ.get('PYTHONPATH', '')])))
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
