from .bireal_resnet import BiRealResNet
from .reactnet import ReActNetA
from .ssd_vgg import SSDVGGBN
from .vgg_small import VGGSmall

__all__ = ['BiRealResNet', 'ReActNetA', 'SSDVGGBN', 'VGGSmall']
