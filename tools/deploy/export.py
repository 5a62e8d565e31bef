"""Export a trained BNN to a bit-packed ``.mmbnn`` file (docs/deploy.md).

    python tools/deploy/export.py CONFIG CHECKPOINT OUT [--fp16]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
import mmbnn.plugin  # noqa: E402,F401 (registration, compatibility fixes)
from mmbnn.apis import exit_on_user_error, init_model  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('out', help='the .mmbnn file to write')
    parser.add_argument('--fp16', action='store_true',
                        help='store the full-precision layers (stem, '
                        'shortcuts, heads, BN) in float16')
    args = parser.parse_args(argv)
    from mmbnn.deploy import export_model
    model = init_model(args.config, args.checkpoint)
    report = export_model(model, args.out, args.fp16, args.checkpoint)
    mb = 1 << 20
    print(f'wrote {args.out}: {report["file_bytes"] / mb:.2f} MB; the model\'s '
          f'float32 weights {report["fp32_state_bytes"] / mb:.2f} MB '
          f'({report["size_ratio"]:.1f}x smaller), the checkpoint file '
          f'{report["checkpoint_bytes"] / mb:.2f} MB '
          f'({report["checkpoint_ratio"]:.1f}x smaller)')
    return report


if __name__ == '__main__':
    exit_on_user_error(main)
