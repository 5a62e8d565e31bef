"""The AdamBNN paper's diagnostic figures for a run's ``bnn_diagnostics.json``."""
import math
import os.path as osp
from typing import Dict

import numpy as np


def _figure_to_array(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def plot_diagnostics(summary: dict, out_dir: str) -> Dict[str, np.ndarray]:
    """Write ``bnn_ff_ratio.png`` (FF per iteration and its epoch means),
    ``bnn_c2i.png`` (C2I per layer) and ``bnn_latent_weights.png`` (``|w|``
    histograms per layer) to ``out_dir``; return them as RGB arrays (for a
    visualizer's ``add_image``)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    images = {}
    names = list(summary['layers'])

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ff = summary['ff_ratio_per_iter']
    ax.plot(np.arange(1, len(ff) + 1), ff, lw=0.6, label='per iteration')
    epochs = summary['ff_ratio_per_epoch']
    if epochs and ff:
        per_epoch = len(ff) / len(epochs)
        ax.step(np.arange(1, len(epochs) + 1) * per_epoch, epochs, where='pre',
                lw=1.5, label='epoch mean')
    ax.set_xlabel('iteration')
    ax.set_ylabel('flip-flop ratio')
    ax.set_title(f'FF (mean {summary["ff_ratio_mean"]:.2e})')
    ax.legend()
    images['bnn_ff_ratio'] = _save(fig, out_dir, 'bnn_ff_ratio.png', plt)

    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(names)), 3.5))
    x = np.arange(len(names))
    ax.bar(x, [summary['layers'][n]['c2i'] for n in names], label='vs start')
    if 'c2i_first_step' in summary:
        ax.plot(x, [summary['layers'][n]['c2i_first_step'] for n in names],
                'k.', label='vs first step start')
    ax.set_xticks(x, names, rotation=90, fontsize=6)
    ax.set_ylim(0, 1)
    ax.set_ylabel('C2I = 1 - p')
    ax.set_title(f'C2I per binary layer (all: {summary["c2i"]:.4f})')
    ax.legend()
    images['bnn_c2i'] = _save(fig, out_dir, 'bnn_c2i.png', plt)

    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.2 * rows),
                             squeeze=False)
    for ax, name in zip(axes.flat, names):
        hist = summary['layers'][name]['abs_latent_histogram']
        edges = np.asarray(hist['edges'])
        ax.bar(edges[:-1], hist['counts'], width=np.diff(edges), align='edge')
        ax.set_title(name, fontsize=6)
        ax.tick_params(labelsize=5)
    for ax in list(axes.flat)[len(names):]:
        ax.axis('off')
    fig.suptitle('latent weights |w| per binary layer')
    images['bnn_latent_weights'] = _save(fig, out_dir,
                                         'bnn_latent_weights.png', plt)
    return images


def _save(fig, out_dir, name, plt):
    fig.tight_layout()
    fig.savefig(osp.join(out_dir, name), dpi=110)
    image = _figure_to_array(fig)
    plt.close(fig)
    return image
