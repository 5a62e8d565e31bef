"""mmbnn: binary neural networks (DIR-Net, AdamBNN) as a plug-in for MMDetection 3.x."""
from setuptools import find_packages, setup

setup(
    name='mmbnn',
    version='0.1.0',
    description='Binary neural networks (DIR-Net IMB/DTE/RBD, AdamBNN) for MMDetection',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmbnn', 'mmbnn.*']),
    # The native library's sources, compiled on first use (mmbnn/ops/native.py).
    package_data={'mmbnn.ops': ['csrc/*.cpp', 'csrc/*.h']},
    python_requires='>=3.9',
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'mmcv>=2.0.0rc4,<2.2.0',  # mmdet 3.3.0 refuses mmcv >= 2.2.0
        'mmengine>=0.10.0,<1.0.0',
        'mmdet>=3.3.0,<3.4.0',
        'mmpretrain>=1.2.0,<1.3.0',  # classifiers, ImageNet/CIFAR data, Accuracy
        'pycocotools>=2.0.11',  # 2.0.9/2.0.10 raise KeyError: 'info'
        'setuptools<82',  # mmengine's config loader imports pkg_resources
        'numpy',
        'tqdm',
    ],
    extras_require={
        'tests': ['pytest>=7', 'pytest-timeout', 'pytest-xdist>=3.5',
                  'hypothesis>=6.100',
                  'import-linter>=2.1'],  # tests/test_layout.py
        # make mutation (docs/testing.md); not needed by make test or CI
        'dev': ['mutmut>=3.3,<4'],
    },
    license='Apache-2.0',
)
