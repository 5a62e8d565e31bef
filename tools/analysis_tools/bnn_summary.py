"""Print binary vs full-precision parameters, memory, compression and the
fraction of binary MACs of a config's model (a detector or a classifier),
per layer and in total.

    python tools/analysis_tools/bnn_summary.py CONFIG [--shape H W]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
from mmbnn.analysis import summarize  # noqa: E402
from mmbnn.apis import init_model  # noqa: E402


def _input_size(cfg, shape):
    if shape:
        return tuple(shape)
    if cfg.get('input_size'):
        return (cfg.input_size, ) * 2
    # A classifier's pipelines crop (or resize) to its input size.
    for pipeline in ('test_pipeline', 'train_pipeline'):
        for step in reversed(cfg.get(pipeline, [])):
            for key in ('crop_size', 'scale'):
                size = step.get(key)
                if isinstance(size, int):
                    return (size, size)
                if isinstance(size, (tuple, list)) and len(size) == 2:
                    return (size[1], size[0])  # mm's scales are (w, h)
    return (300, 300)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, default=None,
                        metavar=('H', 'W'),
                        help="input size (default: the config's input_size, "
                        "else its pipelines' crop, else 300 x 300)")
    args = parser.parse_args(argv)
    model = init_model(args.config)
    size = _input_size(model.cfg, args.shape)
    inputs = [torch.rand(1, 3, *size)]
    if model.cfg.get('default_scope', 'mmdet') == 'mmdet':
        from mmdet.structures import DetDataSample
        inputs.append([DetDataSample(metainfo=dict(
            img_shape=size, ori_shape=size, pad_shape=size,
            scale_factor=(1., 1.)))])
    summary = summarize(model, *inputs, mode='tensor')
    print(f'{args.config}  input 1x3x{size[0]}x{size[1]}')
    print(summary.format())
    return summary


if __name__ == '__main__':
    main()
