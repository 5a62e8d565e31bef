"""The built-in demo: generate the VOC-format scenes if absent, train the demo
SSD, evaluate it with VOC mAP and draw its detections.

    python tools/demo.py [--work-dir work_dirs/demo] [--data-root data/synthetic]
"""
import argparse
import os
import os.path as osp
import re
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

CONFIG = osp.join('configs', 'demo', 'ssd192_vgg16-w0.25_fp_synthvoc.py')
# The generated set the demo trains on: VOC2007 trainval + VOC2012 trainval
# for training, VOC2007 test for evaluation.
DATA = dict(num_trainval=300, num_test=150, num_trainval_2012=100,
            image_size=240, num_classes=6, seed=0)


def stream(cmd):
    """Run a command, echoing its output; return the output."""
    print('$', ' '.join(cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line)
    if proc.wait() != 0:
        sys.exit(f'demo step failed (exit {proc.returncode}): {" ".join(cmd)}')
    return ''.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'demo'))
    parser.add_argument('--data-root', default=osp.join('data', 'synthetic'))
    parser.add_argument('--epochs', type=int, default=None,
                        help="training epochs (default: the config's)")
    args = parser.parse_args(argv)

    timings = {}
    start = time.time()
    voc = osp.join(args.data_root, 'VOCdevkit')
    if not osp.isfile(osp.join(voc, 'VOC2012', 'ImageSets', 'Main',
                               'trainval.txt')):
        from mmbnn.datasets import generate_voc
        print(f'generating the demo data set under {voc} ...', flush=True)
        generate_voc(args.data_root, **DATA)
    timings['data'] = time.time() - start

    common = ['--work-dir', args.work_dir, '--data-root', osp.join(voc, '')]
    options = [] if args.epochs is None else [
        '--cfg-options', f'train_cfg.max_epochs={args.epochs}']
    start = time.time()
    stream([sys.executable, osp.join('tools', 'train.py'), CONFIG, *common,
            *options])
    timings['train'] = time.time() - start
    with open(osp.join(ROOT, args.work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()

    start = time.time()
    out = stream([sys.executable, osp.join('tools', 'test.py'), CONFIG,
                  checkpoint, *common, '--show-dir', 'detections'])
    timings['test'] = time.time() - start
    found = re.findall(r'^pascal_voc/mAP: ([0-9.]+)$', out, re.M)
    drawn = re.findall(r'^drawn detections: (.+)$', out, re.M)

    print('\n' + '=' * 64)
    print(f'mmbnn demo: {CONFIG}')
    print(f'{"model":<36}{"VOC07 mAP@0.5 (11-point)":>28}')
    print(f'{"SSD192 VGG16-w0.25, full precision":<36}'
          f'{float(found[-1]) if found else float("nan"):>28.4f}')
    print('time: ' + ', '.join(f'{k} {v:.0f} s' for k, v in timings.items()))
    print(f'checkpoint: {checkpoint}')
    if drawn:
        print(f'drawn detections: {drawn[-1]}')
    print('=' * 64)


if __name__ == '__main__':
    main()
