"""How far colour alone gets on a class-folder data set (ImageNet layout):
nearest-centroid top-1 on per-image colour histograms, trained on
``ROOT/train`` and scored on ``ROOT/val``, beside chance. On honest data it
stays near chance while the models learn.

    python tools/analysis_tools/shortcut_baseline.py ROOT [--bins 4]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
from mmbnn.datasets.shortcuts import colour_baseline  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('root', help='holds train/<class>/ and val/<class>/')
    parser.add_argument('--bins', type=int, default=4,
                        help='histogram levels per RGB channel (bins^3 cells)')
    args = parser.parse_args(argv)
    try:
        result = colour_baseline(os.path.join(args.root, 'train'),
                                 os.path.join(args.root, 'val'), args.bins)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f'error: {err}')
    print(f'colour-histogram nearest centroid: top-1 '
          f'{100 * result["colour_top1"]:.1f}% (chance '
          f'{100 * result["chance"]:.1f}%; {result["num_classes"]} classes, '
          f'{result["num_train"]} training and {result["num_val"]} validation '
          'images)')
    print(json.dumps(result))


if __name__ == '__main__':
    main()
