"""The package's floors (docs/package_map.md): imports run only downward, no
two modules import each other, and the maths is mm-free."""
import os.path as osp
import subprocess
import sys

from conftest import ROOT


def test_import_contracts_hold():
    """.importlinter's three contracts, checked by import-linter on the
    source (floors, no circles at any depth, mmbnn.ops without mm). In
    its own interpreter: import-linter's CLI calls logging.config.dictConfig,
    which closes every logging handler of the process it runs in (mmengine's
    current log file among them, which a later test's init_weights writes
    to)."""
    lint = ('import sys; from importlinter.cli import lint_imports; '
            'sys.exit(lint_imports(config_filename=sys.argv[1], '
            'no_cache=True, no_logo=True))')
    result = subprocess.run(
        [sys.executable, '-c', lint, osp.join(ROOT, '.importlinter')],
        capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, (
        'lint-imports found a broken contract:\n' + result.stdout[-3000:])


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
