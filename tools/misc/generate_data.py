"""Write the built-in synthetic datasets in the real VOC / COCO / ImageNet layouts.

Examples:
    python tools/misc/generate_data.py voc --out data/synthetic
    python tools/misc/generate_data.py coco --out data/synthetic/coco --num-train 500
    python tools/misc/generate_data.py imagenet --out data/synthetic/imagenet
    python tools/misc/generate_data.py cifar10 --out data/synthetic/cifar10
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
from mmbnn.datasets.synthetic import generate  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('kind', choices=['voc', 'coco', 'imagenet', 'cifar10'])
    parser.add_argument('--out', required=True,
                        help='output root (VOC writes OUT/VOCdevkit/...)')
    parser.add_argument('--num-train', type=int, default=None,
                        help='training images (VOC: VOC2007 trainval; '
                        'ImageNet: per class)')
    parser.add_argument('--num-test', type=int, default=None,
                        help='test/val images (ImageNet: per class)')
    parser.add_argument('--num-train-2012', type=int, default=None,
                        help='VOC only: VOC2012 trainval images')
    parser.add_argument('--image-size', type=int, default=None,
                        help='typical image side in pixels')
    parser.add_argument('--num-classes', type=int, default=None,
                        help='classes used (the first N names of the format)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--no-progress', action='store_true')
    args = parser.parse_args(argv)

    names = dict(
        voc=dict(num_train='num_trainval', num_test='num_test',
                 num_train_2012='num_trainval_2012'),
        coco=dict(num_train='num_train', num_test='num_val'),
        imagenet=dict(num_train='num_train_per_class',
                      num_test='num_val_per_class'),
        cifar10=dict(num_train='num_train', num_test='num_test'))[args.kind]
    if args.kind != 'voc' and args.num_train_2012 is not None:
        parser.error('--num-train-2012 applies to voc only')
    kwargs = {target: getattr(args, arg) for arg, target in names.items()
              if getattr(args, arg) is not None}
    for arg in ('image_size', 'num_classes'):
        if getattr(args, arg) is not None:
            if args.kind == 'cifar10':
                parser.error(f'--{arg.replace("_", "-")}: CIFAR-10 is 32 px, '
                             '10 classes')
            kwargs[arg] = getattr(args, arg)
    start = time.time()
    written = generate(args.kind, args.out, seed=args.seed,
                       progress=not args.no_progress, **kwargs)
    print(f'wrote {written} under {args.out} in {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
