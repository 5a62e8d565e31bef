from .bireal_resnet import BiRealResNet
from .ssd_vgg import SSDVGGBN
from .vgg_small import VGGSmall

__all__ = ['BiRealResNet', 'SSDVGGBN', 'VGGSmall']
