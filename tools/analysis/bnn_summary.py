"""Print binary vs full-precision parameters, memory, compression and the
fraction of binary MACs of a config's model, per layer and in total.

    python tools/analysis/bnn_summary.py CONFIG [--shape H W]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
from mmbnn.analysis import summarize  # noqa: E402
from mmbnn.utils.config import load_config  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, default=None,
                        metavar=('H', 'W'),
                        help="input size (default: the config's input_size, "
                        'else 300 x 300)')
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    model = MODELS.build(cfg.model).eval()
    size = tuple(args.shape or [cfg.get('input_size', 300)] * 2)
    from mmdet.structures import DetDataSample
    sample = DetDataSample(metainfo=dict(img_shape=size, ori_shape=size,
                                         pad_shape=size, scale_factor=(1., 1.)))
    summary = summarize(model, torch.rand(1, 3, *size), [sample], mode='tensor')
    print(f'{args.config}  input 1x3x{size[0]}x{size[1]}')
    print(summary.format())
    return summary


if __name__ == '__main__':
    main()
