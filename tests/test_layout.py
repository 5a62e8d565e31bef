"""The package's floors (docs/package_map.md): imports run only downward, no
two modules import each other, and the maths is mm-free."""
import os.path as osp
import subprocess
import sys

from conftest import ROOT


def test_import_contracts_hold():
    """.importlinter's three contracts, checked by import-linter on the
    source (floors, no circles at any depth, mmbnn.ops without mm)."""
    from importlinter.cli import lint_imports
    code = lint_imports(config_filename=osp.join(ROOT, '.importlinter'),
                        no_cache=True, no_logo=True)
    assert code == 0, 'lint-imports found a broken contract (run it to see)'


def test_the_maths_imports_without_mm_in_a_fresh_interpreter():
    probe = ('import sys, mmbnn, mmbnn.ops, mmbnn.ops.xnor_conv; '
             'print(sorted({m.split(".")[0] for m in sys.modules} & '
             '{"mmengine", "mmcv", "mmdet", "mmpretrain"}))')
    out = subprocess.run([sys.executable, '-c', probe], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == '[]'
    probe = 'import mmbnn.plugin, sys; print("mmdet" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', probe], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == 'True'  # the plug-in registers into mmdet's world
