"""tools/analysis_tools/bnn_summary.py on a config."""
from conftest import ROOT, tool


def test_summary_tool_on_the_binary_ssd300_config():
    result = tool('analysis_tools/bnn_summary.py', f'{ROOT}/configs/bnn_ssd300_voc.py')
    out = result.stdout
    assert 'backbone.layers.conv1_1.conv' in out  # the real stem is listed
    compression = float(out.split('compression vs all-float32: ')[1].split('x')[0])
    fraction = float(out.split('binary MACs: ')[1].split('%')[0])
    # Real stem, BN and head keep the compression well below 32x.
    assert 3 < compression < 32 and 80 < fraction < 100
