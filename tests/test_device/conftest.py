"""The device tier (``pytest -m device``, ``make test-device``;
docs/testing.md, "The device tier").

Every test here takes the ``device`` fixture: ``cpu`` always, ``cuda`` where
``torch.cuda.is_available()`` (skipped, saying so, elsewhere), and compares
what the device computes with an independent CPU result: float64 on the CPU
where the op allows, a tolerance stated in the test otherwise.

The tier imports only PyTorch, mmengine, mmcv's Python part (``mmcv.cnn``;
no compiled op) and mmpretrain, so that it runs on a GPU machine that has
PyTorch but no compiled mmcv and no mmdet (tools/misc/device_tier.sh).
``--confcutdir tests/test_device`` keeps ``tests/conftest.py`` (which
imports mmdet through ``mmbnn.plugin``) out of such a run.
"""
import pytest
import torch

from devices import DEVICES

# mmengine's root registries: the layers, backbones, losses and hooks, and
# mmengine's fixes (safe checkpoint loading, atomic saves); the plug-in's
# other imports, the datasets and the mmdet fix, need mmdet.
import mmbnn.engine  # noqa: F401
import mmbnn.models  # noqa: F401
from mmbnn.utils.compat import apply_engine_fixes

apply_engine_fixes()


def pytest_collection_modifyitems(items):
    """``-m device`` selects the tier."""
    for item in items:
        if 'test_device' in item.nodeid:
            item.add_marker(pytest.mark.device)


@pytest.fixture(params=DEVICES)
def device(request):
    """The device under test. TF32 is off while a test runs, so CUDA's
    float32 convs and matmuls round as float32 (the tolerances assume it)."""
    conv, matmul = (torch.backends.cudnn.allow_tf32,
                    torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    yield torch.device(request.param)
    torch.backends.cudnn.allow_tf32 = conv
    torch.backends.cuda.matmul.allow_tf32 = matmul
