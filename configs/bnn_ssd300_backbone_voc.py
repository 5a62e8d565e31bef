# As bnn_ssd300_voc.py with only the backbone binarized (the BiBench
# convention): the SSD extra layers (neck) are real-valued.
_base_ = ['./bnn_ssd300_voc.py']
binarized = 'backbone'
model = dict(neck=dict(conv_cfg=None, act_cfg=dict(_delete_=True, type='ReLU')))
